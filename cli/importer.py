"""Import completion records from CSV or Excel: every row is checked, and nothing is stored unless all pass.

A file is imported once: its SHA-256 is kept with the batch (ImportBatch), and the same file again adds
nothing. Rows that repeat one another, or repeat a record already stored, are errors, by the one rule
of shanhai.models.duplicates (the same occurrence, date, amount, count and category, and no note or
file telling them apart), as on the CLI and the portal.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shanhai.cli.sheets import SheetError, read_table

if TYPE_CHECKING:
    from shanhai.models.duplicates import RecordFacts

MAX_IMPORT_BYTES = 20 * 1024 * 1024  # a ledger of ~100,000 rows; more is not a file a clerk keeps


class ImportError_(ValueError):  # noqa: N801  (ImportError is a builtin)
    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


@dataclass(frozen=True)
class ImportResult:
    rows: int  # records stored now (0 when the file was imported before)
    batch_id: int
    warnings: list[str] = field(default_factory=list)
    already_at: datetime | None = None  # set when this very file was imported before: nothing was added

    @property
    def summary(self) -> str:
        if self.already_at is not None:
            from shanhai.models.localtime import format_local

            return (
                f"该文件已于 {format_local(self.already_at)} 导入（{self.rows} 条，批次 #{self.batch_id}），"
                "未重复导入。"
            )
        return f"已导入 {self.rows} 条记录（批次 #{self.batch_id}）。"


def _read(path: Path) -> tuple[bytes, str]:
    from shanhai.models.errors import InputError
    from shanhai.models.evidence import read_regular_file

    try:
        data = read_regular_file(path, max_bytes=MAX_IMPORT_BYTES, field="file", what="导入文件")
    except InputError as exc:
        raise ImportError_(path, [exc.message]) from None
    return data, hashlib.sha256(data).hexdigest()


def _prior(session, digest: str):
    from sqlalchemy import select
    from sqlmodel import col

    from shanhai.models.tables import ImportBatch

    return session.execute(select(ImportBatch).where(col(ImportBatch.sha256) == digest)).scalar_one_or_none()


def _already(batch) -> ImportResult:
    return ImportResult(rows=batch.rows, batch_id=batch.id, already_at=batch.imported_at)


def import_file(app, path: Path, *, as_of: datetime, actor: str = "cli") -> ImportResult:
    """Store every row of the file as a record of one new ImportBatch, or nothing (ImportError_ lists
    every problem by the file's own line or cell)."""
    from sqlalchemy.exc import IntegrityError

    from shanhai.models.tables import ImportBatch

    data, digest = _read(path)
    with app.session() as session:
        prior = _prior(session, digest)
        if prior is not None:
            return _already(prior)
    try:
        table = read_table(data, path.name)
    except SheetError as exc:
        raise ImportError_(path, exc.problems) from None
    if not table.rows:
        raise ImportError_(path, ["没有可导入的数据行（第1行是表头，其下各行都是空的）"])
    try:
        with app.session() as session:
            batch = ImportBatch(sha256=digest, file_name=path.name[:255], rows=len(table.rows), actor=actor)
            session.add(batch)
            session.flush()  # the unique hash: a concurrent import of the same file stops here
            assert batch.id is not None
            problems = _store_rows(app, session, table, batch_id=batch.id, as_of=as_of, source=path.name)
            if problems:
                session.rollback()
                raise ImportError_(path, problems)
            batch_id = batch.id
    except IntegrityError:
        with app.session() as session:
            prior = _prior(session, digest)
        if prior is None:
            raise
        return _already(prior)
    return ImportResult(rows=len(table.rows), batch_id=batch_id, warnings=table.warnings)


def _store_rows(app, session, table, *, batch_id: int, as_of: datetime, source: str) -> list[str]:
    from shanhai.models.amounts import parse_count
    from shanhai.models.duplicates import facts_of
    from shanhai.models.errors import InputError
    from shanhai.models.grammar import parse_date
    from shanhai.models.records import record_completion

    problems: list[str] = []
    seen: dict[tuple, list[tuple[int, RecordFacts]]] = {}
    for row in table.rows:
        parsed: dict = {}
        for name, parse in (
            ("date", parse_date),
            ("count", parse_count),
            ("amount", lambda t: _parse_amount(t, table.amount_unit)),
        ):
            try:  # every unreadable cell of the row is reported, not only the first
                parsed[name] = parse(row.values.get(name, ""))
            except InputError as exc:
                problems.append(_where(row, exc))
        if len(parsed) < 3:
            continue
        on, count, fen = parsed["date"], parsed["count"], parsed["amount"]
        note = row.values.get("note") or None
        try:
            with session.begin_nested():
                rec = record_completion(
                    app.catalogue,
                    session=session,
                    obligation_id=row.values.get("obligation", ""),
                    scope=row.values.get("scope", ""),
                    on=on,
                    as_of=as_of,
                    count=count,
                    amount_fen=fen,
                    category=row.values.get("category") or None,
                    note=note,
                    period=row.values.get("period") or None,
                    actor=f"import:{source}",
                    import_batch_id=batch_id,
                    now=app.clock(),
                )
                facts = facts_of(rec)
                _check_duplicate(seen.get(facts.figures, []), facts)
        except InputError as exc:
            problems.append(_where(row, exc))
            continue
        seen.setdefault(facts.figures, []).append((row.line, facts))
    return problems


def _where(row, exc) -> str:
    """第N行 field（C5）：message — the file's own line, and the cell when the file has cells."""
    ref = f"（{row.cells[exc.field]}）" if exc.field in row.cells else ""
    return f"第{row.line}行 {exc.field}{ref}：{exc.message}"


def _parse_amount(text: str, unit: str | None) -> int | None:
    from shanhai.models.amounts import parse_amount
    from shanhai.models.errors import InputError

    if not text:
        return None
    try:
        return parse_amount(text, unit=unit)
    except InputError as exc:
        if unit is None and exc.message.startswith("金额须注明单位"):
            raise InputError("amount", f"{exc.message}（或在表头写明单位，如“金额（万元）”）") from None
        raise


def _check_duplicate(earlier_rows: list[tuple[int, RecordFacts]], facts: RecordFacts) -> None:
    """A row repeating an earlier row of the file (a stored record is refused by record_completion)."""
    from shanhai.models.duplicates import identical
    from shanhai.models.errors import InputError

    for line, other in earlier_rows:
        if identical(facts, other):
            raise InputError("record", f"与第{line}行重复（同一期次、日期、金额、数量、类别）")
