"""The prompt library's one source of truth: built-in YAML templates plus user templates in the `prompts` table.

Override rule: built-ins are read-only. Saving under a built-in's name needs `overwrite=true` and creates a user
copy that shadows the built-in; deleting that copy brings the built-in back. Built-ins themselves cannot be
deleted. Import/export use the guide's YAML format (`name: {prompt, guidance_scale, steps, ...}`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from prompts.loader import (
    Template,
    TemplateError,
    builtin_templates,
    from_guide_entry,
    normalize_name,
    to_guide_entry,
)
from server.errors import UserError
from server.storage import Store, from_json, to_json, utc_now
from tools.training.trigger_words import COMMON_WORDS

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]{2,}")


def _name(raw: str) -> str:
    try:
        return normalize_name(raw)
    except TemplateError as exc:
        raise UserError(str(exc)) from exc


def _from_row(row: dict[str, Any]) -> Template:
    return Template.model_validate(
        {
            "name": row["name"],
            "description": row["description"],
            "template": row["template"],
            "variables": from_json(row.get("variables_json"), {}),
            "settings": from_json(row["settings_json"], {}),
            "tags": from_json(row.get("tags_json"), []),
            "model_name": row["model_name"],
            "model_version": row["model_version"],
            "source": "user",
            "overrides_builtin": row["name"] in builtin_templates(),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )


def user_templates(store: Store) -> dict[str, Template]:
    return {row["name"]: _from_row(row) for row in store.query("SELECT * FROM prompts ORDER BY name")}


def all_templates(store: Store) -> dict[str, Template]:
    """Built-ins overlaid with user templates (a user copy shadows the built-in of the same name)."""
    merged = dict(builtin_templates())
    merged.update(user_templates(store))
    return dict(sorted(merged.items()))


def get_template(store: Store, raw_name: str) -> Template:
    name = _name(raw_name)
    row = store.query_one("SELECT * FROM prompts WHERE name = ?", (name,))
    if row is not None:
        return _from_row(row)
    builtin = builtin_templates().get(name)
    if builtin is not None:
        return builtin
    import difflib

    names = list(all_templates(store))
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UserError(f"No prompt template named {name!r}.{hint} Available: {', '.join(names)}.")


def save_template(store: Store, template: Template, *, overwrite: bool) -> Template:
    """Insert or (with overwrite) replace a user template; see the module's override rule."""
    save_templates(store, [template], overwrite=overwrite)
    return get_template(store, template.name)


def save_templates(store: Store, templates: list[Template], *, overwrite: bool) -> None:
    """Save several templates in one transaction: all of them, or (on any refusal or failed write) none."""
    now = utc_now()
    with store.transaction() as conn:
        for template in templates:
            name = template.name
            existing = conn.execute("SELECT created_at FROM prompts WHERE name = ?", (name,)).fetchone()
            if not overwrite and (existing is not None or name in builtin_templates()):
                kind = "a built-in template" if existing is None else "a saved template"
                raise UserError(
                    f"{name!r} is already {kind}. Pick another name, or pass overwrite=true to replace it"
                    + (
                        " (your copy then shadows the built-in; deleting it restores the built-in)."
                        if existing is None
                        else "."
                    )
                )
            row = {
                "name": name,
                "template": template.template,
                "description": template.description,
                "settings_json": to_json(template.settings.model_dump(exclude_none=True)),
                "variables_json": to_json(template.variables),
                "tags_json": to_json(template.tags),
                "model_name": template.model_name,
                "model_version": template.model_version,
                "created_at": existing["created_at"] if existing is not None else now,
                "updated_at": now,
            }
            conn.execute(
                f"INSERT OR REPLACE INTO prompts ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})", row
            )


def delete_template(store: Store, raw_name: str) -> tuple[Template, bool]:
    """Delete a user template; returns it and whether a built-in of that name is visible again."""
    name = _name(raw_name)
    row = store.query_one("SELECT * FROM prompts WHERE name = ?", (name,))
    if row is None:
        if name in builtin_templates():
            raise UserError(
                f"{name!r} is a built-in template and cannot be deleted. Save your own version with overwrite=true "
                "if you want different wording."
            )
        get_template(store, name)  # raises the not-found error with suggestions
    deleted = _from_row(row)  # type: ignore[arg-type]
    store.execute("DELETE FROM prompts WHERE name = ?", (name,))
    return deleted, name in builtin_templates()


def export_yaml(templates: list[Template], trigger_word: str | None = None) -> str:
    """The guide's YAML; with a trigger word the prompts carry it in place of [trigger] (variables stay)."""
    import yaml

    document = {template.name: to_guide_entry(template, trigger_word) for template in templates}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def parse_import(
    text: str, trigger_word: str | None = None, trigger_of: Callable[[str], str | None] | None = None
) -> list[Template]:
    """Parse a library YAML; every bad entry is reported in one error.

    A prompt that spells out the trigger word instead of [trigger] gets the placeholder back: the word is
    `trigger_word`, else the trigger word of the model the entry names (`model:` key, looked up by `trigger_of`).
    """
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"The library file is not valid YAML ({_yaml_problem(exc)}).") from None
    if not isinstance(document, dict) or not document:
        raise UserError(
            "The library YAML must be a mapping of name → {prompt, guidance_scale, steps}, e.g.\n"
            "professional_headshot:\n  prompt: professional headshot of [trigger], studio lighting\n"
            "  guidance_scale: 3.5\n  steps: 28"
        )
    parsed, problems = [], []
    for name, entry in document.items():
        word = trigger_word
        if word is None and trigger_of is not None and isinstance(entry, dict) and entry.get("model"):
            word = trigger_of(str(entry["model"]))
        try:
            parsed.append(from_guide_entry(str(name), entry, word))
        except TemplateError as exc:
            problems.append(str(exc))
    if problems:
        hint = "" if trigger_word else _trigger_hint(document)
        raise UserError("Nothing was imported; fix these entries: " + " | ".join(problems) + hint)
    names = [t.name for t in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(f"Nothing was imported: entries {duplicates} name the same template after normalising.")
    return parsed


def _trigger_hint(document: dict[Any, Any]) -> str:
    """Name the word every placeholder-less prompt shares (likely the trigger word) when there is one."""
    prompts = [
        entry["prompt"]
        for entry in document.values()
        if isinstance(entry, dict) and isinstance(entry.get("prompt"), str) and "trigger" not in entry["prompt"]
    ]
    if len(prompts) < 2:
        return ""
    shared = set.intersection(*({w for w in _WORD.findall(p) if w.lower() not in COMMON_WORDS} for p in prompts))
    if len(shared) != 1:
        return ""
    return f" (every prompt contains {next(iter(shared))!r}: if that is the trigger word, pass trigger_word with it)"


def _yaml_problem(exc: Exception) -> str:
    """Where and what kind of YAML error, without quoting the text (which may be any file's secrets)."""
    mark = getattr(exc, "problem_mark", None)
    problem = re.sub(r"'[^']*'|\"[^\"]*\"", "…", str(getattr(exc, "problem", "") or "syntax error"))
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def same_content(a: Template, b: Template) -> bool:
    keys = {"template", "description", "variables", "settings", "tags", "model_name", "model_version"}
    return a.model_dump(include=keys) == b.model_dump(include=keys)
