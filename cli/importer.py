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

from shanhai.cli.import_rows import validate_rows
from shanhai.cli.import_writer import remove_abandoned, write_batch
from shanhai.cli.sheets import SheetError, read_table

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
    in_progress: bool = False  # this very file is being imported by another process now: nothing was added

    @property
    def summary(self) -> str:
        if self.in_progress and self.already_at is not None:
            from shanhai.models.localtime import format_local

            return (
                f"该文件正由另一进程导入（{self.rows} 条，批次 #{self.batch_id}，"
                f"开始于 {format_local(self.already_at)}），未重复导入；完成后即可查到。"
            )
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


def _already(batch) -> ImportResult:
    busy = batch.completed_at is None  # another import is writing this very file right now
    return ImportResult(rows=batch.rows, batch_id=batch.id, already_at=batch.imported_at, in_progress=busy)


def import_file(app, path: Path, *, as_of: datetime, actor: str = "cli") -> ImportResult:
    """Store every row of the file as a record of one new ImportBatch, or nothing (ImportError_ lists
    every problem by the file's own line or cell).

    Every row is checked first, reading the database a few times in all (never once per row); then the
    records are written in short transactions under an incomplete batch, and one last short commit makes
    them count. The write lock is never held for long, so the portal and ``record`` keep working."""
    from shanhai.models.import_batches import batch_of_file

    data, digest = _read(path)
    remove_abandoned(app)
    with app.read_session() as session:
        prior = batch_of_file(session=session, sha256=digest)
    if prior is not None:
        return _already(prior)
    try:
        table = read_table(data, path.name)
    except SheetError as exc:
        raise ImportError_(path, exc.problems) from None
    if not table.rows:
        raise ImportError_(path, ["没有可导入的数据行（第1行是表头，其下各行都是空的）"])
    records, problems = validate_rows(app, table, as_of=as_of, source=path.name, parse_cells=_parse_cells)
    if problems:
        raise ImportError_(path, problems)
    stored = write_batch(app, records, sha256=digest, file_name=path.name[:255], actor=actor)
    if isinstance(stored, int):
        return ImportResult(rows=len(records), batch_id=stored, warnings=table.warnings)
    return _already(stored)


def _parse_cells(row, amount_unit: str | None) -> tuple[dict, list[str]]:
    """A row's date, count and amount; every unreadable cell is reported, not only the first."""
    from shanhai.models.amounts import parse_count
    from shanhai.models.errors import InputError
    from shanhai.models.grammar import parse_date

    parsed: dict = {}
    problems: list[str] = []
    for name, parse in (
        ("date", parse_date),
        ("count", parse_count),
        ("amount", lambda t: _parse_amount(t, amount_unit)),
    ):
        try:
            parsed[name] = parse(row.values.get(name, ""))
        except InputError as exc:
            problems.append(where(row, exc))
    return parsed, problems


def where(row, exc) -> str:
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


