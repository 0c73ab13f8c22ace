"""The texts of the workflow prompts (prompts/workflows.py): each names the tools to call, in order, with the
arguments filled in. Arguments arrive as strings; each is checked here, and a bad one raises PromptArgumentError
naming it and saying what to give instead. The template library is read only when a text needs it.
"""

import re
from pathlib import Path

from server.errors import InvalidInput, UserError

GUIDE_SCENARIOS = ("professional-headshot", "casual-outdoor", "youtube-thumbnail")
MAX_IMAGES = 8
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PromptArgumentError(InvalidInput):
    """A prompt argument the host should correct (the MCP edge sends it as JSON-RPC invalid params)."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


def _model_name(raw: str) -> str:
    name = raw.strip()
    if name and not _MODEL_NAME.match(name):
        raise PromptArgumentError(
            "model_name", f"{raw!r} is not a model name; use letters, digits, '.', '_' or '-' (e.g. sid-custom-model)."
        )
    return name


def _folder(raw: str) -> str:
    folder = raw.strip()
    if folder and not Path(folder).expanduser().is_dir():
        raise PromptArgumentError(
            "photos_folder", f"{folder!r} is not a folder on this machine; give the full path of the photo folder."
        )
    return folder


def _trigger(raw: str) -> str:
    from tools.training.trigger_words import check_trigger_word

    word = raw.strip()
    if word:
        try:
            check_trigger_word(word)
        except UserError as exc:
            raise PromptArgumentError("trigger_word", str(exc)) from None
    return word


def _versions(raw: str) -> list[int]:
    parts = [part.strip().lstrip("vV") for part in raw.split(",") if part.strip()]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise PromptArgumentError(
            "versions", f"{raw!r} must be comma-separated version numbers, e.g. '1,2' or 'v1,v2'."
        )
    return list(dict.fromkeys(int(part) for part in parts))


def _scenario(raw: str, argument: str) -> str:
    from prompts.loader import TemplateError, normalize_name

    try:
        return normalize_name(raw)
    except TemplateError:
        raise PromptArgumentError(
            argument, f"{raw!r} is not a template name; e.g. {', '.join(GUIDE_SCENARIOS)}."
        ) from None


def _count(raw: str) -> int:
    text = raw.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_IMAGES:
        raise PromptArgumentError("count", f"{raw!r} must be a whole number from 1 to {MAX_IMAGES}.")
    return int(text)


def _model_line(model_name: str) -> str:
    if model_name.strip():
        return f"The model is {model_name.strip()!r}."
    return "No model name was given: read the fal-video://models resource and ask me which model to use."


def train_my_model_text(model_name: str, photos_folder: str, trigger_word: str) -> str:
    model_name, photos_folder, trigger_word = _model_name(model_name), _folder(photos_folder), _trigger(trigger_word)
    name = model_name or "<ask me for a short model name, e.g. sid-custom-model>"
    folder = photos_folder.strip() or "<ask me for the folder with 10-30 photos of me>"
    trigger = trigger_word.strip() or "<a rare token such as 'sidx'; suggest one and confirm>"
    return f"""Train a personal image model of me on fal.ai with the fal-video tools.

1. prepare_dataset(folder={folder!r}, trigger_word={trigger!r}); if it answers status 'running', follow it with
   dataset_status(run_id) until done. Read the report: show me the rejected and
   warned photos and the advice. If fewer than 10 good photos remain, stop and tell me what photos to add
   (different angles, lighting, expressions, backgrounds; no sunglasses, no group shots).
2. start_training(dataset=<the dataset id>, model_name={name!r}, trigger_word={trigger!r}, dry_run=true) and tell
   me the estimated cost; only after I confirm, call it again without dry_run and give me the training id.
3. Poll training_status(training_id) every minute or so; report queue position, progress and ETA. Do not start
   a second training for the same dataset while one runs.
4. When it completes the model is registered as {name} v<N>. Then run the "test_my_model" workflow: a
   quality_matrix run_suite with the guide's scenarios ({", ".join(GUIDE_SCENARIOS)}).
"""


def test_my_model_text(model_name: str, versions: str, scenarios: str) -> str:
    model_name = _model_name(model_name)
    chosen = [_scenario(s, "scenarios") for s in scenarios.split(",") if s.strip()] or list(GUIDE_SCENARIOS)
    version_list = _versions(versions)
    version_arg = f"versions={version_list}, " if version_list else ""
    return f"""Test my personal model and fill in its quality matrix. {_model_line(model_name)}

