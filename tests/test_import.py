"""`shanhai import FILE`, hardened: a file is imported once, duplicates and colliding columns are errors,
unreadable cells are named, Chinese Office's CSV encodings are read, and every problem names the file's
own line or cell while nothing is stored."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from shanhai.models.tables import CompletionRecord, ImportBatch
from tests.conftest import (
    count_rows,
    industrial_investment,
    joint_meeting,
    make_catalogue,
)

PAIR = "泰顺-鹿城"
AS_OF = ["--as-of", "2026-03-02"]
HEADER = ["obligation", "scope", "date", "amount", "category", "count", "note"]
MEETING = ["joint-meeting", PAIR, "2026-01-20", "", "", "1", "第一次联席会议"]
INVEST = ["industrial-investment", "全市", "2026-02-10", "500万", "八大产业", "", ""]


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
    return result


def failed(result):
    assert result.exit_code == 1, f"exit {result.exit_code}\n{result.output}"
    assert "Traceback" not in result.output
    assert "未导入任何记录" in result.stderr
    return result.stderr


def stored(sh) -> list[CompletionRecord]:
    from shanhai.db import session_scope

    with session_scope(sh.database_url) as s:
        return list(s.execute(select(CompletionRecord).order_by(CompletionRecord.id)).scalars())


def assert_nothing_imported(sh):
    assert stored(sh) == []
    assert count_rows(sh.database_url, ImportBatch) == 0


def write_csv(path: Path, rows, header=HEADER, encoding="utf-8") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows, header=HEADER, edit=None) -> Path:
    wb = Workbook()
    for row in [header, *rows]:
        wb.active.append(row)
    if edit:
        edit(wb.active)
    wb.save(path)
    return path


# --------------------------------------------------------------------------- the same file twice


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_the_same_file_imported_twice_adds_nothing_the_second_time_and_says_so(sh, tmp_path, suffix):
    writer = write_csv if suffix == "csv" else write_xlsx
    path = writer(tmp_path / f"records.{suffix}", [MEETING, INVEST])
    first = ok(sh("import", path, *AS_OF)).stdout
    batch = int(re.search(r"批次 #(\d+)", first)[1])
    assert "已导入 2 条记录" in first
    again = ok(sh("import", path, *AS_OF)).stdout
    assert re.search(rf"该文件已于 \d{{4}}-\d\d-\d\d \d\d:\d\d 导入（2 条，批次 #{batch}），未重复导入", again)
    renamed = tmp_path / f"copy-of-records.{suffix}"
    renamed.write_bytes(path.read_bytes())
    assert "未重复导入" in ok(sh("import", renamed, *AS_OF)).stdout  # the content, not the name
    assert [r.import_batch_id for r in stored(sh)] == [batch, batch]
    assert count_rows(sh.database_url, ImportBatch) == 1


def test_a_refused_file_leaves_no_batch_so_the_corrected_file_imports(sh, tmp_path):
    path = write_csv(tmp_path / "records.csv", [MEETING, ["joint-meeting", "泰顺-火星", "2026-02-01", "", "", "", ""]])
    failed(sh("import", path, *AS_OF))
    assert_nothing_imported(sh)
    write_csv(path, [MEETING, ["joint-meeting", PAIR, "2026-02-01", "", "", "", ""]])
    assert "已导入 2 条记录" in ok(sh("import", path, *AS_OF)).stdout


def test_records_entered_by_hand_carry_no_batch(sh):
    ok(sh("record", "joint-meeting", "--scope", PAIR, "--date", "2026-03-01", *AS_OF))
    assert [r.import_batch_id for r in stored(sh)] == [None]


# --------------------------------------------------------------------------- duplicates


def test_rows_that_repeat_one_another_are_errors_naming_the_first(sh, tmp_path):
    rows = [MEETING, INVEST, ["joint-meeting", "泰顺县", "2026-01-20", "", "", "", ""], INVEST]
    err = failed(sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF))
    assert "第4行 record：与第2行重复" in err  # 泰顺县 names the same pairing; no note on one side
    assert "第5行 record：与第3行重复" in err
    assert_nothing_imported(sh)


def test_a_row_that_repeats_a_stored_record_names_it(sh, tmp_path):
    made = ok(sh("record", "industrial-investment", "--scope", "全市", "--date", "2026-02-10", "--amount", "5000000元",
                 "--category", "八大产业", "--json", *AS_OF))
    rid = int(re.search(r'"id": (\d+)', made.stdout)[1])
    err = failed(sh("import", write_csv(tmp_path / "records.csv", [MEETING, INVEST]), *AS_OF))
    assert f"第3行 record：已提交过相同记录 #{rid}（" in err
    assert len(stored(sh)) == 1


def test_a_rejected_record_is_not_a_duplicate(sh, tmp_path):
    ok(sh("record", "joint-meeting", "--scope", PAIR, "--date", "2026-01-20", *AS_OF))
    ok(sh("reject", "1", "--note", "纪要缺签到表"))
    ok(sh("import", write_csv(tmp_path / "records.csv", [MEETING]), *AS_OF))
    assert [r.state for r in stored(sh)] == ["rejected", "submitted"]


def test_the_same_figures_with_different_notes_are_different_records(sh, tmp_path):
    rows = [
        ["industrial-investment", "全市", "2026-02-10", "500万", "八大产业", "", "项目A：智能装备"],
        ["industrial-investment", "全市", "2026-02-10", "500万", "八大产业", "", "项目B：生态旅游"],
        ["industrial-investment", "全市", "2026-02-10", "500万", "八大产业", "2", "项目A：智能装备"],
    ]
    ok(sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF))
    assert len(stored(sh)) == 3


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("header", "named"),
    [
        (["事项编号", "范围", "日期", "完成日期"], ("日期", "完成日期")),
        (["obligation", "scope", "date", "金额", "amount"], ("金额", "amount")),
        (["obligation", "scope", "date", "date"], ("date", "date")),
        (["obligation", "scope", "date", "金额", "金额（万元）"], ("金额", "金额（万元）")),
    ],
)
@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_two_columns_that_mean_the_same_are_an_error_naming_both(sh, tmp_path, header, named, suffix):
    row = ["joint-meeting", PAIR, "2026-01-20", "2026-01-20", ""][: len(header)]
    writer = write_csv if suffix == "csv" else write_xlsx
    err = failed(sh("import", writer(tmp_path / f"records.{suffix}", [row], header=header), *AS_OF))
    assert f"“{named[0]}”" in err and f"“{named[1]}”" in err and "只能保留一列" in err
    assert_nothing_imported(sh)


def test_unknown_columns_are_reported_not_silently_dropped(sh, tmp_path):
    header = ["事项编号", "范围", "日期", "项目名称", "经办人"]
    path = write_csv(tmp_path / "records.csv", [["joint-meeting", PAIR, "2026-01-20", "产业园", "张三"]], header=header)
    out = ok(sh("import", path, *AS_OF)).stdout
    assert "未识别的列“项目名称”（第4列（D））已忽略" in out and "“经办人”" in out
    assert len(stored(sh)) == 1


def test_data_in_a_column_without_a_header_is_reported(sh, tmp_path):
    path = write_csv(tmp_path / "records.csv", [["joint-meeting", PAIR, "2026-01-20", "500万"]],
                     header=["obligation", "scope", "date"])
    assert "第4列（D） 列没有表头" in ok(sh("import", path, *AS_OF)).stdout


def test_an_amount_column_may_state_its_unit_once_in_the_header(sh, tmp_path):
    header = ["事项编号", "范围", "日期", "类别", "金额（万元）"]
    rows = [["industrial-investment", "全市", "2026-02-10", "八大产业", "11900"],
            ["industrial-investment", "全市", "2026-02-11", "八大产业", "0.5万"]]
    ok(sh("import", write_csv(tmp_path / "records.csv", rows, header=header), *AS_OF))
    assert [r.amount_fen for r in stored(sh)] == [11900 * 10_000 * 100, 5000 * 100]


def test_an_amount_column_with_a_unit_nobody_uses_is_refused(sh, tmp_path):
    header = ["事项编号", "范围", "日期", "金额（美元）"]
    err = failed(sh("import", write_csv(tmp_path / "r.csv", [["joint-meeting", PAIR, "2026-01-20", "5"]],
                                        header=header), *AS_OF))
    assert "金额（美元）" in err
    assert_nothing_imported(sh)


# --------------------------------------------------------------------------- values


def test_a_bare_amount_is_refused_naming_the_row(sh, tmp_path):
    rows = [MEETING, ["industrial-investment", "全市", "2026-02-10", "11900", "八大产业", "", ""]]
    err = failed(sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF))
    assert "第3行 amount：金额须注明单位：11900 元、11900万 还是 11900亿？" in err
    assert_nothing_imported(sh)


def test_an_amount_for_a_count_duty_and_amounts_over_the_bound_are_refused(sh, tmp_path):
    rows = [
        ["joint-meeting", PAIR, "2026-01-20", "5万", "", "", ""],
        ["industrial-investment", "全市", "2026-02-10", "1001亿", "八大产业", "", ""],
        ["joint-meeting", PAIR, "2026-01-21", "", "", "100001", ""],
    ]
    err = failed(sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF))
    assert "第2行 amount：" in err and "按次数/数量计" in err
    assert "第3行 amount：" in err and "上限" in err
    assert "第4行 count：" in err
    assert_nothing_imported(sh)


@pytest.mark.parametrize("count", ["两次", "-1", "1.5", "0", "2次"])
def test_a_count_that_is_not_a_whole_number_names_the_row(sh, tmp_path, count):
    rows = [MEETING, ["joint-meeting", PAIR, "2026-02-01", "", "", count, ""]]
    err = failed(sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF))
    assert "第3行 count：" in err and count in err
    assert_nothing_imported(sh)


def test_every_unreadable_value_of_a_row_is_reported_not_only_the_first(sh, tmp_path):
    rows = [["industrial-investment", "全市", "2026-13-01", "11900", "八大产业", "两次", ""]]
    err = failed(sh("import", write_csv(tmp_path / "records.csv", rows), *AS_OF))
    assert "第2行 date：" in err and "第2行 count：" in err and "第2行 amount：" in err


def test_a_note_over_two_lines_does_not_shift_the_line_numbers(sh, tmp_path):
    path = tmp_path / "records.csv"
    path.write_text(
        "obligation,scope,date,note\n"
        f'joint-meeting,{PAIR},2026-01-20,"第一行\n第二行"\n'
        "joint-meeting,泰顺-火星,2026-02-01,\n",
        encoding="utf-8",
    )
    err = failed(sh("import", path, *AS_OF))
    assert "第4行 scope：" in err, "header on line 1, a record over lines 2-3, the bad one on line 4"


@pytest.mark.parametrize("day", ["2026/01/20", "20260120", "2026-02-30", "1月20日"])
def test_a_date_that_is_not_yyyy_mm_dd_names_the_row(sh, tmp_path, day):
    err = failed(sh("import", write_csv(tmp_path / "r.csv", [["joint-meeting", PAIR, day, "", "", "", ""]]), *AS_OF))
    assert "第2行 date：" in err and day in err
    assert_nothing_imported(sh)


# --------------------------------------------------------------------------- Excel cells


def cache_formula(path: Path, cell: str, value: str) -> None:
    """Give a formula cell the cached result Excel would have saved with it (openpyxl saves none)."""
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet, n = re.subn(rf'<c r="{cell}"><f>(.*?)</f><v ?/>', rf'<c r="{cell}" t="str"><f>\1</f><v>{value}</v>', sheet)
    assert n == 1
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)


def test_excel_dates_are_read_as_real_dates_or_as_iso_text(sh, tmp_path):
    rows = [["joint-meeting", PAIR, datetime(2026, 1, 20), "", "", 1, ""],
            ["industrial-investment", "全市", "2026-02-10", "500万", "八大产业", 2, ""]]
    ok(sh("import", write_xlsx(tmp_path / "records.xlsx", rows), *AS_OF))
    assert [(r.date.isoformat(), r.count) for r in stored(sh)] == [("2026-01-20", 1), ("2026-02-10", 2)]


def test_a_formula_without_a_saved_value_is_an_error_naming_the_cell(sh, tmp_path):
    def formula(ws):
        ws["D3"] = '=CONCATENATE(500,"万")'

    rows = [MEETING, ["industrial-investment", "全市", "2026-02-10", "", "八大产业", "", ""]]
    err = failed(sh("import", write_xlsx(tmp_path / "records.xlsx", rows, edit=formula), *AS_OF))
    assert "第3行 D3：公式" in err and "没有保存计算结果" in err
    assert_nothing_imported(sh)


def test_a_formula_with_a_saved_value_is_read_as_its_value(sh, tmp_path):
    def formula(ws):
        ws["D3"] = '=CONCATENATE(500,"万")'

    rows = [MEETING, ["industrial-investment", "全市", "2026-02-10", "", "八大产业", "", ""]]
    path = write_xlsx(tmp_path / "records.xlsx", rows, edit=formula)
    cache_formula(path, "D3", "500万")
    ok(sh("import", path, *AS_OF))
    assert [r.amount_fen for r in stored(sh)] == [None, 500 * 10_000 * 100]


@pytest.mark.parametrize("error", ["#REF!", "#DIV/0!", "#VALUE!", "#N/A"])
def test_an_error_value_is_an_error_naming_the_cell(sh, tmp_path, error):
    def broken(ws):
        ws["D3"] = error

    rows = [MEETING, ["industrial-investment", "全市", "2026-02-10", "", "八大产业", "", ""]]
    err = failed(sh("import", write_xlsx(tmp_path / "records.xlsx", rows, edit=broken), *AS_OF))
    assert f"第3行 D3：单元格是错误值 {error}" in err
    assert_nothing_imported(sh)


def test_merged_cells_in_the_data_are_an_error_naming_the_range(sh, tmp_path):
    rows = [MEETING, ["joint-meeting", None, "2026-02-01", "", "", "", ""]]
    err = failed(sh("import", write_xlsx(tmp_path / "records.xlsx", rows, edit=lambda ws: ws.merge_cells("B2:B3")),
                    *AS_OF))
    assert "第2行 B2:B3：数据行中有合并单元格" in err
    assert_nothing_imported(sh)


def test_a_record_error_in_excel_names_the_cell_too(sh, tmp_path):
    rows = [MEETING, ["joint-meeting", "泰顺-火星", "2026-02-01", "", "", "", ""]]
    err = failed(sh("import", write_xlsx(tmp_path / "records.xlsx", rows), *AS_OF))
    assert "第3行 scope（B3）：" in err and "泰顺-火星" in err


def test_an_old_xls_file_is_refused_with_what_to_do(sh, tmp_path):
    path = tmp_path / "records.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    err = failed(sh("import", path, *AS_OF))
    assert ".xls" in err and ".xlsx" in err


# --------------------------------------------------------------------------- CSV encodings and limits


@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_a_csv_saved_by_chinese_office_is_read_and_the_encoding_said(sh, tmp_path, encoding):
    header = ["事项编号", "范围", "日期", "金额", "类别", "数量", "备注"]
    rows = [["joint-meeting", PAIR, "2026-01-20", "", "", "1", "第一次联席会议（鹿城）"],
            ["industrial-investment", "全市", "2026-02-10", "500万元", "八大产业", "", "智能装备"]]
    path = write_csv(tmp_path / "记录.csv", rows, header=header, encoding=encoding)
    out = ok(sh("import", path, *AS_OF)).stdout
    assert "已按 GB18030" in out
    assert [r.note for r in stored(sh)] == ["第一次联席会议（鹿城）", "智能装备"]


def test_a_utf8_csv_with_a_bom_says_nothing_about_its_encoding(sh, tmp_path):
    path = write_csv(tmp_path / "records.csv", [MEETING], encoding="utf-8-sig")
    out = ok(sh("import", path, *AS_OF)).stdout
    assert "编码" not in out


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"obligation,scope,date\n\xff\xfe\xff,x,y\n", "CSV UTF-8"), ("obligation,scope,date\n".encode("utf-16"), "UTF-16")],
    ids=["neither-utf8-nor-gb18030", "utf-16"],
)
def test_a_csv_in_an_unreadable_encoding_says_how_to_save_it(sh, tmp_path, content, says):
    path = tmp_path / "records.csv"
    path.write_bytes(content)
    assert says in failed(sh("import", path, *AS_OF))
    assert_nothing_imported(sh)


def test_a_field_over_the_csv_limit_names_its_line_not_a_traceback(sh, tmp_path):
    path = tmp_path / "records.csv"
    text = "obligation,scope,date,note\n" + f"joint-meeting,{PAIR},2026-01-20,ok\n" * 2
    path.write_text(text + f'joint-meeting,{PAIR},2026-01-21,"{"很长" * 70_000}\n', encoding="utf-8")
    err = failed(sh("import", path, *AS_OF))
    assert "第4行" in err and "上限" in err
    assert_nothing_imported(sh)


@pytest.mark.parametrize("content", [b"", b"obligation,scope,date\n", b"obligation,scope,date\n,,\n\n"],
                         ids=["empty", "header-only", "blank-rows"])
def test_a_file_without_data_rows_is_refused(sh, tmp_path, content):
    path = tmp_path / "records.csv"
    path.write_bytes(content)
    failed(sh("import", path, *AS_OF))
    assert_nothing_imported(sh)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("target", ["directory", "/dev/zero", "fifo"])
def test_an_import_path_that_is_not_a_regular_file_is_refused_without_hanging(sh, tmp_path, target):
    import os

    if target == "directory":
        path = tmp_path / "folder.csv"
        path.mkdir()
    elif target == "fifo":
        path = tmp_path / "pipe.csv"
        os.mkfifo(path)
    else:
        path = Path(target)
    err = failed(sh("import", path, *AS_OF))
    assert str(path) in err
    assert_nothing_imported(sh)


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_a_file_past_the_row_limit_is_refused_before_any_row_is_read(sh, tmp_path, suffix):
    from shanhai.cli.sheets import MAX_ROWS

    if suffix == "csv":
        path = tmp_path / "records.csv"
        path.write_text("obligation,scope,date\n" + f"joint-meeting,{PAIR},2026-01-20\n" * (MAX_ROWS + 1),
                        encoding="utf-8")
    else:  # one stray cell far down makes the sheet that long
        path = write_xlsx(tmp_path / "records.xlsx", [MEETING], edit=lambda ws: ws.cell(MAX_ROWS + 5, 1, "x"))
    err = failed(sh("import", path, *AS_OF))
    assert f"上限 {MAX_ROWS} 行" in err
    assert_nothing_imported(sh)


def test_the_same_file_imported_twice_at_once_is_stored_once(tmp_path, database_url):
    from shanhai.cli.importer import import_file
    from tests.conftest import at, in_parallel, make_app

    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting(), industrial_investment()])
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2026, 3, 2))
    path = write_csv(tmp_path / "records.csv", [MEETING, INVEST])
    results = in_parallel(2, lambda: import_file(app, path, as_of=at(2026, 3, 2)))
    assert sorted(r.already_at is not None for r in results) == [False, True]
    assert len({r.batch_id for r in results}) == 1
    assert count_rows(database_url, CompletionRecord) == 2
    assert count_rows(database_url, ImportBatch) == 1
