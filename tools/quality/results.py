"""What the quality matrix looks like to the agent: the models quality_matrix answers with (scores, comparisons,
test suites, likeness). Kept apart from the behaviour so the server starts without importing it."""

from statistics import mean

from pydantic import Field

from tools.result_model import ResultModel


class Evaluation(ResultModel):
    id: str
    model_name: str
    model_version: int
    scenario: str
    quality: float | None
    likeness: float | None
    likeness_method: str | None
    notes: str
    generation_id: str | None
    created_at: str


class ScoreCell(ResultModel):
    quality: float | None = Field(description="Mean quality 1-10, None if never scored.")
    likeness: float | None = Field(description="Mean likeness 1-10, None if never scored.")
    n: int = Field(description="How many evaluations.")

    @property
    def combined(self) -> float | None:
        parts = [v for v in (self.quality, self.likeness) if v is not None]
        return round(mean(parts), 2) if parts else None


class MatrixRow(ResultModel):
    scenario: str
    versions: dict[str, ScoreCell] = Field(description="'v1', 'v2', ... → averages.")


class ScenarioComparison(ResultModel):
    scenario: str
    a: ScoreCell | None
    b: ScoreCell | None
    delta: float | None = Field(description="b's combined score minus a's (positive: b is better).")
    winner: str | None = Field(description="'v<N>', 'tie', or None when only one side was scored.")


class Comparison(ResultModel):
    version_a: int
    version_b: int
    scenarios: list[ScenarioComparison]
    overall_a: float | None = Field(description="Mean combined score over scenarios scored for both.")
    overall_b: float | None
    winner: int | None = Field(description="The version to keep as default, None when undecided.")
    reason: str


class ScoreEntry(ResultModel):
    """One score to record; model/version/scenario come from generation_id when given."""

    scenario: str | None = None
    quality: float | None = Field(default=None, ge=1, le=10)
    likeness: float | None = Field(default=None, ge=1, le=10)
    notes: str = ""
    generation_id: str | None = None
    model: str | None = Field(default=None, description="name@vN if not the call's")


class SuiteCell(ResultModel):
    position: int
    scenario: str
    version: int | None = Field(description="LoRA version; None for the no-LoRA baseline.")
    variant: str = Field(description="lora | scale | baseline")
    lora_scale: float | None
    seed: int
    label: str
    generation_id: str | None
    status: str = Field(
        description="waiting (not submitted yet) | pending | queued | running | completed | failed | not_submitted"
    )
    file_path: str | None = None
    error: str | None = None
    likeness: float | None = None


class SuiteReport(ResultModel):
    suite_id: str | None = Field(description="None for a dry run.")
    model_name: str
    status: str = Field(description="planned (dry run: nothing generated) | running (poll suite_status) | completed")
    cells: list[SuiteCell]
    pending: list[str] = Field(description="Generation ids still running.")
    sheet_path: str | None = Field(default=None, description="The full-size contact sheet PNG.")
    columns: int | None = None
    rows: int | None = None
    row_labels: list[str] = Field(default_factory=list)
    estimated_cost_usd: float = 0.0
    message: str
    warnings: list[str] = Field(default_factory=list)


class GenerationLikeness(ResultModel):
    generation_id: str
    model_version: int | None
    scenario: str | None
    score: float | None = Field(description="1-10 (mean over the generation's images); None when no face was found.")
    distance: float | None = Field(description="Median face-descriptor distance; same person < 0.45, other > 0.6.")
    faces: int = Field(description="Images of this generation in which a face was found.")
    recorded: bool = Field(description="Stored in the matrix (baseline images are scored but not stored).")
