"""Prompt templates: the data model, placeholder rules, rendering and the built-in set shipped as YAML.

A template is text with a `{trigger}` placeholder (the model's trigger word) and named variables such as
`{outfit}`; `variables` maps each variable to its default (None = the caller must give a value).
The guide's `[trigger]` spelling is accepted on input and stored as `{trigger}` — one canonical form.
A video scenario also has `settings.motion_prompt`: the template makes the still, the motion prompt animates it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TRIGGER = "trigger"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_GUIDE_TRIGGER = re.compile(r"\[trigger\]", re.IGNORECASE)
_NAME_SEPARATORS = re.compile(r"[\s_]+")
# Faces are taller than wide: fal's FLUX endpoints default to landscape_4_3, which crops a headshot badly.
_PORTRAIT_SCENARIO = re.compile(r"headshot|profile|portrait|avatar")
PORTRAIT_SIZE = "portrait_4_3"


class TemplateError(ValueError):
    """A template or a render request is invalid; the message says what to change."""


class TemplateSettings(BaseModel):
    """Endpoint-agnostic generation settings a template recommends (execute_custom_model maps them)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first use, not at the server's start

    guidance_scale: float | None = Field(default=None, ge=0, le=20)
    num_inference_steps: int | None = Field(default=None, ge=1, le=150)
    image_size: str | dict[str, int] | None = Field(
        default=None, description="Preset (square_hd, portrait_4_3, landscape_16_9, ...) or {width, height}."
    )
    num_images: int | None = Field(default=None, ge=1, le=8)
    lora_scale: float | None = Field(default=None, ge=0, le=4)
    # A video scenario: the template makes the still, this motion prompt animates it ({trigger} allowed).
    motion_prompt: str | None = Field(default=None, min_length=3, max_length=2000)
    duration_seconds: float | None = Field(default=None, gt=0, le=60)

    def as_input(self) -> dict[str, Any]:
        """The settings that go into an image inference request (the LoRA scale and video settings travel apart)."""
        return {k: v for k, v in self.model_dump(exclude=_NOT_IMAGE_INPUT).items() if v is not None}


_NOT_IMAGE_INPUT = {"lora_scale", "motion_prompt", "duration_seconds"}


class Template(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use, not at the server's start

    name: str
    description: str = ""
    template: str = Field(description="Prompt text with {trigger} and {variable} placeholders.")
    variables: dict[str, str | None] = Field(
        default_factory=dict, description="Variable → default value (null: the caller must supply it)."
    )
    settings: TemplateSettings = Field(default_factory=TemplateSettings)
    tags: list[str] = Field(default_factory=list)
    model_name: str | None = Field(default=None, description="Model this template was tuned for, if any.")
    model_version: int | None = None
    source: str = Field(default="user", description="builtin | user")
    overrides_builtin: bool = Field(default=False, description="A user template shadowing a built-in of that name.")
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def required_variables(self) -> list[str]:
        return [name for name, default in self.variables.items() if default is None]

    @property
    def is_video(self) -> bool:
        return self.settings.motion_prompt is not None


def normalize_name(raw: str) -> str:
    """`Professional_Headshot` and `professional headshot` both name `professional-headshot`."""
    name = _NAME_SEPARATORS.sub("-", raw.strip().lower())
    if not NAME.match(name):
        raise TemplateError(
            f"Invalid template name {raw!r}: use 1-64 letters, digits, '-' or '_', e.g. professional-headshot."
        )
    return name


def canonical_text(text: str) -> str:
    """The guide's `[trigger]` becomes `{trigger}`; surrounding whitespace is dropped."""
    return _GUIDE_TRIGGER.sub("{" + TRIGGER + "}", text).strip()


def placeholders(text: str) -> list[str]:
    """Variable names used in `text`, in order of first use, without the trigger."""
    seen: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1).lower()
        if name != TRIGGER and name not in seen:
            seen.append(name)
    return seen


