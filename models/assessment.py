"""The annual assessment (年度考核), scored purely from evaluated occurrences, their records and the method.

Points are kept in hundredths (integers) so that a unit's score is exactly the sum of its lines in every
output: the weights of the lines that count are rescaled to 100.00 by largest remainders, so a unit
with every duty on time scores 100 exactly, and a waived duty never lowers a score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from shanhai.models.assessment_method import EXCLUDE, Adjustment, AssessmentMethod
from shanhai.models.localtime import local_date
from shanhai.models.requirement import closing_day
from shanhai.models.status import Evaluation, OccurrenceRow
from shanhai.models.statuses import Status

QUANTITY_KINDS = frozenset({"annual_quantity", "cumulative_quantity", "plan_vs_actual"})
HISTORY = "history"
OUTCOME_LABELS = {
    "done": "按期完成",
    "done_late": "逾期完成",
    "missed": "未完成（已关闭）",
    "open": "尚未完成（临时）",
    "waived": "已豁免（不计入）",
    "unverified": "数字存疑（不计分）",
    HISTORY: "历史（文件印发前或纳入跟踪前，不计入）",
    "bonus": "加分",
    "penalty": "扣分",
    "bound": "得分限于 0—100",
}
ADJUSTMENTS_CATEGORY = "加减分"


def outcome_label_of(outcome: str) -> str:
    return OUTCOME_LABELS.get(outcome, outcome)


def year_closed(year: int, as_of: datetime) -> bool:
    """Whether a year's periods have closed at ``as_of`` (the assessment after its year-end due dates)."""
    return local_date(as_of) > closing_day(date(year, 12, 31))


def latest_closed_year(as_of: datetime) -> int:
    """The newest year whose periods have closed at ``as_of`` (the assessment after 03-31)."""
    year = local_date(as_of).year
    return year - 1 if year_closed(year - 1, as_of) else year - 2


def assessment_year(period: str) -> int:
    """The year an occurrence is assessed in: its period's (a year, or a one-off's nominal due date)."""
    return int(period[:4])


def outcome_of(ev: Evaluation) -> str:
    """What an evaluated occurrence counts as in the assessment. History (due before the document took
    effect or before the tracking start; the evaluation's own marker) is never scored."""
    if ev.is_history:
        return HISTORY
    if ev.status is Status.WAIVED:
        return "waived"
    if ev.unverified:
        return "unverified"
    if ev.status in (Status.DONE, Status.DONE_LATE, Status.MISSED):
        return str(ev.status)
    return "open"


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    record: int
    on: date
    state: str


@dataclass(frozen=True)
class Line:
    obligation: str
    category: str
    occurrence: int | None
    scope: str
    period: str
    due: date | None
    outcome: str
    cents: int  # points, in hundredths
    max_cents: int
    ratio: float | None = None
    evidence: tuple[Evidence, ...] = ()
    note: str | None = None  # an adjustment's name

    @property
    def points(self) -> float:
        return self.cents / 100

    @property
    def max_points(self) -> float:
        return self.max_cents / 100

    def as_item(self) -> dict[str, Any]:
        return {
            "obligation": self.obligation,
            "category": self.category,
            "occurrence": self.occurrence,
            "scope": self.scope,
            "period": self.period,
            "due": self.due.isoformat() if self.due else None,
            "outcome": self.outcome,
            "points": self.points,
            "max_points": self.max_points,
            "ratio": self.ratio,
            "records": [e.record for e in self.evidence if e.state != "rejected"],
            "evidence": [{"id": e.record, "date": e.on.isoformat(), "state": e.state} for e in self.evidence],
            "note": self.note,
        }


@dataclass(frozen=True)
class CategoryScore:
    name: str
    cents: int
    max_cents: int

    def as_item(self) -> dict[str, Any]:
        return {"name": self.name, "score": self.cents / 100, "max": self.max_cents / 100}


@dataclass(frozen=True)
class UnitAssessment:
    unit: str
    class_name: str
    cents: int | None  # None: nothing of the unit's counted this year
    band: str | None
    provisional: bool
    categories: tuple[CategoryScore, ...]
    lines: tuple[Line, ...]
    rank: int | None = None

    @property
    def score(self) -> float | None:
        return None if self.cents is None else self.cents / 100

    def as_item(self) -> dict[str, Any]:
        """One object of `shanhai assessment --json` (field names are a documented contract)."""
        return {
            "unit": self.unit,
            "class": self.class_name,
            "score": self.score,
            "band": self.band,
            "rank": self.rank,
            "provisional": self.provisional,
            "categories": [c.as_item() for c in self.categories],
            "lines": [line.as_item() for line in self.lines],
        }


