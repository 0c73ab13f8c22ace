"""What a start imports: the wiring, the services and each family's edge and result models, never the behaviour.

Each family's behaviour (checks, planning, job hooks...) is imported on the first call that needs it, so a host
that starts the server for every conversation does not pay for it (bench/cold_start.py measures the time).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SERVICES = {
    "server",
    "server.app",
    "server.config",
    "server.storage",
    "server.state",
    "server.jobs",
    "server.costs",
    "server.runs",
    "server.watcher",
    "server.errors",
    "server.disk",
    "server.fal_gateway",
    "server.fal_hosts",
    "server.catalog",
    "server.catalog.service",
    "server.catalog.cache",
    "server.catalog.platform",
    "server.catalog.snapshot",
    "server.catalog.trim",
    "server.catalog.validate",
    "tools",
    "tools.common",
    "tools.surface",
    "tools.compact_schema",
    "tools.signature_schema",
    "tools.resources",
    "tools.result_model",
    "prompts",
    "prompts.workflows",
    "prompts.workflow_texts",
    "prompts.loader",  # the prompt template model, which prompt_library's result holds (its functions cost nothing)
}
# A family's package, its MCP edge, the models its tools answer with, and its kind of job.
FAMILY_PART = re.compile(r"^tools\.[a-z]+(\.(tools|results|models|kind))?$")
NOT_AT_START = {"fal_client", "httpx", "PIL", "cv2", "numpy", "yaml", "jsonschema"}


def _modules_after_start() -> set[str]:
    code = (
        "import json, sys\nfrom server.app import create_server\ncreate_server()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(json.loads(out.stdout))


def test_a_start_imports_no_behaviour_module_and_no_heavy_library() -> None:
    loaded = _modules_after_start()
    ours = {name for name in loaded if name.split(".")[0] in ("server", "tools", "prompts")}
    behaviour = sorted(name for name in ours if name not in SERVICES and not FAMILY_PART.match(name))
    assert behaviour == [], "imported at start; import them where they are used instead"
    assert sorted(NOT_AT_START & {name.split(".")[0] for name in loaded}) == []