def build_template(
    *,
    name: str,
    template: str,
    description: str = "",
    variables: dict[str, Any] | None = None,
    settings: dict[str, Any] | TemplateSettings | None = None,
    tags: list[str] | None = None,
    model_name: str | None = None,
    model_version: int | None = None,
    source: str = "user",
) -> Template:
    """Validate and normalise a template; every problem is reported at once."""
    text = canonical_text(template)
    problems: list[str] = []
    if not text:
        problems.append("the template text is empty")
    if "{" + TRIGGER + "}" not in PLACEHOLDER.sub(lambda m: "{" + m.group(1).lower() + "}", text):
        problems.append(
            "it must contain {trigger} (or [trigger]) where the model's trigger word goes; a prompt written with "
            "the word itself (e.g. SIDAI) is converted when the import is given model=<model> or trigger_word=SIDAI"
        )
    text = PLACEHOLDER.sub(lambda m: "{" + m.group(1).lower() + "}", text)
    used = placeholders(text)
    declared = {str(k).lower(): (None if v is None else str(v)) for k, v in (variables or {}).items()}
    unused = sorted(set(declared) - set(used))
    if unused:
        problems.append(f"variables {unused} are declared but not used in the text; add {{name}} or remove them")
    if TRIGGER in declared:
        problems.append("'trigger' is reserved for the model's trigger word; it cannot be a variable")
    try:
        parsed = settings if isinstance(settings, TemplateSettings) else TemplateSettings.model_validate(settings or {})
    except ValueError as exc:
        allowed = ", ".join(TemplateSettings.model_fields)
        problems.append(f"invalid settings ({_first_line(exc)}); allowed keys: {allowed}")
        parsed = TemplateSettings()
    if parsed.motion_prompt is not None:
        motion = PLACEHOLDER.sub(lambda m: "{" + m.group(1).lower() + "}", canonical_text(parsed.motion_prompt))
        strangers = sorted(set(placeholders(motion)) - set(used))
        if strangers:
            problems.append(f"the motion prompt uses {strangers}, which the template text does not; use them there")
        parsed = parsed.model_copy(update={"motion_prompt": motion})
    if problems:
        raise TemplateError(f"Template {name!r} is invalid: " + "; ".join(problems) + ".")
    name = normalize_name(name)
    if parsed.image_size is None and _PORTRAIT_SCENARIO.search(name):
        parsed = parsed.model_copy(update={"image_size": PORTRAIT_SIZE})
    return Template(
        name=name,
        description=description.strip(),
        template=text,
        variables={var: declared.get(var) for var in used},
        settings=parsed,
        tags=sorted({tag.strip().lower() for tag in tags or [] if tag.strip()}),
        model_name=model_name,
        model_version=model_version,
        source=source,
    )


def render(template: Template, trigger_word: str, values: dict[str, Any] | None = None) -> str:
    """Fill the placeholders. Missing required variables and unknown names are errors (typos caught early)."""
    given = {str(k).lower(): v for k, v in (values or {}).items()}
    unknown = sorted(set(given) - set(template.variables))
    if unknown:
        known = ", ".join(template.variables) or "none"
        raise TemplateError(
            f"Template {template.name!r} has no variable(s) {unknown}; its variables are: {known}. "
            "Put extra wording into a variable's value instead."
        )
    missing = [name for name in template.required_variables if given.get(name) in (None, "")]
    if missing:
        raise TemplateError(
            f"Template {template.name!r} needs values for {missing} (no defaults). Pass them as "
            f"variables, e.g. {{{', '.join(repr(m) + ': ...' for m in missing)}}}."
        )
    if not trigger_word.strip():
        raise TemplateError("The trigger word is empty; pass the model (its trigger word is used) or trigger_word.")
    filled = {**{k: v or "" for k, v in template.variables.items()}, **{k: str(v) for k, v in given.items()}}
    filled[TRIGGER] = trigger_word.strip()
    text = PLACEHOLDER.sub(lambda m: filled.get(m.group(1).lower(), m.group(0)), template.template)
    return _tidy(text)


def render_motion(template: Template, trigger_word: str, values: dict[str, Any] | None = None) -> str | None:
    """A video scenario's motion prompt, filled like its text; None for an image template."""
    if template.settings.motion_prompt is None:
        return None
    return render(template.model_copy(update={"template": template.settings.motion_prompt}), trigger_word, values)


