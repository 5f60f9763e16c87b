"""Read an import file (CSV or .xlsx) into rows of text, naming every problem by the file's own line or cell.

What cannot be read for certain is an error, never a guess: two columns meaning the same thing, a
formula saved without its value, an error value (#REF!), a merged cell in the data, an encoding that
is neither UTF-8 nor GB18030. Columns the importer does not know are reported, not silently dropped.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time

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
# an amount column may state its unit once in the header: 金额（万元）, amount (亿元)
_AMOUNT_HEADER = re.compile(r"^(金额|amount)\s*[（(]\s*(亿元|亿|万元|万|元)\s*[)）]$")
_LOOKS_LIKE_AMOUNT = re.compile(r"^(金额|amount)")
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # an .xlsx that inflates past this is refused before parsing
MAX_ROWS = 100_000  # data rows; a sheet "used" down to row 1,048,576 by formatting alone is refused, not expanded
SAVE_AS_UTF8 = "请在 Excel/WPS 中“另存为 → CSV UTF-8（逗号分隔）(*.csv)”后再导入"


class SheetError(ValueError):
    """The file cannot be read as a table of records; every problem names its line or cell."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Row:
    line: int  # the file's own line (CSV) or row number (Excel)
    values: dict[str, str]  # column key -> text
    cells: dict[str, str] = field(default_factory=dict)  # column key -> cell ("C5"), Excel only


@dataclass
class Table:
    rows: list[Row]
    encoding: str | None = None  # how a CSV was decoded ("UTF-8", "GB18030")
    amount_unit: str | None = None  # the unit an amount header states
    warnings: list[str] = field(default_factory=list)


