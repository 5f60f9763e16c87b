"""One joint event, several reports: records of a joint duty (结对双方) dated the same day are one event
reported by each side. Each record keeps its own review; the event counts once (``Tally(events=True)``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlmodel import Session, col

from shanhai.models.requirement import parse_requirement
from shanhai.models.statuses import RecordState
from shanhai.models.tables import CompletionRecord, Occurrence


def same_event_partners(
    reports: Iterable[tuple[int, int, date, str | None, bool]],
) -> dict[int, list[tuple[int, str | None]]]:
    """record id -> the other counting reports of its event: (id, submitted_by). ``reports`` are
    (record id, occurrence id, date, submitted_by, counts events) of records that count (not rejected)."""
    events: dict[tuple[int, date], list[tuple[int, str | None]]] = defaultdict(list)
    for record_id, occurrence_id, on, by, joint in reports:
        if joint:
            events[(occurrence_id, on)].append((record_id, by))
    return {
        rid: [other for other in group if other[0] != rid]
        for group in events.values()
        if len(group) > 1
        for rid, _ in group
    }


def load_same_event_partners(*, session: Session, occurrence_ids: Iterable[int]) -> dict[int, list[tuple[int, str | None]]]:
    """:func:`same_event_partners` for every counting record of these occurrences, in one query."""
    ids = sorted(set(occurrence_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(
            col(CompletionRecord.id),
            col(CompletionRecord.occurrence_id),
            col(CompletionRecord.date),
            col(CompletionRecord.submitted_by),
            col(Occurrence.requirement),
        )
        .join(Occurrence, col(Occurrence.id) == col(CompletionRecord.occurrence_id))
        .where(col(CompletionRecord.occurrence_id).in_(ids), col(CompletionRecord.state) != RecordState.REJECTED)
        .order_by(col(CompletionRecord.id))
    ).all()
    return same_event_partners((r, o, d, by, parse_requirement(req).counts_events) for r, o, d, by, req in rows)


def same_event_text(partners: list[tuple[int, str | None]]) -> str:
    """"同一活动，另见 #12（乐清市）": how the coordinator sees that two reports are one event."""
    others = "、".join(f"#{rid}（{by}）" if by else f"#{rid}" for rid, by in partners)
    return f"同一活动，另见 {others}；计为 1 次"
