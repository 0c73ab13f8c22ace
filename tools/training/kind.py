"""The training kind of job as the job engine knows it; its hooks (tools/training/job.py) load on first use."""

from server.jobs import JobKind, JobState

TRAINING = JobKind(
    name="training",
    table="trainings",
    noun="Training",
    with_logs=True,
    blocking=(JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING, JobState.COMPLETED, JobState.UNKNOWN),
    force_hint="force=true to start_training",
)
