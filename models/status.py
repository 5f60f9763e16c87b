"""The status of occurrences at an instant (SPEC §4), evaluated in bulk and purely.

An occurrence knows its own status at `as_of`, as a Healthchecks check knows get_status():
the inputs are the occurrence rows, the records aggregated per (occurrence, date, category, state),
the waived occurrence ids, `as_of` and the working calendar. No I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shanhai.models.catalogue import FEN_PER_WAN, FEN_PER_YI
from shanhai.models.ladder import ReminderLadder, escalation_level
from shanhai.models.localtime import local_date
from shanhai.models.working_days import WorkingCalendar

STATUSES = ("done", "done_late", "on_track", "due_soon", "behind_pace", "overdue", "waived")
LIGHTS = {
    "done": "green",
    "done_late": "green",
    "on_track": "green",
    "due_soon": "yellow",
    "behind_pace": "yellow",
    "overdue": "red",
    "waived": "grey",
}
LABELS = {
    "done": "按期完成",
    "done_late": "逾期完成",
    "on_track": "进展正常",
    "due_soon": "即将到期",
    "behind_pace": "进度滞后",
    "overdue": "已逾期",
    "waived": "已豁免",
}
COUNTING_STATES = ("submitted", "verified")  # a rejected record stops counting


@dataclass(frozen=True)
class OccurrenceRow:
    id: int
    obligation_id: str
    scope: str
    period: str
    period_start: date
    due: date
    requirement: dict[str, Any]


@dataclass(frozen=True)
class RecordTotal:
    """Records of one occurrence summed per day, category and review state."""

    occurrence_id: int
    on: date
    category: str | None
    state: str
    count: int
    amount_fen: int


@dataclass
class _Tally:
    count: int = 0
    amount_fen: int = 0
    by_category: dict[str | None, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def add(self, t: RecordTotal) -> None:
        self.count += t.count
        self.amount_fen += t.amount_fen
        cell = self.by_category[t.category]
        cell[0] += t.count
        cell[1] += t.amount_fen


@dataclass(frozen=True)
class Evaluation:
    occurrence_id: int
    obligation_id: str
    scope: str
    period: str
    due: date
    status: str
    progress: dict[str, Any]
    escalation_level: int
    satisfied_on: date | None
    pending: bool  # satisfied only thanks to records a coordinator has not verified yet

    @property
    def light(self) -> str:
        return LIGHTS[self.status]

    @property
    def label(self) -> str:
        return LABELS[self.status]

    @property
    def progress_text(self) -> str:
        return progress_text(self.progress)

    def as_item(self, title: str, clause: str | None) -> dict[str, Any]:
        """The `shanhai status --json` item (field names are a documented contract)."""
        return {
            "id": self.occurrence_id,
            "obligation": self.obligation_id,
            "title": title,
            "clause": clause,
            "scope": self.scope,
            "period": self.period,
            "due": self.due.isoformat(),
            "status": self.status,
            "light": self.light,
            "progress": self.progress,
            "escalation_level": self.escalation_level,
            "pending": self.pending,
            "satisfied_on": self.satisfied_on.isoformat() if self.satisfied_on else None,
        }


def progress_text(progress: dict[str, Any]) -> str:
    parts = []
    if "required" in progress:
        parts.append(f"{progress['done']}/{progress['required']}")
    if "target" in progress:
        parts.append(f"{_fmt(progress['amount'])}/{_fmt(progress['target'])} {progress['unit']}")
    for share in progress.get("shares", []):
        parts.append(
            f"{share['category']}占比 项目{share['count_share']:.0%}/资金{share['amount_share']:.0%}（须≥{share['min']:.0%}）"
        )
    for kind, label in (("government", "政府性"), ("attraction", "招商")):
        if kind in progress:
            cell = progress[kind]
            parts.append(f"{label} {_fmt(cell['actual'])}/{_fmt(cell['planned'])} 万元")
    return "；".join(parts) or "—"


def _fmt(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") if isinstance(x, float) else f"{x:,}"


def _measure(tally: _Tally, req: dict[str, Any]) -> float:
    """The quantity the target is stated in: 元-amounts in fen, or counts (人次, 个)."""
    return tally.amount_fen if "target_fen" in req else tally.count


def is_satisfied(tally: _Tally, req: dict[str, Any]) -> bool:
    if req.get("plan") is not None:
        plan = req["plan"]
        return all(tally.by_category.get(kind, [0, 0])[1] >= fen for kind, fen in plan.items())
    if req.get("min_count") is not None and tally.count < req["min_count"]:
        return False
    if "target_fen" in req and tally.amount_fen < req["target_fen"]:
        return False
    if "target_quantity" in req and tally.count < req["target_quantity"]:
        return False
    for share in req.get("shares") or []:
        cell = tally.by_category.get(share["category"], [0, 0])
        if cell[0] < share["min"] * tally.count or cell[1] < share["min"] * tally.amount_fen:
            return False
    return True


def progress_of(tally: _Tally, req: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if req.get("plan") is not None:
        for kind, fen in req["plan"].items():
            actual = tally.by_category.get(kind, [0, 0])[1]
            out[kind] = {"actual": round(actual / FEN_PER_WAN, 2), "planned": round(fen / FEN_PER_WAN, 2)}
        return out
    if req.get("min_count") is not None:
        out.update(done=tally.count, required=req["min_count"])
    target = req.get("target")
    if target:
        if "target_fen" in req:
            per_unit = FEN_PER_YI if target["unit"] == "亿元" else FEN_PER_WAN
            out.update(
                amount=round(tally.amount_fen / per_unit, 4), target=target["value"], unit=target["unit"]
            )
        else:
            out.update(amount=tally.count, target=target["value"], unit=target["unit"])
    for share in req.get("shares") or []:
        cell = tally.by_category.get(share["category"], [0, 0])
        out.setdefault("shares", []).append(
            {
                "category": share["category"],
                "min": share["min"],
                "count_share": round(cell[0] / tally.count, 4) if tally.count else 0.0,
                "amount_share": round(cell[1] / tally.amount_fen, 4) if tally.amount_fen else 0.0,
            }
        )
    return out


def _pace_met(tally: _Tally, req: dict[str, Any], milestone: dict[str, Any]) -> bool:
    if milestone.get("count") is not None:
        return tally.count >= milestone["count"]
    full = req.get("target_fen") or req.get("target_quantity") or 0
    return _measure(tally, req) >= milestone["share"] * full


def evaluate(
    occurrences: Iterable[OccurrenceRow],
    totals: Iterable[RecordTotal],
    waived: Collection[int],
    *,
    as_of: datetime,
    cal: WorkingCalendar,
) -> list[Evaluation]:
    today = local_date(as_of)
    by_occurrence: dict[int, list[RecordTotal]] = defaultdict(list)
    for t in totals:
        if t.state in COUNTING_STATES and t.on <= today:
            by_occurrence[t.occurrence_id].append(t)
    ladders: dict[str, ReminderLadder] = {}
    out = []
    for occ in occurrences:
        req = occ.requirement
        key = repr(req.get("ladder"))
        ladder = ladders.get(key) or ladders.setdefault(key, ReminderLadder.from_mapping(req.get("ladder")))
        out.append(_evaluate_one(occ, by_occurrence.get(occ.id, []), occ.id in waived, today, cal, ladder))
    return out


def _evaluate_one(
    occ: OccurrenceRow,
    totals: list[RecordTotal],
    waived: bool,
    today: date,
    cal: WorkingCalendar,
    ladder: ReminderLadder,
) -> Evaluation:
    req = occ.requirement
    window_end = date.fromisoformat(req["window_end"]) if req.get("window_end") else None
    rows = sorted(
        (t for t in totals if t.on >= occ.period_start and (window_end is None or t.on <= window_end)),
        key=lambda t: t.on,
    )
    everything, verified = _Tally(), _Tally()
    satisfied_on = verified_on = None
    for i, t in enumerate(rows):
        everything.add(t)
        if t.state == "verified":
            verified.add(t)
        last_of_day = i + 1 == len(rows) or rows[i + 1].on != t.on
        if last_of_day:
            if satisfied_on is None and is_satisfied(everything, req):
                satisfied_on = t.on
            if verified_on is None and is_satisfied(verified, req):
                verified_on = t.on
    level = 0
    if waived:
        status = "waived"
    elif satisfied_on is not None:
        status = "done" if satisfied_on <= occ.due else "done_late"
    elif today > occ.due:
        status = "overdue"
        # rungs: 1 units + coordinator, 2 supervisors, 3 the weekly repeats that follow (not a repeat counter)
        level = min(escalation_level(occ.due, today, cal, ladder), len(ladder.overdue_working_days) + 1)
    elif (occ.due - today).days <= max(ladder.before_calendar_days, default=0):
        status = "due_soon"
    elif any(date.fromisoformat(m["by"]) < today and not _pace_met(everything, req, m) for m in req["pace"]):
        status = "behind_pace"
    else:
        status = "on_track"
    return Evaluation(
        occurrence_id=occ.id,
        obligation_id=occ.obligation_id,
        scope=occ.scope,
        period=occ.period,
        due=occ.due,
        status=status,
        progress=progress_of(everything, req),
        escalation_level=level,
        satisfied_on=satisfied_on,
        pending=satisfied_on is not None and verified_on is None,
    )
