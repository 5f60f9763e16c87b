"""Checking every row of an import before anything is written, with a few set-based reads in all.

The rules are the ones ``record`` applies (models/records.py owns them); only the lookups differ: the
occurrences of the file's obligations and the stored records of its occurrences are read once each, then
every row is checked in memory. Rows that repeat one another, or a stored record that is not rejected,
are errors by the one rule of models/duplicates.py (same occurrence, date, amount, count and category,
and no note telling them apart; imported rows carry no evidence), here as an index of dict lookups.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

RecordKey = tuple[int, date, int | None, int, str | None]  # occurrence, date, amount, count, category


def validate_rows(
    app, table, *, as_of: datetime, source: str, parse_cells: Callable
) -> tuple[list[dict[str, Any]], list[str]]:
    """(the records to insert, every problem by line/cell); the records are only good when no problems."""
    from shanhai.cli.importer import where
    from shanhai.models.errors import InputError
    from shanhai.models.localtime import local_date

    problems: list[tuple[int, str]] = []  # by line, so that they read in the file's order
    parsed = []
    for row in table.rows:
        cells, errors = parse_cells(row, table.amount_unit)
        problems += [(row.line, e) for e in errors]
        if not errors:
            parsed.append((row, cells))
    today = local_date(min(as_of, app.clock()))
    obligations = {row.values.get("obligation", "") for row, _ in parsed}
    with app.read_session() as session:
        checker = _RowChecker(app.catalogue, _occurrences(session, obligations), today)
        resolved = []
        for row, cells in parsed:
            try:
                resolved.append((row, checker.check(row, cells)))
            except InputError as exc:
                problems.append((row.line, where(row, exc)))
        stored = _stored_records(session, {rec["occurrence_id"] for _, rec in resolved})
    records = _without_duplicates(resolved, stored, problems)
    now = app.clock()
    for rec in records:
        rec.update(state="submitted", submitted_by=f"import:{source}", created_at=now)
    return records, [text for _, text in sorted(problems, key=lambda p: p[0])]


class _RowChecker:
    """The record rules for one row, against occurrences read once (each requirement parsed once)."""

    def __init__(self, cat, occurrences: dict, today: date):
        self.cat, self.occurrences, self.today = cat, occurrences, today
        self.windows: dict[int, tuple[date, date, bool]] = {}
        self.keys: dict[tuple, tuple[str, str, str]] = {}  # the catalogue's answer depends on the year only

    def check(self, row, cells: dict) -> dict[str, Any]:
        from shanhai.models.records import (
            check_figures,
            check_in_window,
            check_kind,
            occurrence_key,
            occurrence_window,
        )

        values = row.values
        on, count, fen = cells["date"], cells["count"], cells["amount"]
        ob_id, category = values.get("obligation", ""), values.get("category") or None
        period = values.get("period") or None
        check_figures(on=on, today=self.today, count=count, amount_fen=fen)
        scope = values.get("scope", "")
        key = self.keys.get((ob_id, scope, on.year, period))
        if key is None:
            key = occurrence_key(self.cat, obligation_id=ob_id, scope=scope, on=on, period=period)
            self.keys[(ob_id, scope, on.year, period)] = key
        occ = self.occurrences.get(key)
        window = None
        if occ is not None:
            window = self.windows.get(occ.id) or self.windows.setdefault(occ.id, occurrence_window(occ))
        occ = check_in_window(self.cat, occ, key, on=on, period=period, window=window)
        check_kind(self.cat, ob_id, amount_fen=fen, category=category)
        return {"occurrence_id": occ.id, "date": on, "count": count, "amount_fen": fen,
                "category": category, "note": values.get("note") or None, "_line": row.line}


def _occurrences(session, obligations: set[str]) -> dict:
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import Occurrence

    found = session.execute(select(Occurrence).where(col(Occurrence.obligation_id).in_(sorted(obligations))))
    return {(o.obligation_id, o.scope, o.period): o for o in found.scalars()}


def _stored_records(session, occurrence_ids: set[int]) -> _Seen:
    """Stored records that count (not rejected, not of an unfinished import) of these occurrences."""
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.import_batches import visible_records
    from shanhai.models.statuses import RecordState
    from shanhai.models.tables import CompletionRecord as R

    rows = session.execute(
        select(col(R.id), col(R.occurrence_id), col(R.date), col(R.amount_fen), col(R.count), col(R.category),
               col(R.note))
        .where(col(R.occurrence_id).in_(sorted(occurrence_ids)), col(R.state) != RecordState.REJECTED,
               visible_records())
        .order_by(col(R.id))
    )
    stored = _Seen()
    for rid, occ, on, fen, count, category, note in rows:
        stored.add((occ, on, fen, count, category), note, rid)
    return stored


class _Seen:
    """Records by figures, then by note: a record repeats an earlier one with the same figures when
    either has no note or both notes are the same (after trimming). Each check is a few dict lookups."""

    def __init__(self) -> None:
        self.by_key: dict[RecordKey, dict[str | None, int]] = {}

    def add(self, key: RecordKey, note: str | None, ref: int) -> None:
        self.by_key.setdefault(key, {}).setdefault(_note_key(note), ref)

    def earlier(self, key: RecordKey, note: str | None) -> int | None:
        """The first line or id this record repeats, or None."""
        notes = self.by_key.get(key)
        if not notes:
            return None
        mine = _note_key(note)
        if mine is None:
            return min(notes.values())
        hits = [ref for ref in (notes.get(mine), notes.get(None)) if ref is not None]
        return min(hits) if hits else None


def _note_key(note: str | None) -> str | None:
    from shanhai.models.duplicates import distinguishing

    return distinguishing(note)


def _without_duplicates(resolved, stored: _Seen, problems: list[tuple[int, str]]) -> list[dict[str, Any]]:
    from shanhai.cli.importer import where
    from shanhai.models.duplicates import same_record_message
    from shanhai.models.errors import InputError

    seen = _Seen()
    records = []
    for row, rec in resolved:
        key = (rec["occurrence_id"], rec["date"], rec["amount_fen"], rec["count"], rec["category"])
        note, line = rec["note"], rec.pop("_line")
        earlier, stored_id = seen.earlier(key, note), stored.earlier(key, note)
        if earlier is not None:
            exc = InputError("record", f"与第{earlier}行重复（同一期次、日期、金额、数量、类别）")
        elif stored_id is not None:
            exc = InputError("record", same_record_message(stored_id))
        if earlier is not None or stored_id is not None:
            problems.append((row.line, where(row, exc)))
            continue
        seen.add(key, note, line)
        records.append(rec)
    return records