@dataclass(frozen=True)
class Assessment:
    year: int
    as_of: datetime
    provisional: bool
    method_title: str
    notice: str
    default_method: bool
    units: tuple[UnitAssessment, ...] = field(default_factory=tuple)

    def classes(self) -> dict[str, list[UnitAssessment]]:
        """Units per class, ranked (the method's class order, best first)."""
        out: dict[str, list[UnitAssessment]] = defaultdict(list)
        for u in self.units:
            out[u.class_name].append(u)
        return dict(out)

    def only(self, unit: str) -> Assessment:
        return replace(self, units=tuple(u for u in self.units if u.unit == unit))


@dataclass(frozen=True)
class AssessmentInputs:
    """What the scorer reads: the year's evaluated occurrences, each one's records and the unit kinds."""

    year: int
    as_of: datetime
    pairs: Sequence[tuple[OccurrenceRow, Evaluation]]
    evidence: Mapping[int, tuple[Evidence, ...]]
    unit_kinds: Mapping[str, str]


# --- scoring -------------------------------------------------------------------------------------


def quantity_ratio(progress: Mapping[str, Any]) -> float | None:
    """Completion so far: amount over target, actual over plan (附件1), or done over required."""
    if "target" in progress and progress["target"]:
        return progress["amount"] / progress["target"]
    plans = [v for v in progress.values() if isinstance(v, dict) and "planned" in v]
    if plans:
        planned = sum(p["planned"] for p in plans)
        return sum(p["actual"] for p in plans) / planned if planned else None
    if progress.get("required"):
        return progress["done"] / progress["required"]
    return None


def shares_short(progress: Mapping[str, Any]) -> bool:
    return any(s["count_share"] < s["min"] or s["amount_share"] < s["min"] for s in progress.get("shares", []))


def _factor(method: AssessmentMethod, row: OccurrenceRow, ev: Evaluation, outcome: str) -> float | None:
    """The share of its weight a line earns; None when it is out of the denominator."""
    if outcome == HISTORY:
        return None
    rule = method.outcomes[outcome]  # type: ignore[index]
    if rule == EXCLUDE:
        return None
    if row.requirement.kind not in QUANTITY_KINDS:
        return float(rule)
    ratio = quantity_ratio(ev.progress) or 0.0
    factor = min(ratio, method.quantity.cap) / method.quantity.cap
    if shares_short(ev.progress):
        factor *= method.quantity.share_shortfall
    if outcome == "done_late":
        factor *= float(method.outcomes["done_late"])
    return factor


def _largest_remainder(weights: list[float], total: int) -> list[int]:
    """``total`` split in integers proportionally to ``weights``, summing exactly to ``total``."""
    whole = sum(weights)
    exact = [w * total / whole for w in weights]
    floors = [int(x) for x in exact]
    short = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in order[:short]:
        floors[i] += 1
    return floors


@dataclass
class _Draft:
    row: OccurrenceRow
    ev: Evaluation
    category: str
    weight: float
    outcome: str
    factor: float | None


def _drafts(inputs: AssessmentInputs, method: AssessmentMethod, unit: str, klass: str,
            mine: list[tuple[OccurrenceRow, Evaluation]]) -> list[_Draft]:
    duties = method.duties()
    per_duty: dict[str, int] = defaultdict(int)
    for row, _ in mine:
        per_duty[row.obligation_id] += 1
    drafts = []
    for row, ev in mine:
        category, duty = duties[row.obligation_id]
        outcome = outcome_of(ev)
        weight = duty.weights[klass] / per_duty[row.obligation_id]
        drafts.append(_Draft(row, ev, category, weight, outcome, _factor(method, row, ev, outcome)))
    return drafts


def _lines(drafts: list[_Draft], evidence: Mapping[int, tuple[Evidence, ...]]) -> list[Line]:
    scored = [d for d in drafts if d.factor is not None]
    maxima = _largest_remainder([d.weight for d in scored], 10_000) if scored else []
    max_of = {id(d): m for d, m in zip(scored, maxima, strict=True)}
    lines = []
    for d in drafts:
        max_cents = max_of.get(id(d), 0)
        cents = round(max_cents * d.factor) if d.factor is not None else 0
        ratio = quantity_ratio(d.ev.progress) if d.row.requirement.kind in QUANTITY_KINDS else None
        lines.append(Line(d.row.obligation_id, d.category, d.row.id, d.row.scope, d.row.period, d.ev.due,
                          d.outcome, cents, max_cents, None if ratio is None else round(ratio, 4),
                          evidence.get(d.row.id, ())))
    return lines


