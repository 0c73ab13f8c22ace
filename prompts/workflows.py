"""MCP prompts (the protocol's prompts capability): step-by-step workflows an agent can start from.

Each prompt returns one user message (its text: prompts/workflow_texts.py). Every argument has a default,
because a missing required prompt argument is a protocol error, not advice. A bad argument (or an unknown name)
is refused with a JSON-RPC invalid-params error that names it and says what to give instead. Prompts are built
straight from their signatures: the SDK's `Prompt.from_function` would build a pydantic model per prompt at start
for arguments that are all optional strings.
"""

import inspect
from collections.abc import Callable
from typing import Annotated, Any, get_args

from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver import Message, UserMessage
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.prompts.base import PromptArgument
from mcp.types import INVALID_PARAMS
from pydantic import Field
from pydantic.fields import FieldInfo

from prompts import workflow_texts as texts
from prompts.workflow_texts import MAX_IMAGES

ModelName = Annotated[str, Field(description="Registered model name, e.g. sid-custom-model (empty: ask).")]


class InvalidPromptArgument(MCPError):
    """A prompt argument the host should correct; sent as JSON-RPC invalid params."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(INVALID_PARAMS, f"Invalid prompt argument {argument}: {message}", {"argument": argument})


def _prompt(fn: Callable[..., list[Message]], title: str) -> Prompt:
    """The prompt for `fn`: its arguments (name and description) from the signature; unknown names and bad values
    are refused as invalid params, naming the argument."""
    parameters = inspect.signature(fn).parameters
    valid = list(parameters)

    def checked(**arguments: Any) -> list[Message]:
        unknown = sorted(set(arguments) - set(valid))
        if unknown:
            raise InvalidPromptArgument(
                unknown[0], f"{fn.__name__} has no argument {unknown[0]!r}; its arguments are: {', '.join(valid)}."
            )
        try:
            return fn(**arguments)
        except texts.PromptArgumentError as exc:
            raise InvalidPromptArgument(exc.argument, exc.message) from None

    return Prompt(
        name=fn.__name__,
        title=title,
        description=fn.__doc__ or "",
        arguments=[PromptArgument(name=name, description=_description(p.annotation)) for name, p in parameters.items()],
        fn=checked,
        context_kwarg=None,
    )


def _description(annotation: Any) -> str | None:
    infos = [arg for arg in get_args(annotation)[1:] if isinstance(arg, FieldInfo)]
    return infos[0].description if infos else None


def train_my_model(
    model_name: ModelName = "",
    photos_folder: Annotated[str, Field(description="Full path of the folder with 10-30 photos (empty: ask).")] = "",
    trigger_word: Annotated[
        str, Field(description="Rare one-word token for the person, e.g. SIDAI (empty: ask).")
    ] = "",
) -> list[Message]:
    """Prepare a photo dataset, train a LoRA on fal.ai and follow it to a registered model."""
    return [UserMessage(texts.train_my_model_text(model_name, photos_folder, trigger_word))]


def test_my_model(
    model_name: ModelName = "",
    versions: Annotated[
        str, Field(description="Comma-separated versions to compare, e.g. '1,2' (empty: newest).")
    ] = "",
    scenarios: Annotated[
        str, Field(description="Comma-separated template names, e.g. 'linkedin-profile,book-cover' (empty: guide's).")
    ] = "",
) -> list[Message]:
    """Run the quality matrix: scenarios × seeds (× versions), contact sheet, scores, comparison."""
    return [UserMessage(texts.test_my_model_text(model_name, versions, scenarios))]


def create_scenario_images(
    model_name: ModelName = "",
    scenario: Annotated[
        str, Field(description="Template name, e.g. professional-headshot, youtube-thumbnail, book-cover.")
    ] = "professional-headshot",
    count: Annotated[str, Field(description=f"How many images, 1-{MAX_IMAGES}.")] = "4",
    details: Annotated[str, Field(description="Wishes for the images, e.g. 'navy suit, outdoors'.")] = "",
) -> list[Message]:
    """Create images for one scenario from the prompt library with a personal model."""
    return [UserMessage(texts.create_images_text(model_name, scenario, count, details))]


def make_video_of_me(
    model_name: ModelName = "",
    motion: Annotated[str, Field(description="What should happen, e.g. 'waves hello' (empty: ask).")] = "",
    scenario: Annotated[
        str, Field(description="A video scenario: video-waving-greeting, video-talking-head-intro (empty: none).")
    ] = "",
) -> list[Message]:
    """Animate a still of me made with my personal model: pick the endpoint, show the cost, follow the job."""
    return [UserMessage(texts.make_video_text(model_name, motion, scenario))]


def register(server: MCPServer) -> None:
    server.add_prompt(_prompt(train_my_model, "Train my model"))
    server.add_prompt(_prompt(test_my_model, "Test my model"))
    server.add_prompt(_prompt(create_scenario_images, "Create scenario images"))
    server.add_prompt(_prompt(make_video_of_me, "Make a video of me"))
