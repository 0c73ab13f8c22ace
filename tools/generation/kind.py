"""The generation kind of job as the job engine knows it; its hooks (tools/generation/job.py) load on first use."""

from server.jobs import JobKind

GENERATION = JobKind(
    name="generation",
    table="generations",
    noun="Generation",
    force_hint="force=true to execute_custom_model",
)
