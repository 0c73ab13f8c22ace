"""Render a prompt template for a model: its trigger word filled in, its settings as fal input."""

from __future__ import annotations

from typing import Any

from prompts.loader import Template, TemplateError, render, render_motion
from server.errors import UserError
from server.state import AppState
from tools.library.results import Rendered
from tools.models import registry


def render_for(
    state: AppState,
    template: Template,
    *,
    model: str | None,
    trigger_word: str | None,
    values: dict[str, Any] | None,
) -> Rendered:
    """Render `template` with the trigger word of `model` (or the template's own model) or an explicit one."""
    ref = model or (
        f"{template.model_name}@v{template.model_version}"
        if template.model_name and template.model_version is not None
        else template.model_name
    )
    version = registry.find(state.store, ref) if ref else None
    word = trigger_word or (version.trigger_word if version else None)
    if not word:
        hint = f"{ref!r} is not a registered model, so " if ref else ""
        raise UserError(
            f"{hint}no trigger word is known: pass model=<registered model name> (its trigger word is used) or "
            "trigger_word=<word>."
        )
    try:
        prompt = render(template, word, values)
        motion = render_motion(template, word, values)
    except TemplateError as exc:
        raise UserError(str(exc)) from exc
    return Rendered(
        prompt=prompt,
        trigger_word=word,
        model=ref,
        input_params={"prompt": prompt, **template.settings.as_input()},
        lora_scale=template.settings.lora_scale,
        motion_prompt=motion,
    )
