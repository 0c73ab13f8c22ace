"""Read-only MCP resources: models, trainings, datasets and prompt templates as JSON views.

The SDK injects the request context (and with it the database) only into template resources, so the
collections are templates with optional query filters (`fal-video://trainings{?status,limit}` is read as
`fal-video://trainings`); tools.surface also lists them under those bare URIs, for hosts that show only
listed resources. The built-in template catalogue needs no database and is a plain resource. What a resource
reads with is imported when it is first read, not at start.
"""

from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from server.storage import from_json
from tools.common import state_of
from tools.surface import ListedCollection

JSON = "application/json"

LISTED_COLLECTIONS = (
    ListedCollection("fal-video://models", "models", "Registered models", "Models, versions, trigger words."),
    ListedCollection("fal-video://trainings", "trainings", "Trainings", "Training jobs, newest first."),
    ListedCollection("fal-video://datasets", "datasets", "Datasets", "Prepared datasets, newest first."),
)


def _limit(raw: str | None, default: int = 50) -> int:
    try:
        return max(1, min(int(raw), 500)) if raw else default
    except ValueError:
        return default


def register(server: MCPServer) -> None:
    @server.resource(
        "fal-video://models{?limit}",
        name="models",
        title="Registered models",
        description="Every registered model: versions, default version, trigger word, base endpoint, aliases.",
        mime_type=JSON,
    )
    def models(ctx: Context[Any], limit: str | None = None) -> list[dict[str, Any]]:
        from tools.models import registry

        summaries = registry.list_models(state_of(ctx).store)
        return [s.model_dump(mode="json") for s in summaries[: _limit(limit, 500)]]

    @server.resource(
        "fal-video://models/{name}",
        name="model",
        title="One model",
        description="A model's versions (trigger word, LoRA, training, dataset) and its quality-matrix averages.",
        mime_type=JSON,
    )
    def model(name: str, ctx: Context[Any]) -> dict[str, Any]:
        from tools.models import registry

        store = state_of(ctx).store
        if registry.find(store, name) is None:
            raise ResourceNotFoundError(f"No registered model named {name!r}.")
        versions = registry.list_versions(store, name)
        scores = store.query(
            "SELECT model_version, scenario, AVG(quality) AS quality, AVG(likeness) AS likeness, COUNT(*) AS n "
            "FROM evaluations WHERE model_name = ? GROUP BY model_version, scenario ORDER BY model_version, scenario",
            (versions[0].model_name,),
        )
        return {
            "name": versions[0].model_name,
            "versions": [v.model_dump(mode="json") for v in versions],
            "evaluations": scores,
        }

    @server.resource(
        "fal-video://trainings{?status,limit}",
        name="trainings",
        title="Trainings",
        description="Recent training jobs, newest first: status, progress, ETA, cost, resulting model version.",
        mime_type=JSON,
    )
    def trainings(ctx: Context[Any], status: str | None = None, limit: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, model_name, model_type, endpoint, dataset_id, status, queue_position, progress, eta_seconds, "
            "error, estimated_cost, model_version_id, created_at, completed_at FROM trainings"
        )
        params: list[Any] = []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC LIMIT ?"
        params.append(_limit(limit))
        return state_of(ctx).store.query(sql, params)

    @server.resource(
        "fal-video://datasets{?limit}",
        name="datasets",
        title="Datasets",
        description="Prepared datasets, newest first: name, version, trigger word, image count, upload status.",
        mime_type=JSON,
    )
    def datasets(ctx: Context[Any], limit: str | None = None) -> list[dict[str, Any]]:
        rows = state_of(ctx).store.query(
            "SELECT id, name, version, source_dir, trigger_word, image_count, status, dir, fal_url, report_json, "
            "created_at FROM datasets ORDER BY created_at DESC LIMIT ?",
            (_limit(limit),),
        )
        for row in rows:
            report = from_json(row.pop("report_json"), {})
            row["summary"] = report.get("summary") if isinstance(report, dict) else None
        return rows

    @server.resource(
        "fal-video://prompts/builtin",
        name="builtin-prompt-templates",
        title="Built-in prompt templates",
        description="The prompt templates shipped with the server (scenario, text, variables, settings).",
        mime_type=JSON,
    )
    def builtin_prompts() -> list[dict[str, Any]]:
        from prompts.loader import builtin_templates

        return [t.model_dump(mode="json", exclude={"created_at", "updated_at"}) for t in builtin_templates().values()]
