"""How far an occurrence has come: its records tallied against its requirement (pure)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shanhai.models.catalogue_specs import FEN_PER_WAN, FEN_PER_YI
from shanhai.models.requirement import PaceStep, Requirement


@dataclass(frozen=True)
class RecordTotal:
    """Records of one occurrence summed per day, category and review state."""

    occurrence_id: int
    on: Any  # datetime.date
    category: str | None
    state: str
    count: int
    amount_fen: int
    largest: int | None = None  # the largest single record's count that day (None: as ``count``)


@dataclass
class Tally:
    """Records summed. With ``events`` (a joint duty), the reports of one date describe the same events:
    the date counts as its largest single report, so both sides reporting one meeting is one meeting
    with two reporters, and one report of two meetings that day is still two."""

    count: int = 0
    amount_fen: int = 0
    by_category: dict[str | None, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    events: bool = False
    days: dict[Any, int] = field(default_factory=dict)  # date -> the events already counted for it

    def add(self, t: RecordTotal) -> None:
        count = t.count
        if self.events:
            held = t.largest if t.largest is not None else t.count
            counted = self.days.get(t.on, 0)
            count = max(held - counted, 0)
            self.days[t.on] = counted + count
        self.count += count
        self.amount_fen += t.amount_fen
        cell = self.by_category[t.category]
        cell[0] += count
        cell[1] += t.amount_fen

    def measure(self, req: Requirement) -> float:
        """The quantity the target is stated in: 元-amounts in fen, or counts (人次, 个)."""
        return self.amount_fen if req.measures_money else self.count


def is_satisfied(tally: Tally, req: Requirement) -> bool:
    if req.plan is not None:
        return all(tally.by_category.get(kind, [0, 0])[1] >= fen for kind, fen in req.plan.items())
    if req.min_count is not None and tally.count < req.min_count:
        return False
    if req.target_fen is not None and tally.amount_fen < req.target_fen:
        return False
    if req.target_quantity is not None and tally.count < req.target_quantity:
        return False
    for share in req.shares:
        cell = tally.by_category.get(share.category, [0, 0])
        if cell[0] < share.min * tally.count or cell[1] < share.min * tally.amount_fen:
            return False
    return True


def pace_met(tally: Tally, req: Requirement, step: PaceStep) -> bool:
    if step.count is not None:
        return tally.count >= step.count
    return tally.measure(req) >= (step.share or 0) * req.full_measure


def progress_of(tally: Tally, req: Requirement) -> dict[str, Any]:
    """The `progress` object of `status --json` (a documented contract)."""
    out: dict[str, Any] = {}
    if req.plan is not None:
        for kind, fen in req.plan.items():
            actual = tally.by_category.get(kind, [0, 0])[1]
            out[kind] = {"actual": round(actual / FEN_PER_WAN, 2), "planned": round(fen / FEN_PER_WAN, 2)}
        return out
    if req.min_count is not None:
        out.update(done=tally.count, required=req.min_count)
    target = req.target
    if target:
        if req.measures_money:
            per_unit = FEN_PER_YI if target.unit == "亿元" else FEN_PER_WAN
            out.update(amount=round(tally.amount_fen / per_unit, 4), target=target.value, unit=target.unit)
        else:
            out.update(amount=tally.count, target=target.value, unit=target.unit)
    for share in req.shares:
        cell = tally.by_category.get(share.category, [0, 0])
        out.setdefault("shares", []).append(
            {
                "category": share.category,
                "min": share.min,
                "count_share": round(cell[0] / tally.count, 4) if tally.count else 0.0,
                "amount_share": round(cell[1] / tally.amount_fen, 4) if tally.amount_fen else 0.0,
            }
        )
    return out


PLAN_KIND_LABELS = {"government": "政府性", "attraction": "招商"}


def progress_text(progress: dict[str, Any]) -> str:
    """``1/2``, ``23.5/40 亿元``, ``政府性 3,000/3,450 万元`` …, or ``—``."""
    parts = []
    if "required" in progress:
        parts.append(f"{progress['done']}/{progress['required']}")
    if "target" in progress:
        parts.append(f"{_fmt(progress['amount'])}/{_fmt(progress['target'])} {progress['unit']}")
    parts += _share_parts(progress)
    for kind, label in PLAN_KIND_LABELS.items():
        if kind in progress:
            cell = progress[kind]
            parts.append(f"{label} {_fmt(cell['actual'])}/{_fmt(cell['planned'])} 万元")
    return "；".join(parts) or "—"


def progress_phrase(progress: dict[str, Any], kind: str) -> str:
    """The progress as a message's reader takes it, in the duty's own unit: ``已到位 500 万元 / 目标
    1000 万元``, ``已完成 1 次 / 须 2 次``, ``尚未上报完成情况`` (a deadline); never a bare ``0/1``."""
    parts = []
    if "target" in progress:
        unit = progress["unit"]
        verb = "已到位" if unit in ("亿元", "万元") else "已完成"
        parts.append(f"{verb} {_fmt(progress['amount'])} {unit} / 目标 {_fmt(progress['target'])} {unit}")
    elif "required" in progress:
        if kind == "annual_count":
            parts.append(f"已完成 {progress['done']} 次 / 须 {progress['required']} 次")
        elif kind in ("annual_deadline", "one_off") and progress["required"] == 1:
            parts.append("已上报完成情况" if progress["done"] else "尚未上报完成情况")
        else:
            parts.append(f"已完成 {progress['done']} / 须 {progress['required']}")
    parts += _share_parts(progress)
    for plan_kind, label in PLAN_KIND_LABELS.items():
        if plan_kind in progress:
            cell = progress[plan_kind]
            parts.append(f"{label} 已完成 {_fmt(cell['actual'])} 万元 / 计划 {_fmt(cell['planned'])} 万元")
    return "；".join(parts) or "—"


def _share_parts(progress: dict[str, Any]) -> list[str]:
    """``八大产业占比 项目50%/资金75%（须≥65%）`` for each share rule, in the table and in messages alike."""
    return [
        f"{share['category']}占比 项目{share['count_share']:.0%}/资金{share['amount_share']:.0%}（须≥{share['min']:.0%}）"
        for share in progress.get("shares", [])
    ]


def _fmt(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".") if isinstance(x, float) else f"{x:,}"
