"""What the dataset tools answer with (their output schemas) and the caption-template contract of their input.
Kept apart from the behaviour so the server starts without importing it."""

from pydantic import Field

from tools.result_model import ResultModel

DEFAULT_TEMPLATE = "photo of {trigger} {subject}{details}"
PLACEHOLDERS = {
    "trigger": "the trigger word, e.g. SIDAI (required)",
    "subject": "the class word, e.g. man, woman, person",
    "details": "', '-joined view, expression, framing, light, background and subfolder (starts with ', ')",
    "angle": "front view | three-quarter view | profile view",
    "expression": "smiling | neutral expression",
    "distance": "close-up | medium shot | full body",
    "lighting": "soft light | side light | backlit | dim light | harsh light",
    "background": "plain background | indoors | outdoors",
    "category": "the photo's subfolder name, e.g. professional",
}


class MixRow(ResultModel):
    value: str
    count: int
    actual_pct: float
    recommended_pct: float | None = Field(description="The guide's share; null: the guide wants it present, no share.")


class MixTable(ResultModel):
    dimension: str
    method: str
    unknown: int = Field(description="Kept photos for which no estimate was possible.")
    rows: list[MixRow]


class DatasetReport(ResultModel):
    kept: int
    rejected: int
    warned: int
    count_verdict: str = Field(description="too few | minimum | good | best")
    count_message: str
    mix: list[MixTable]
    advice: list[str]
    method_notes: list[str]


class CheckRow(ResultModel):
    name: str = Field(description="resolution, faces, face_size, sharpness, exposure, filter, eyes, covering, ...")
    value: float | int | str | None = Field(description="The measured value.")
    verdict: str = Field(description="ok | warn | reject")
    reason: str


class ImageRow(ResultModel):
    file: str = Field(description="Path relative to the folder given.")
    category: str | None = Field(description="First-level subfolder, e.g. professional.")
    verdict: str = Field(description="ok | warn | reject")
    kept: bool = Field(description="Part of the prepared set (ok, or warn with include_warnings).")
    reasons: list[str] = Field(description="Why it was warned or rejected, worst first.")
    checks: list[CheckRow] = Field(description="Every check with its measured value, verdict and reason.")
    estimates: dict[str, str | None] = Field(description="Estimated angle, expression, distance, lighting, background.")
    caption: str | None = None
    prepared_file: str | None = Field(default=None, description="File name inside the prepared set / zip.")
    crop: str | None = Field(default=None, description="How it was framed (face crop, centre crop, padded).")


class DatasetPaths(ResultModel):
    prepared_dir: str | None = None
    zip: str | None = None
    contact_sheet: str | None = None
    image_table: str | None = Field(default=None, description="JSON file with every photo's full row and checks.")


class PreparedDataset(ResultModel):
    dataset_id: str | None = Field(description="Pass to start_training; null for a dry run or a run in progress.")
    name: str
    version: int | None
    status: str = Field(
        description="running (not finished within wait_seconds: poll dataset_status with run_id) | dry-run | "
        "prepared | uploaded"
    )
    run_id: str | None = Field(
        default=None, description="This run, for dataset_status(run_id) while it is running or to see it again."
    )
    progress: float | None = Field(default=None, description="Percent done (status running).")
    message: str | None = Field(default=None, description="What the run is doing now, or the next step.")
    reused_existing: bool = Field(
        default=False, description="True when this folder and options were already prepared as this version."
    )
    trigger_word: str
    trigger_warnings: list[str] = Field(default_factory=list)
    image_count: int | None = Field(default=None, description="Images in the prepared set (null while running).")
    rejected_count: int | None = None
    warned_count: int | None = None
    images: list[ImageRow] = Field(default_factory=list, description="Per photo (empty while running).")
    images_note: str | None = Field(
        default=None, description="Set when a big folder's rows were shortened to keep the result small."
    )
    report: DatasetReport | None = Field(default=None, description="The dataset report (null while running).")
    paths: DatasetPaths = Field(default_factory=DatasetPaths)
    fal_url: str | None = None
    uploaded_now: bool = False
    ignored_files: list[str] = Field(default_factory=list, description="Non-image files that were skipped.")
    options: dict[str, str | int | bool | list[str]] = Field(default_factory=dict)


class DatasetSummary(ResultModel):
    dataset_id: str
    name: str
    version: int
    image_count: int
    status: str
    trigger_word: str
    fal_url: str | None
    source_dir: str
    created_at: str


class DatasetDetail(ResultModel):
    summary: DatasetSummary
    report: DatasetReport
    paths: DatasetPaths
    options: dict[str, str | int | bool | list[str]]
    images: list[ImageRow]
    images_note: str | None = Field(
        default=None, description="Set when a big folder's rows were shortened to keep the result small."
    )
    versions: list[DatasetSummary] = Field(description="All versions of the same name, newest first.")


class DatasetList(ResultModel):
    datasets: list[DatasetSummary]
    detail: DatasetDetail | None = None