def _tidy(text: str) -> str:
    """Empty optional variables must not leave ', ,' or double spaces behind."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s*,(\s*,)+", ",", text)
    text = re.sub(r"\s+,", ",", text)
    return text.strip(" ,")


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[1:3]) if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)


# --- the built-in set -------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def builtin_templates() -> dict[str, Template]:
    """Every `prompts/templates/*.yaml`, validated; a broken shipped file is a bug, so it raises."""
    from importlib.resources import files

    import yaml

    found: dict[str, Template] = {}
    for entry in sorted(files("prompts").joinpath("templates").iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(entry.read_text(encoding="utf-8"))
        template = build_template(
            name=data["name"],
            template=data["template"],
            description=data.get("description", ""),
            variables=data.get("variables"),
            settings=data.get("settings"),
            tags=data.get("tags"),
            source="builtin",
        )
        if template.name in found:
            raise TemplateError(f"Built-in template {template.name!r} is defined twice.")
        found[template.name] = template
    return found


# --- the guide's YAML library format -----------------------------------------------------------------------------

GUIDE_KEYS = {"prompt", "guidance_scale", "steps", "num_inference_steps", "description", "variables", "image_size"}
GUIDE_KEYS |= {"num_images", "lora_scale", "tags", "model", "model_version", "motion_prompt", "duration_seconds"}


def to_guide_entry(template: Template, trigger_word: str | None = None) -> dict[str, Any]:
    """`name: {prompt, guidance_scale, steps, ...}` — the guide's keys first, our extras after.

    With a trigger word the prompt carries it in place of the placeholder, as the guide writes prompts.
    """
    text = template.template.replace("{" + TRIGGER + "}", trigger_word.strip()) if trigger_word else None
    entry: dict[str, Any] = {"prompt": text or guide_text(template.template)}
    settings = template.settings
    if settings.guidance_scale is not None:
        entry["guidance_scale"] = settings.guidance_scale
    if settings.num_inference_steps is not None:
        entry["steps"] = settings.num_inference_steps
    if template.description:
        entry["description"] = template.description
    if template.variables:
        entry["variables"] = dict(template.variables)
    for key in ("image_size", "num_images", "lora_scale", "duration_seconds"):
        value = getattr(settings, key)
        if value is not None:
            entry[key] = value
    if settings.motion_prompt is not None:
        entry["motion_prompt"] = guide_text(settings.motion_prompt)
    if template.tags:
        entry["tags"] = list(template.tags)
    if template.model_name:
        entry["model"] = template.model_name
        if template.model_version is not None:
            entry["model_version"] = template.model_version
    return entry


def guide_text(text: str) -> str:
    """The inverse of canonical_text: the guide writes the trigger as [trigger]."""
    return text.replace("{" + TRIGGER + "}", "[trigger]")


def with_placeholder(text: str, trigger_word: str | None) -> str:
    """A prompt written with the trigger word itself (the guide's "Photo of SIDAI, ...") gets `{trigger}` there.

    Text that already has a placeholder is left alone; so is text without the word (build_template reports it).
    """
    if not trigger_word or "{" + TRIGGER + "}" in canonical_text(text).lower():
        return text
    word = re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(trigger_word.strip())}(?![A-Za-z0-9_-])", re.IGNORECASE)
    return word.sub("{" + TRIGGER + "}", text)


def from_guide_entry(name: str, entry: Any, trigger_word: str | None = None) -> Template:
    if isinstance(entry, str):
        entry = {"prompt": entry}
    if not isinstance(entry, dict):
        raise TemplateError(f"Entry {name!r} must be a mapping with at least a 'prompt' key.")
    unknown = sorted(set(entry) - GUIDE_KEYS)
    if unknown:
        raise TemplateError(f"Entry {name!r} has unknown keys {unknown}; known keys: {sorted(GUIDE_KEYS)}.")
    if not isinstance(entry.get("prompt"), str):
        raise TemplateError(f"Entry {name!r} needs a 'prompt' text.")
    steps = entry.get("steps", entry.get("num_inference_steps"))
    settings = {
        "guidance_scale": entry.get("guidance_scale"),
        "num_inference_steps": steps,
        "image_size": entry.get("image_size"),
        "num_images": entry.get("num_images"),
        "lora_scale": entry.get("lora_scale"),
        "motion_prompt": entry.get("motion_prompt"),
        "duration_seconds": entry.get("duration_seconds"),
    }
    return build_template(
        name=name,
        template=with_placeholder(entry["prompt"], trigger_word),
        description=str(entry.get("description") or ""),
        variables=entry.get("variables"),
        settings={k: v for k, v in settings.items() if v is not None},
        tags=entry.get("tags"),
        model_name=entry.get("model"),
        model_version=entry.get("model_version"),
    )
