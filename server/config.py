"""All configuration in one place: environment variables → one validated `Settings` object.

Nothing else in the project reads `os.environ` for its own settings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

APP_NAME = "fal-video-mcp"
SERVER_NAME = "fal-video"

ENV_HOME = "FAL_VIDEO_MCP_HOME"
ENV_OUTPUT_DIR = "FAL_VIDEO_MCP_OUTPUT_DIR"
ENV_MAX_COST = "FAL_VIDEO_MCP_MAX_COST_USD"
ENV_DAILY_BUDGET = "FAL_VIDEO_MCP_DAILY_BUDGET_USD"
ENV_FAL_BASE_URL = "FAL_VIDEO_MCP_FAL_BASE_URL"
ENV_POLL_MIN = "FAL_VIDEO_MCP_POLL_MIN_SECONDS"
ENV_POLL_MAX = "FAL_VIDEO_MCP_POLL_MAX_SECONDS"
ENV_TOOL_WAIT = "FAL_VIDEO_MCP_TOOL_WAIT_SECONDS"
ENV_DOWNLOAD_DEADLINE = "FAL_VIDEO_MCP_DOWNLOAD_DEADLINE_SECONDS"
ENV_MAX_DOWNLOAD_MB = "FAL_VIDEO_MCP_MAX_DOWNLOAD_MB"
ENV_HTTP_TOKEN = "FAL_VIDEO_MCP_HTTP_TOKEN"

MISSING_KEY_HELP = (
    "No fal.ai API key is configured. Create one at https://fal.ai/dashboard/keys and give it to the server "
    'as the FAL_KEY environment variable (in the "env" block of your MCP host\'s config, e.g. mcp.json or '
    "claude_desktop_config.json), or as FAL_KEY_ID and FAL_KEY_SECRET; then restart the server. A literal "
    "${FAL_KEY} counts as no key: the host found no FAL_KEY in its own environment to put there."
)

# A host that finds no variable to expand passes the `${NAME}` text through unchanged (Claude Code does).
_UNEXPANDED = re.compile(r"^\$\{[^}]*\}$")


def usable_secret(raw: str | None) -> str:
    """The value stripped, or "" when it is empty or still an unexpanded `${...}` reference."""
    value = (raw or "").strip()
    return "" if _UNEXPANDED.match(value) else value


class ConfigError(ValueError):
    """A setting from the environment is invalid; the message names the variable and what it should be."""


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


class Settings(BaseModel):
    """Validated runtime settings. Build with `Settings.from_env()` or directly in tests."""

    model_config = {"frozen": True}

    fal_key: SecretStr | None = Field(default=None, description="fal.ai API key (never logged or returned).")
    home: Path = Field(default_factory=_default_home, description="Data dir: database, datasets, LoRA files.")
    output_dir: Path | None = Field(default=None, description="Where generated files go; default <home>/outputs.")
    max_cost_per_call_usd: float = Field(default=10.0, ge=0, description="Refuse any single paid call above this.")
    daily_budget_usd: float = Field(default=50.0, ge=0, description="Refuse paid calls once today's spend hits this.")
    fal_base_url: str | None = Field(default=None, description="Redirect fal-client to this base URL (tests).")
    poll_min_seconds: float = Field(default=15.0, gt=0, description="Background watcher: first poll delay.")
    poll_max_seconds: float = Field(default=60.0, gt=0, description="Background watcher: longest backoff.")
    tool_wait_seconds: float = Field(
        default=30.0, gt=0, le=40, description="Longest a tool waits on fal before answering with a job id."
    )
    download_deadline_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Longest one generated file's download may take, retries included."
    )
    max_download_mb: float = Field(default=2048.0, gt=0, description="Largest file downloaded from fal.")
    http_token: SecretStr | None = Field(
        default=None, description="Bearer token the HTTP transport requires (needed to listen beyond loopback)."
    )

    @field_validator("fal_key", mode="before")
    @classmethod
    def _missing_when_unusable(cls, value: object) -> object:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return usable_secret(value) or None if isinstance(value, str) else value

    @field_validator("home", "output_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    @field_validator("fal_base_url", mode="after")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        sources: dict[str, str] = {}
        key = usable_secret(env.get("FAL_KEY"))
        key_id, key_secret = usable_secret(env.get("FAL_KEY_ID")), usable_secret(env.get("FAL_KEY_SECRET"))
        if key:
            values["fal_key"] = key
        elif key_id and key_secret:
            values["fal_key"] = f"{key_id}:{key_secret}"
        for name, field in (
            (ENV_HOME, "home"),
            (ENV_OUTPUT_DIR, "output_dir"),
            (ENV_MAX_COST, "max_cost_per_call_usd"),
            (ENV_DAILY_BUDGET, "daily_budget_usd"),
            (ENV_FAL_BASE_URL, "fal_base_url"),
            (ENV_POLL_MIN, "poll_min_seconds"),
            (ENV_POLL_MAX, "poll_max_seconds"),
            (ENV_TOOL_WAIT, "tool_wait_seconds"),
            (ENV_DOWNLOAD_DEADLINE, "download_deadline_seconds"),
            (ENV_MAX_DOWNLOAD_MB, "max_download_mb"),
            (ENV_HTTP_TOKEN, "http_token"),
        ):
            raw = env.get(name, "").strip()
            if raw:
                values[field] = raw
                sources[field] = name
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else ""
                name = sources.get(field, field)
                shown = "(hidden)" if field in ("fal_key", "http_token") else repr(values.get(field))
                problems.append(f"{name}={shown}: {error['msg']}")
            raise ConfigError(
                "Invalid fal-video-mcp configuration: "
                + "; ".join(problems)
                + ". Fix it in the env block of your MCP host's config and restart the server."
            ) from None

    # Derived locations: one definition each.
    @property
    def db_path(self) -> Path:
        return self.home / "fal-video.sqlite3"

    @property
    def datasets_dir(self) -> Path:
        return self.home / "datasets"

    @property
    def loras_dir(self) -> Path:
        return self.home / "loras"

    @property
    def outputs_dir(self) -> Path:
        return self.output_dir or (self.home / "outputs")

    @property
    def previews_dir(self) -> Path:
        return self.home / "previews"

    @property
    def max_download_bytes(self) -> int:
        return int(self.max_download_mb * 1024 * 1024)

    @property
    def has_fal_key(self) -> bool:
        return self.fal_key is not None and bool(self.fal_key.get_secret_value())

    def ensure_dirs(self) -> None:
        for path in (self.home, self.datasets_dir, self.loras_dir, self.outputs_dir, self.previews_dir):
            path.mkdir(parents=True, exist_ok=True)