def _adjustment_lines(method: AssessmentMethod, lines: list[Line]) -> list[Line]:
    out = []
    for adj in method.adjustments:
        budget = round(adj.limit * 100)
        for line in lines:
            if budget <= 0 or not _matches(adj, line):
                continue
            cents = min(round(adj.points * 100), budget)
            budget -= cents
            sign = 1 if adj.kind == "bonus" else -1
            out.append(Line(line.obligation, ADJUSTMENTS_CATEGORY, line.occurrence, line.scope, line.period,
                            line.due, adj.kind, sign * cents, 0, line.ratio, (), adj.name))
    return out


def _matches(adj: Adjustment, line: Line) -> bool:
    when = adj.when
    if line.outcome not in when.outcomes:
        return False
    if when.obligations is not None and line.obligation not in when.obligations:
        return False
    return when.ratio_at_least is None or (line.ratio is not None and line.ratio >= when.ratio_at_least)


def _categories(method: AssessmentMethod, lines: list[Line]) -> tuple[CategoryScore, ...]:
    names = [c.name for c in method.categories] + [ADJUSTMENTS_CATEGORY]
    out = []
    for name in names:
        mine = [line for line in lines if line.category == name]
        if mine:
            out.append(CategoryScore(name, sum(x.cents for x in mine), sum(x.max_cents for x in mine)))
    return tuple(out)


def score_unit(inputs: AssessmentInputs, method: AssessmentMethod, unit: str, klass: str,
               mine: list[tuple[OccurrenceRow, Evaluation]], *, provisional: bool) -> UnitAssessment:
    lines = _lines(_drafts(inputs, method, unit, klass, mine), inputs.evidence)
    counted = [line for line in lines if line.max_cents > 0]
    if not counted:
        return UnitAssessment(unit, klass, None, None, provisional, _categories(method, lines), tuple(lines))
    lines += _adjustment_lines(method, counted)
    total = sum(x.cents for x in lines)
    bounded = min(max(total, 0), 10_000)
    if bounded != total:  # shown as its own line, so the score stays the sum of its lines
        lines.append(Line("", ADJUSTMENTS_CATEGORY, None, unit, str(inputs.year), None, "bound",
                          bounded - total, 0))
    return UnitAssessment(unit, klass, bounded, method.band_of(bounded / 100), provisional,
                          _categories(method, lines), tuple(lines))


def _ranked(units: Iterable[UnitAssessment]) -> list[UnitAssessment]:
    """Competition ranking (1, 1, 3) within each class; unscored units have no rank."""
    out = []
    by_class: dict[str, list[UnitAssessment]] = defaultdict(list)
    for u in units:
        by_class[u.class_name].append(u)
    for members in by_class.values():
        members.sort(key=lambda u: (u.cents is None, -(u.cents or 0), u.unit))
        for u in members:
            rank = None if u.cents is None else 1 + sum(1 for o in members if (o.cents or 0) > u.cents)
            out.append(replace(u, rank=rank))
    return out


def assess(inputs: AssessmentInputs, method: AssessmentMethod, *, provisional: bool) -> Assessment:
    """Every unit with a duty in the method this year, scored and ranked within its class."""
    duties = method.duties()
    by_unit: dict[str, list[tuple[OccurrenceRow, Evaluation]]] = defaultdict(list)
    class_of: dict[str, str] = {}
    for row, ev in inputs.pairs:
        if assessment_year(row.period) != inputs.year or row.obligation_id not in duties:
            continue
        weights = duties[row.obligation_id][1].weights
        for unit in row.requirement.accountable:
            klass = method.class_of_kind(inputs.unit_kinds.get(unit, ""))
            if klass is not None and klass in weights:
                by_unit[unit].append((row, ev))
                class_of[unit] = klass
    scored = [score_unit(inputs, method, u, class_of[u], mine, provisional=provisional)
              for u, mine in by_unit.items()]
    order = {c.name: i for i, c in enumerate(method.classes)}
    ranked = sorted(_ranked(scored), key=lambda u: (order[u.class_name], u.rank or 10**6, u.unit))
    return Assessment(inputs.year, inputs.as_of, provisional, method.method.title, method.method.notice,
                      method.is_default, tuple(ranked))