def read_table(data: bytes, name: str) -> Table:
    lower = name.lower()
    if lower.endswith(".xls") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise SheetError([f"不支持旧版 Excel（.xls）格式：请另存为 .xlsx，或{SAVE_AS_UTF8.removeprefix('请')}"])
    if lower.endswith((".xlsx", ".xlsm")) or data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    return _read_csv(data)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _column_letter(i: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(i + 1)


def _map_header(
    head: list[str], refs: list[str], data_columns: set[int]
) -> tuple[dict[int, str], str | None, list[str], list[str]]:
    """(column -> key, unit of the amount column, problems, warnings)."""
    by_name = {_norm(n): key for key, names in HEADERS.items() for n in names}
    mapping: dict[int, str] = {}
    seen: dict[str, list[int]] = {}
    unit, problems, warnings = None, [], []
    for i, h in enumerate(head):
        text = _norm(h)
        key = by_name.get(text)
        m = _AMOUNT_HEADER.match(text)
        if m:
            key, unit = "amount", m[2]
        elif key is None and _LOOKS_LIKE_AMOUNT.match(text):
            problems.append(f"第1行（表头）{refs[i]}：无法识别的金额列“{h}”：单位须写作 金额（元）、金额（万元）或 金额（亿元）")
            continue
        if key is None:
            if text:
                warnings.append(f"未识别的列“{h}”（{refs[i]}）已忽略")
            elif i in data_columns:
                warnings.append(f"{refs[i]} 列没有表头，其中的数据已忽略")
            continue
        mapping[i] = key
        seen.setdefault(key, []).append(i)
    for key, cols in seen.items():
        if len(cols) > 1:
            named = "、".join(f"“{head[i]}”（{refs[i]}）" for i in cols)
            problems.append(f"第1行（表头）：列 {named} 都表示 {key}，只能保留一列")
    missing = [k for k in REQUIRED if k not in seen]
    if missing:
        usable = ", ".join(h for names in HEADERS.values() for h in names[:2])
        problems.append(f"第1行（表头）：缺少列 {', '.join(missing)}（可用：{usable}）")
    if warnings:
        usable = "、".join(names[1] for names in HEADERS.values())
        warnings[-1] += f"（可用的列：{usable}；金额列可注明单位，如 金额（万元））"
    return mapping, unit, problems, warnings


def _padded(head: list[str], data_columns: set[int]) -> list[str]:
    """The header as wide as the data, so a column with data but no header is reported."""
    return head + [""] * (max(data_columns, default=-1) + 1 - len(head))


def _too_many(rows: int) -> str:
    more = "至少 " if rows > MAX_ROWS + 1 else ""
    return f"文件有{more}{rows} 行数据，超过单次导入上限 {MAX_ROWS} 行（若多为带格式的空行，请删除后再导入）"


# --------------------------------------------------------------------------- CSV


def _decode(data: bytes) -> tuple[str, str]:
    if b"\x00" in data:
        raise SheetError([f"文件含 NUL 字节，可能是 UTF-16 文本或二进制文件：{SAVE_AS_UTF8}"])
    for codec, label in (("utf-8-sig", "UTF-8"), ("gb18030", "GB18030")):
        try:
            return data.decode(codec), label
        except UnicodeDecodeError:
            continue
    raise SheetError([f"无法识别文件编码（既不是 UTF-8 也不是 GB18030/GBK）：{SAVE_AS_UTF8}"])


def _read_csv(data: bytes) -> Table:
    text, encoding = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            limit = csv.field_size_limit()
            reason = (
                f"有字段超过 {limit} 个字符的上限，常因引号不成对（一个“\"”没有闭合）"
                if "field larger" in str(exc)
                else f"无法按 CSV 读取（{exc}）"
            )
            raise SheetError([f"第{start}行：{reason}"]) from None
        lines.append((start, row))
        if len(lines) > MAX_ROWS + 1:
            raise SheetError([_too_many(len(lines) - 1)])
    if not lines:
        raise SheetError(["文件是空的：没有表头，也没有数据行"])
    data_columns = {i for _, row in lines[1:] for i, v in enumerate(row) if v.strip()}
    head = _padded(lines[0][1], data_columns)
    refs = [f"第{i + 1}列（{_column_letter(i)}）" for i in range(len(head))]
    mapping, unit, problems, warnings = _map_header(head, refs, data_columns)
    if problems:
        raise SheetError(problems)
    rows = [
        Row(line, {mapping[i]: v.strip() for i, v in enumerate(row) if i in mapping})
        for line, row in lines[1:]
        if any(c.strip() for c in row)
    ]
    if encoding != "UTF-8":
        warnings.insert(0, f"已按 {encoding}（简体中文 Windows 的默认编码）读取此 CSV 文件")
    return Table(rows, encoding, unit, warnings)


# --------------------------------------------------------------------------- Excel


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def _open_workbook(data: bytes, *, data_only: bool):
    from zipfile import BadZipFile, ZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > MAX_UNZIPPED_BYTES:
                raise SheetError([f"Excel 文件解压后超过 {MAX_UNZIPPED_BYTES // (1024 * 1024)} MB，拒绝读取"])
        return load_workbook(io.BytesIO(data), data_only=data_only)
    except (BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        if isinstance(exc, SheetError):
            raise
        raise SheetError([f"不是有效的 Excel（.xlsx）文件（{exc}）"]) from exc


def _read_xlsx(data: bytes) -> Table:
    values_wb = _open_workbook(data, data_only=True)  # cached results of formulas
    formulas_wb = _open_workbook(data, data_only=False)  # the formulas themselves
    ws = values_wb.active
    wf = formulas_wb[ws.title]
    warnings = []
    others = [s.title for s in values_wb.worksheets if s.title != ws.title and s.max_row > 1]
    if others:
        warnings.append(f"只读取了工作表“{ws.title}”；其他工作表（{'、'.join(others)}）未导入")
    if ws.max_row > MAX_ROWS + 1:
        raise SheetError([_too_many(ws.max_row - 1)])
    grid = list(ws.iter_rows())
    if not grid:
        raise SheetError(["工作表是空的：没有表头，也没有数据行"])
    data_columns = {c.column - 1 for row in grid[1:] for c in row if c.value not in (None, "")}
    head = _padded([_cell_text(c.value) for c in grid[0]], data_columns)
    refs = [f"{_column_letter(i)}1" for i in range(len(head))]
    mapping, unit, problems, header_warnings = _map_header(head, refs, data_columns)
    warnings += header_warnings
    if problems:
        raise SheetError(problems)
    wanted = {i + 1 for i in mapping}  # 1-based columns that are read
    for merged in ws.merged_cells.ranges:
        if any(merged.min_col <= col <= merged.max_col for col in wanted):
            where = "表头" if merged.max_row == 1 else "数据行"
            problems.append(
                f"第{merged.min_row}行 {merged.coord}：{where}中有合并单元格（合并后只有左上角有值），"
                "请取消合并并在每个单元格中填写"
            )
    rows = []
    for row in grid[1:]:
        r = row[0].row
        values, cells = {}, {}
        for c in row:
            if c.column not in wanted:
                continue
            key, ref = mapping[c.column - 1], c.coordinate
            formula = wf[ref]
            if c.data_type == "e":
                problems.append(f"第{r}行 {ref}：单元格是错误值 {c.value}，请先在 Excel 中改正")
            elif formula.data_type == "f" and c.value is None:
                problems.append(
                    f"第{r}行 {ref}：公式 {getattr(formula.value, 'text', formula.value)} 没有保存计算结果（文件不是由 Excel 保存的？）："
                    "请在 Excel 中打开并保存，或复制后“选择性粘贴 → 数值”"
                )
            values[key], cells[key] = _cell_text(c.value), ref
        if any(values.values()):
            rows.append(Row(r, values, cells))
    if problems:
        raise SheetError(problems)
    return Table(rows, None, unit, warnings)
