"""The video kind of job as the job engine knows it; its hooks (tools/video/job.py) load on first use."""

from server.jobs import JobKind, JobState

MAKING_STILL = "making_still"  # before the engine's own states: the clip waits for its still

VIDEO = JobKind(
    name="video",
    table="videos",
    noun="Video",
    blocking=(JobState.SUBMITTING, JobState.QUEUED, JobState.RUNNING, JobState.UNKNOWN),
    force_hint="force=true to video",
)
