"""MCP prompts (the protocol's prompts capability): step-by-step workflows an agent can start from.

Each prompt returns one user message that names the tools to call, in order, with the arguments filled in.
Every argument has a default, because a missing required prompt argument is a protocol error, not advice.
"""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.mcpserver import Message, UserMessage

from prompts.loader import builtin_templates

GUIDE_SCENARIOS = ("professional-headshot", "casual-outdoor", "youtube-thumbnail")


def _model_line(model_name: str) -> str:
    if model_name.strip():
        return f"The model is {model_name.strip()!r}."
    return "No model name was given: read the fal-video://models resource and ask me which model to use."


def train_my_model_text(model_name: str, photos_folder: str, trigger_word: str) -> str:
    name = model_name.strip() or "<ask me for a short model name, e.g. sid-custom-model>"
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
    chosen = [s.strip() for s in scenarios.split(",") if s.strip()] or list(GUIDE_SCENARIOS)
    version_list = [v.strip().lstrip("vV") for v in versions.split(",") if v.strip()]
    version_arg = f"versions={[int(v) for v in version_list if v.isdigit()]}, " if version_list else ""
    return f"""Test my personal model and fill in its quality matrix. {_model_line(model_name)}

1. quality_matrix(action="run_suite", model=<model>, {version_arg}scenarios={chosen}, seeds=[1, 2],
   include_baseline=true). It generates every scenario × seed (× version) and returns a labelled contact sheet.
   If it answers with pending generations, call quality_matrix(action="suite_status", suite_id=...) until done.
2. Look at the contact sheet. For each scenario and version, score quality 1-10 (sharpness, anatomy, lighting,
   artefacts) and likeness 1-10 (does it look like me? compare with the no-LoRA baseline column) and record them
   with quality_matrix(action="record", model=<model>@v<N>, scenario=..., quality=..., likeness=..., notes=...).
   If the likeness extra is installed, quality_matrix(action="likeness", suite_id=...) fills likeness objectively.
3. With two or more versions, quality_matrix(action="compare", model=<model>) and tell me which version to keep
   as default and why; pin it with make_default=true only after I agree.
4. Suggest template tweaks (prompt_library save) for scenarios that scored below 6.
"""


def create_images_text(model_name: str, scenario: str, count: str, details: str) -> str:
    names = sorted(builtin_templates())
    wanted = scenario.strip().lower().replace("_", "-").replace(" ", "-") or "professional-headshot"
    known = wanted in names
    try:
        images = max(1, min(int(count), 8))
    except ValueError:
        images = 4
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
   quality_matrix(action="record", ...) so the library learns which prompts work for this model.
"""


def make_video_text(model_name: str, motion: str, scenario: str) -> str:
    videos = sorted(name for name, template in builtin_templates().items() if template.is_video)
    wanted = scenario.strip().lower().replace("_", "-").replace(" ", "-")
    if wanted and wanted not in videos:
        wanted = ""
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
2. video(model=<model>, {scenario_arg}, dry_run=true). Tell me the image-to-video endpoint it picked, the clip
   length, the estimated cost (per second and in total; say so when fal's price is an assumption) and the still
   prompt. Offer the choices the endpoint's schema allows (duration_seconds, aspect_ratio, resolution) and ask
   me to confirm. A refusal names its fix (another length, another endpoint, a smaller still): follow it.
3. After I confirm, the same call without dry_run. It first makes a still with my model's LoRA, then animates
   it; it answers with a video id at once. Poll video_status(video_id) every 30 s or so until completed; clips
   take a few minutes. Never call video again for the same clip while one is running: that would pay twice.
4. Show me the poster-and-strip preview, the duration, fps and resolution, and give me the local file path.
   If the motion is wrong, reword the motion prompt and animate the same still again with
   video(generation_id=<the still's generation id>, prompt=...) rather than making a new still.
"""


def register(server: MCPServer) -> None:
    @server.prompt(name="train_my_model", title="Train my model")
    def train_my_model(model_name: str = "", photos_folder: str = "", trigger_word: str = "") -> list[Message]:
        """Walk through preparing a photo dataset, training a LoRA on fal.ai and watching it finish."""
        return [UserMessage(train_my_model_text(model_name, photos_folder, trigger_word))]

    @server.prompt(name="test_my_model", title="Test my model")
    def test_my_model(model_name: str = "", versions: str = "", scenarios: str = "") -> list[Message]:
        """Run the quality-testing matrix: scenarios × seeds (× versions), contact sheet, scores, comparison.

        versions and scenarios are comma-separated, e.g. versions="1,2", scenarios="linkedin-profile,book-cover".
        """
        return [UserMessage(test_my_model_text(model_name, versions, scenarios))]

    @server.prompt(name="create_scenario_images", title="Create scenario images")
    def create_scenario_images(
        model_name: str = "", scenario: str = "professional-headshot", count: str = "4", details: str = ""
    ) -> list[Message]:
        """Create images for one scenario (professional-headshot, youtube-thumbnail, book-cover, ...) from the
        prompt library with a personal model."""
        return [UserMessage(create_images_text(model_name, scenario, count, details))]

    @server.prompt(name="make_video_of_me", title="Make a video of me")
    def make_video_of_me(model_name: str = "", motion: str = "", scenario: str = "") -> list[Message]:
        """Animate a still of me made with my personal model: pick the endpoint, show the cost, follow the job.

        motion is what should happen ("waves hello"); scenario is a video scenario from the prompt library
        (video-waving-greeting, video-talking-head-intro).
        """
        return [UserMessage(make_video_text(model_name, motion, scenario))]
