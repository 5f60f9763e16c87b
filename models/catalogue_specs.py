"""The obligation catalogue's schema: what each YAML entry may say, validated by pydantic (the rules that
span entries and files are checked when the catalogue is assembled, in shanhai.models.catalogue)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator, model_validator

from shanhai.models.ladder import LadderOverride

# Sides of a pairing a duty can name instead of a unit (park: its pairing; county: the county and its
# partners; city: every pairing in force).
PAIRING_TOKEN = "结对双方"  # both sides
COUNTY_SIDE = "结对县"  # the county that is helped (加快发展县)
PARTNER_SIDE = "结对强区"  # the partner that helps (经济强县（市、区）)
SIDE_TOKENS = {PAIRING_TOKEN: ("county", "partner"), COUNTY_SIDE: ("county",), PARTNER_SIDE: ("partner",)}
ASSESSMENT_FILE_NAME = "assessment.yaml"  # the assessment method beside the catalogue, not a catalogue file
DEFAULT_CLOSES = "03-31"  # the year's assessment (年度考核) closes a period
CITY_SCOPE = "全市"
MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def month_day(text: str, year: int) -> date:
    """The "MM-DD" ``text`` in ``year``."""
    month, _, day = text.partition("-")
    return date(year, int(month), int(day))


def is_month_day(text: object) -> bool:
    """A quoted "MM-DD" that exists in every year (so not 02-30, nor 02-29)."""
    if not isinstance(text, str) or not MONTH_DAY.match(text):
        return False
    try:
        month_day(text, 2001)
    except ValueError:
        return False
    return True


SLUG = r"^[a-z0-9][a-z0-9-]*$"

Kind = Literal[
    "one_off", "annual_deadline", "annual_count", "annual_quantity", "cumulative_quantity", "plan_vs_actual"
]
ScopeKind = Literal["pairing", "county", "park", "city"]
RECURRING_KINDS = {"annual_deadline", "annual_count", "annual_quantity", "plan_vs_actual"}
DATED_ONCE_KINDS = {"one_off", "cumulative_quantity"}
QUANTITY_KINDS = {"annual_quantity", "cumulative_quantity", "plan_vs_actual"}  # counted by the record's date
AMOUNT_UNITS = {"亿元": 100_000_000, "万元": 10_000}  # in 元
FEN_PER_YUAN = 100  # amounts are stored in fen (分), exactly
FEN_PER_WAN = AMOUNT_UNITS["万元"] * FEN_PER_YUAN
FEN_PER_YI = AMOUNT_UNITS["亿元"] * FEN_PER_YUAN
# a count in the catalogue (min_count, a pace milestone): strict (`yes` and "2" are typos, not 1 and 2)
# and bounded like a record's count: the largest count target is 6000人次 a year, city-wide
MAX_CATALOGUE_COUNT = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    value: float = Field(gt=0)
    unit: Literal["亿元", "万元", "人次", "个"]


class Share(_Strict):
    category: str
    min: float = Field(gt=0, le=1)


class PaceMilestone(_Strict):
    by: str
    count: StrictInt | None = Field(default=None, ge=1, le=MAX_CATALOGUE_COUNT)
    share: float | None = Field(default=None, gt=0, le=1)

    @field_validator("by")
    @classmethod
    def _month_day(cls, v: str) -> str:
        if not is_month_day(v):
            raise ValueError(f"'{v}' 不是每年都有的月-日（MM-DD）('{v}' is not a MM-DD date that exists every year)")
        return v

    @model_validator(mode="after")
    def _one_measure(self) -> PaceMilestone:
        if (self.count is None) == (self.share is None):
            raise ValueError("进度节点须且只能写 count 或 share 之一 (a pace milestone needs exactly one of count or share)")
        return self


class Responsible(_Strict):
    lead: list[str] = Field(min_length=1)
    co: list[str] = Field(default_factory=list)


class ObligationSpec(_Strict):
    id: str = Field(pattern=SLUG, max_length=64)
    title: str = Field(min_length=1, max_length=64)
    description: str | None = None
    summary: str | None = Field(default=None, min_length=1, max_length=40)  # the duty in one line (messages)
    clause: str = Field(min_length=1)
    kind: Kind
    scope: ScopeKind
    scopes: list[str] | None = None
    due: str | date | None = None
    roll: Literal["none", "forward", "backward"] = "forward"  # a due date on a day off moves (顺延)
    closes: str | None = None  # MM-DD of the assessment that closes a period (default 03-31)
    window_from: str | None = None  # MM-DD: records before it in the year do not count (a window)
    unverified: bool = False  # figures the source garbles: tracked and flagged, never sent to supervisors
    escalate: bool = True  # False: the leading group's own duty (年中调研督查): never escalated to it
    min_count: StrictInt | None = Field(default=None, ge=1, le=MAX_CATALOGUE_COUNT)
    target: Target | None = None
    shares: list[Share] | None = None
    categories: list[str] | None = None
    pace: list[PaceMilestone] | Literal["monthly"] | None = None
    plan: Literal["attachment1"] | None = None
    valid_from: int = Field(ge=2000, le=2100)
    valid_until: int | None = Field(default=None, ge=2000, le=2100)
    responsible: Responsible
    evidence: str | None = None
    notes: str | None = None
    reminders: LadderOverride | None = None  # the keys given replace the default ladder's

    @field_validator("closes", "window_from")
    @classmethod
    def _month_day_field(cls, v: str | None) -> str | None:
        if v is not None and not is_month_day(v):
            raise ValueError(f'应为加引号、每年都有的 "MM-DD"，而不是 {v!r} (a quoted "MM-DD" that exists every year)')
        return v

    @model_validator(mode="after")
    def _kind_rules(self) -> ObligationSpec:
        k = self.kind
        if self.window_from is not None and (k not in RECURRING_KINDS or not isinstance(self.due, str)
                                             or self.window_from > self.due):
            raise ValueError("window_from: 时间窗只用于每年重复、且到期日不早于窗口起点的事项 "
                             "(a window needs a recurring duty whose due date is on or after it)")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until: 早于 valid_from (valid_until is before valid_from)")
        if k in RECURRING_KINDS:
            if not is_month_day(self.due):
                raise ValueError(f'due: 须写加引号的 "MM-DD" 到期日（{k} 每年到期），而不是 {self.due!r} '
                                 f'({k} needs a quoted "MM-DD" due date)')
        elif k in DATED_ONCE_KINDS and not isinstance(self.due, date):
            raise ValueError(f"due: 须写完整日期 YYYY-MM-DD（{k} 只到期一次），而不是 {self.due!r} ({k} needs an ISO date)")
        if k == "annual_count" and self.min_count is None:
            raise ValueError("min_count: 须写 min_count（annual_count）(annual_count needs min_count)")
        if k in ("annual_quantity", "cumulative_quantity") and self.target is None and self.min_count is None:
            raise ValueError(f"target: 须写 target 或 min_count（{k}）({k} needs a target or a min_count)")
        if k == "plan_vs_actual" and self.plan != "attachment1":
            raise ValueError("plan: 须写 plan: attachment1（plan_vs_actual）(plan_vs_actual needs plan: attachment1)")
        if k == "plan_vs_actual" and self.scope != "park":
            raise ValueError("scope: 计划对比（plan_vs_actual）只能按产业园 (plan_vs_actual is per park)")
        if self.shares and k not in ("annual_quantity", "cumulative_quantity"):
            raise ValueError("shares: 只有数量类事项才有占比 (only quantity kinds have shares)")
        if self.pace == "monthly" and self.target is None:
            raise ValueError("pace: 按月进度须写 target (monthly pace needs a target)")
        return self

    def pace_overshoots(self) -> list[tuple[int, str]]:
        """(index, message) of each pace milestone asking for more than the whole year's target: a
        milestone is a part of the way (进度), never past the end."""
        whole = self.min_count
        if whole is None and self.target is not None and self.target.unit not in AMOUNT_UNITS:
            whole = int(self.target.value) if self.target.value.is_integer() else None
        if whole is None or not isinstance(self.pace, list):
            return []
        return [
            (j, f"进度节点 {m.by} 的 count {m.count} 超过全年目标 {whole} "
                f"(milestone count {m.count} is above the target {whole})")
            for j, m in enumerate(self.pace)
            if m.count is not None and m.count > whole
        ]

    @property
    def dated_once(self) -> bool:
        """Due once, on an ISO date (one-off deadlines and cumulative targets), not every year."""
        return self.kind in DATED_ONCE_KINDS

    def due_date(self, year: int | None = None) -> date:
        if isinstance(self.due, date):
            return self.due
        assert year is not None and isinstance(self.due, str)
        return month_day(self.due, year)


class DocumentSpec(_Strict):
    id: str = Field(pattern=SLUG)
    number: str
    title: str
    issued: date  # 印发
    effective_from: date | None = None  # 施行; None: the issue date. Duties due before it are history

    @field_validator("effective_from")
    @classmethod
    def _effective_after_issue(cls, v: date | None, info: ValidationInfo) -> date | None:
        issued = info.data.get("issued")
        if v is not None and issued is not None and v < issued:
            raise ValueError(f"施行日期 {v} 早于印发日期 {issued} (effective_from is before the issue date)")
        return v

    @property
    def in_force_from(self) -> date:
        return self.effective_from or self.issued


class PlanRow(_Strict):
    park: str
    year: int
    kind: Literal["government", "attraction"]
    projects: int = Field(ge=0)
    planned_total: int = Field(ge=0)
    planned_completion: int = Field(ge=0)


class Plans(_Strict):
    stated_total_yi: float = Field(gt=0)
    note: str | None = None  # how the stated total was chosen where the document disagrees with itself
    rows: list[PlanRow]


class Succession(_Strict):
    """A unit's end: from ``from`` on (a date), its duties and messages go to ``unit`` (renamed: the same
    body under a new name; merged: one of several bodies joined into it). ``source`` is the decision."""

    how: Literal["renamed", "merged"]
    unit: str = Field(min_length=1)
    from_: date = Field(alias="from")
    source: str = Field(min_length=2)
    note: str | None = None


class UnitSpec(_Strict):
    name: str
    code: str = Field(pattern=SLUG, max_length=64)
    short: str | None = None
    kind: Literal["county", "partner", "department", "coordinator", "supervisor"]
    aliases: list[str] = Field(default_factory=list)
    succeeded_by: Succession | None = None  # the unit's history: who carries its duties from when


class Roles(_Strict):
    coordinator: str
    supervisor: str


class PairingSpec(_Strict):
    name: str
    county: str
    partner: str
    valid_from: int
    valid_until: int | None = None


class ParkSpec(_Strict):
    name: str
    short: str | None = None
    pairing: str
    host: str
    kind: Literal["eco_park", "enclave"]
    core_area_km2: float | None = None


class CatalogueFile(_Strict):
    document: DocumentSpec | None = None
    obligations: list[ObligationSpec] = Field(default_factory=list)
    plans: Plans | None = None
    units: list[UnitSpec] = Field(default_factory=list)
    roles: Roles | None = None
    pairings: list[PairingSpec] = Field(default_factory=list)
    parks: list[ParkSpec] = Field(default_factory=list)
    holidays: Any = None  # the holiday file shares the folder; shanhai.models.holiday_file reads it
    overrides: Any = None  # the coordinator's override file; shanhai.models.catalogue_overrides reads it

    @model_validator(mode="after")
    def _document_owns_obligations(self) -> CatalogueFile:
        if (self.obligations or self.plans) and self.document is None:
            raise ValueError("document: 含事项或计划的文件须有 document 文件头 "
                             "(a file with obligations or plans needs a document header)")
        return self


