"""Shapes of grading output that people read: the exam statistics report and its parts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.enums import ItemType


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class PartSummary(Frozen):
    """One exam part (理论知识 / 专业能力) across the sitting."""

    part: str
    title: str
    total_points: float
    pass_mark: float
    mean: float
    sd: float
    passed: int
    totals: list[float]
    """Every candidate's score on this part, for the histogram."""


class ItemRow(Frozen):
    """Statistics of one question (Moodle's definitions, percentages)."""

    label: str
    """How the report names the question, e.g. "A-12 AI-J-003"."""
    item_id: str
    type: ItemType
    max_points: float
    attempts: int
    facility: float
    sd: float
    discrimination: float | None
    efficiency: float | None
    intended_weight: float
    effective_weight: float | None
    flags: list[str]


class FormRow(Frozen):
    form: str
    candidates: int
    mean: float
    sd: float


class PairRow(Frozen):
    """A flagged pair of answer sheets (雷同卷) with its evidence; labels are anonymous."""

    a: str
    b: str
    z: float
    identical_wrong: int
    both_wrong: int
    expected: float


class FormInformation(Frozen):
    """One form under the newest calibration of its scale: the test information at each θ of
    ``theta`` (its standard error is 1/√information), and the candidates' EAP abilities."""

    form: str
    information: list[float]
    candidates: int
    ability_mean: float | None
    ability_se: float | None
    """The mean of the candidates' EAP standard errors."""


class IrtSummary(Frozen):
    """What the report shows of item response theory: the calibration run and the forms."""

    run_id: int
    base_run_id: int | None
    theta: list[float]
    forms: list[FormInformation]
    misfits: list[tuple[str, float | None]] = []
    """Items of the forms whose model fits badly (S-X², p < 0.01): bank code and version, p."""


class EquatedForm(Frozen):
    """One part of one form in the equating run: its pass mark carried from the reference."""

    part: str
    form: str
    candidates: int
    common_items: int
    pass_mark: float
    equivalent: float
    se: float | None


class EquatingReport(Frozen):
    """The sitting's pass rule, the equating run it reads (in force, or the newest), and the
    pass decisions under raw and equated marks compared."""

    run_id: int
    method: str
    reference_form: str
    rule: str
    forms: list[EquatedForm]
    candidates: int
    both_pass: int
    both_fail: int
    raw_only: int
    equated_only: int


class ExamReportData(Frozen):
    """Everything the exam statistics report PDF shows."""

    title: str
    sitting: str
    occupation_name: str
    level_name: str
    generated_at: str
    candidates: int
    passed: int
    parts: list[PartSummary]
    items: list[ItemRow]
    cic: float
    error_ratio: float
    standard_error: float
    kr20: float | None
    forms: list[FormRow]
    fairness_statistic: float | None
    fairness_p: float | None
    fairness_warning: bool
    similar_pairs: list[PairRow]
    similarity_threshold: float
    irt: IrtSummary | None = None
    """None until the sitting's items are calibrated (``certify irt calibrate``)."""
    equating: EquatingReport | None = None
    """None until the sitting's forms are equated (``certify irt equate``)."""