1. quality_matrix(action="run_suite", model=<model>, {version_arg}scenarios={chosen}, seeds=[1, 2],
   include_baseline=true, dry_run=true): tell me the image count and cost; after I confirm, run it without
   dry_run. It generates every scenario × seed (× version) and returns a labelled contact sheet.
   If it answers with pending generations, call quality_matrix(action="suite_status", suite_id=...) until done.
2. Look at the contact sheet. For each scenario and version, score quality 1-10 (sharpness, anatomy, lighting,
   artefacts) and likeness 1-10 (does it look like me? compare with the no-LoRA baseline column) and record them
   in one call: quality_matrix(action="record", model=<model>@v<N>, scores=[{{scenario, quality, likeness, notes}}]).
   If the likeness extra is installed, quality_matrix(action="likeness", suite_id=...) fills likeness objectively.
3. With two or more versions, quality_matrix(action="compare", model=<model>) and tell me which version to keep
   as default and why; pin it with make_default=true only after I agree.
4. Suggest template tweaks (prompt_library save) for scenarios that scored below 6.
"""


def create_images_text(model_name: str, scenario: str, count: str, details: str) -> str:
    from prompts.loader import builtin_templates

    model_name = _model_name(model_name)
    names = sorted(builtin_templates())
    wanted = _scenario(scenario, "scenario") if scenario.strip() else "professional-headshot"
    known = wanted in names
    images = _count(count)
    extra = f" Wishes for the images: {details.strip()}." if details.strip() else ""
    template_line = (
        f'prompt_library(action="get", name={wanted!r}) to see its variables and settings.'
        if known
        else f"{wanted!r} is not a built-in template (built-ins: {', '.join(names)}). Run prompt_library(action="
        '"list") to check saved ones; if none fits, write a prompt with {trigger} and save it with action="save".'
    )
    return f"""Create {images} {wanted} image(s) of me with my personal model. {_model_line(model_name)}{extra}

1. {template_line}
2. prompt_library(action="render", name={wanted!r}, model=<model>, values={{...}}) and show me the prompt;
   map my wishes onto the template's variables rather than rewriting the prompt.
3. prompt_library(action="run", name={wanted!r}, model=<model>, values={{...}},
   input_params={{"num_images": {images}}}). If it is still running, poll generation_status(generation_id).
4. Show me the previews and file paths. Ask me to score quality and likeness 1-10 and record them with
   quality_matrix(action="record", model=<model>, scores=[...]) so the library learns which prompts work.
"""


def make_video_text(model_name: str, motion: str, scenario: str) -> str:
    from prompts.loader import builtin_templates

    model_name = _model_name(model_name)
    videos = sorted(name for name, template in builtin_templates().items() if template.is_video)
    wanted = _scenario(scenario, "scenario") if scenario.strip() else ""
    if wanted and wanted not in videos:
        if not motion.strip():
            raise PromptArgumentError(
                "scenario", f"{scenario!r} is not a video scenario; the video scenarios: {', '.join(videos)}."
            )
        wanted = ""  # the motion wish says what to do
    what = (
        f"the {wanted!r} scenario (its still prompt and motion prompt)"
        if wanted
        else f"my motion wish: {motion.strip()!r}"
        if motion.strip()
        else f"a motion prompt you ask me for (or one of the video scenarios: {', '.join(videos)})"
    )
    scenario_arg = f"scenario={wanted!r}" if wanted else "prompt=<the motion prompt>"
    return f"""Make a short video of me with my personal model. {_model_line(model_name)} Use {what}.

1. list_models(name=<model>) to check it is registered. If I have no model yet, run the "train_my_model"
   workflow first: a video of me starts from a still of me.
2. video(start=<model>, {scenario_arg}, dry_run=true). Tell me the image-to-video endpoint it picked, the clip
   length, the estimated cost (per second and in total; say so when fal's price is an assumption) and the still
   prompt. Offer the choices the endpoint's schema allows (duration_seconds, aspect_ratio, resolution) and ask
   me to confirm. A refusal names its fix (another length, another endpoint, a smaller still): follow it.
3. After I confirm, the same call without dry_run. It first makes a still with my model's LoRA, then animates
   it; it answers with a video id at once. Follow it with video(video_id=..., wait_seconds=30) until completed;
   clips take a few minutes. An identical call while the clip is on its way joins it and pays nothing more.
4. Show me the poster-and-strip preview, the duration, fps and resolution, and give me the local file path.
   If the motion is wrong, reword the motion prompt and animate the same still again with
   video(start=<the still's generation id>, prompt=...) rather than making a new still.
"""
