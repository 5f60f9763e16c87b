"""Import completion records from CSV or Excel: every row is checked, and nothing is stored unless all pass."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

HEADERS = {
    "obligation": ("obligation", "事项编号", "事项"),
    "scope": ("scope", "范围", "结对"),
    "date": ("date", "日期", "完成日期"),
    "amount": ("amount", "金额"),
    "count": ("count", "数量"),
    "category": ("category", "类别"),
    "note": ("note", "说明", "备注"),
    "period": ("period", "年度", "归属年度"),
}
REQUIRED = ("obligation", "scope", "date")


class ImportError_(ValueError):  # noqa: N801  (ImportError is a builtin)
    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line in the file, row) for every non-blank data row: errors name the line a person sees."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from zipfile import BadZipFile

        from openpyxl import load_workbook
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            ws = load_workbook(path, read_only=True, data_only=True).active
        except (BadZipFile, InvalidFileException) as exc:
            raise ValueError(f"不是有效的 Excel 文件（{exc}）") from exc
        values = [
            ["" if v is None else (v.date().isoformat() if isinstance(v, datetime) else str(v)) for v in row]
            for row in ws.iter_rows(values_only=True)
        ]
    else:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            values = list(csv.reader(fh))
    if not values:
        return []
    head = [h.strip() for h in values[0]]
    mapping = {}
    for i, h in enumerate(head):
        for key, names in HEADERS.items():
            if h in names:
                mapping[i] = key
    missing = [k for k in REQUIRED if k not in mapping.values()]
    if missing:
        raise ImportError_(
            path,
            [
                f"第1行（表头）：缺少列 {', '.join(missing)}（可用：{', '.join(h for names in HEADERS.values() for h in names[:2])}）"
            ],
        )
    return [
        (line, {mapping[i]: v.strip() for i, v in enumerate(row) if i in mapping})
        for line, row in enumerate(values[1:], start=2)
        if any(c.strip() for c in row)
    ]


def import_file(app, path: Path, *, as_of: datetime) -> int:
    from shanhai.models.amounts import parse_amount
    from shanhai.models.errors import InputError
    from shanhai.models.records import record_completion

    try:
        rows = _rows(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, ImportError_):
            raise
        raise ImportError_(path, [f"无法读取：{exc}"]) from exc
    problems: list[str] = []
    with app.session() as session:
        for n, row in rows:
            try:
                try:
                    on = date.fromisoformat(row.get("date", ""))
                except ValueError:
                    raise InputError("date", f"无法识别的日期 '{row.get('date', '')}'") from None
                try:
                    count = int(row.get("count") or 1)
                except ValueError:
                    raise InputError("count", f"无法识别的数量 '{row.get('count')}'") from None
                with session.begin_nested():
                    record_completion(
                        app.catalogue,
                        session=session,
                        obligation_id=row.get("obligation", ""),
                        scope=row.get("scope", ""),
                        on=on,
                        as_of=as_of,
                        count=count,
                        amount_fen=parse_amount(row["amount"]) if row.get("amount") else None,
                        category=row.get("category") or None,
                        note=row.get("note") or None,
                        period=row.get("period") or None,
                        actor=f"import:{path.name}",
                    )
            except InputError as exc:
                problems.append(f"第{n}行 {exc.field}：{exc.message}")
        if problems:
            session.rollback()
            raise ImportError_(path, problems)
    return len(rows)
