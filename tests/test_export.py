"""`status` and `export` list occurrences by urgency (overdue first, oldest first), from one ordering;
the Excel export is a sheet a coordinator can use as it is (the as-of instant stated, a frozen,
filterable header, columns that fit Chinese text, the responsible units, the lights in Chinese), and
it is written whole or not at all: a directory, an unwritable place or a full disk is one line
naming the path, and nothing half-written is left behind."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import unicodedata
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from shanhai.models.queries import by_urgency, urgency_key
from shanhai.models.status import Evaluation
from shanhai.models.statuses import Status
from tests.conftest import (
    REAL_CATALOGUE,
    industrial_investment,
    joint_meeting,
    make_catalogue,
    next_year_plan,
    run_cli,
)

PAIR = "泰顺-鹿城"
AS_OF = ["--as-of", "2026-11-30T10:00"]

# --------------------------------------------------------------------------- the ordering, pure


def _evaluation(status: Status, due: date, obligation: str, scope: str, period: str = "2026") -> Evaluation:
    return Evaluation(occurrence_id=0, obligation_id=obligation, scope=scope, period=period, due=due, status=status,
                      progress={}, escalation_level=0, satisfied_on=None, pending=False,
                      closes=date(due.year + 1, 3, 31))


evaluations = st.lists(
    st.builds(
        _evaluation,
        st.sampled_from(list(Status)),
        st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 12, 31)),
        st.sampled_from(["joint-meeting", "aid-funds", "next-year-plan"]),
        st.sampled_from([PAIR, "永嘉-瓯海", "全市"]),
    ),
    max_size=30,
)


@given(evaluations)
def test_the_most_urgent_status_comes_first_then_the_oldest_due_date(evs):
    pairs = [(None, ev) for ev in evs]
    ordered = [ev for _, ev in by_urgency(pairs)]
    assert sorted(map(id, ordered)) == sorted(map(id, evs))  # the same items, each once
    for a, b in zip(ordered, ordered[1:], strict=False):
        assert (a.status.urgency, a.due, a.obligation_id, a.scope) <= (b.status.urgency, b.due, b.obligation_id,
                                                                      b.scope)


def test_overdue_sorts_before_everything_and_an_older_overdue_before_a_newer_one():
    old = _evaluation(Status.OVERDUE, date(2024, 12, 31), "z", PAIR)
    new = _evaluation(Status.OVERDUE, date(2026, 10, 31), "a", PAIR)
    soon = _evaluation(Status.DUE_SOON, date(2026, 12, 1), "a", PAIR)
    done = _evaluation(Status.DONE, date(2020, 1, 1), "a", PAIR)
    pairs = [(None, done), (None, soon), (None, new), (None, old)]
    assert [ev for _, ev in by_urgency(pairs)] == [old, new, soon, done]
    assert urgency_key(old) < urgency_key(new)


# --------------------------------------------------------------------------- status and export, in order


@pytest.fixture
def sh(cli, tmp_path):
    """A small catalogue at 2026-11-30: missed 2025 duties, an overdue 2026 plan, meetings, some done."""
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting(), next_year_plan(), industrial_investment()])

    def run(*args):
        return cli(*args, catalogue_dir=catalogue)

    assert run("init", *AS_OF).exit_code == 0
    for scope, day in ((PAIR, "2026-03-01"), (PAIR, "2026-09-01"), ("永嘉-瓯海", "2026-05-01")):
        assert run("record", "joint-meeting", "--scope", scope, "--date", day, *AS_OF).exit_code == 0
    assert run("record", "next-year-plan", "--scope", PAIR, "--date", "2025-10-20", "--period", "2025",
               *AS_OF).exit_code == 0
    run.database_url = cli.database_url
    return run


def _key(item: dict) -> tuple:
    return (Status(item["status"]).urgency, item["due"], item["obligation"], item["scope"], item["period"])


def test_status_lists_overdue_first_oldest_first_in_json_and_in_the_table(sh):
    items = json.loads(sh("status", "--all", *AS_OF, "--json").stdout)
    assert len({i["status"] for i in items}) >= 3, items
    assert [_key(i) for i in items] == sorted(_key(i) for i in items)
    overdue = [i for i in items if i["status"] == "overdue"]
    assert [i["due"] for i in overdue] == sorted(i["due"] for i in overdue) and overdue
    history = [i for i in items if i["status"] == "history"]
    assert history and {i["period"] for i in history} == {"2025"}, "due before tracking started (2026-01-01)"
    assert all(i["history"] == "before_tracking" and i["light"] == "grey" for i in history)
    assert items.index(overdue[-1]) < items.index(history[0]), "still open comes before history"
    table = sh("status", "--all", *AS_OF).stdout.strip().splitlines()[1:-1]
    assert [int(line.split()[0]) for line in table] == [i["id"] for i in items]


def test_the_export_lists_what_status_lists_in_the_same_order_with_the_responsible_units(sh, tmp_path):
    from sqlmodel import select

    from shanhai.db import session_scope
    from shanhai.models.requirement import parse_requirement
    from shanhai.models.tables import Occurrence

    items = json.loads(sh("status", *AS_OF, "--json").stdout)
    out = tmp_path / "out" / "督办.xlsx"
    out.parent.mkdir()
    result = sh("export", out, *AS_OF)
    assert result.exit_code == 0 and result.stdout.strip() == f"已导出 {len(items)} 行到 {out}"
    wb = load_workbook(out)
    ws = wb.active
    rows = list(ws.iter_rows(values_only=True))
    title = "山海协作工程督办状态 截至 2026-11-30 10:00（北京时间）"
    assert rows[0][0] == title and wb.properties.title == title
    head = rows[1]
    assert head == ("期次#", "事项", "条款", "事项编号", "范围", "责任单位", "配合单位", "期次", "期限", "灯", "状态",
                    "进度", "督办级别", "待核验", "日历")
    body = [dict(zip(head, r, strict=True)) for r in rows[2:]]
    assert [r["期次#"] for r in body] == [i["id"] for i in items]
    with session_scope(sh.database_url) as s:
        requirements = {o.id: parse_requirement(o.requirement) for o in s.exec(select(Occurrence))}
    for row, item in zip(body, items, strict=True):
        req = requirements[item["id"]]
        assert row["责任单位"] == "、".join(item["accountable"]) == "、".join(req.accountable)
        assert (row["配合单位"] or "") == "、".join(u for u in req.responsible if u not in req.accountable)
        assert row["期限"] == datetime.fromisoformat(item["due"])  # a real date cell, filterable
        assert row["灯"] == {"red": "红灯", "yellow": "黄灯", "green": "绿灯", "grey": "灰灯"}[item["light"]]
        assert row["日历"] == ("临时日历" if item["provisional_calendar"] else None)
    meeting = next(r for r in body if r["事项编号"] == "joint-meeting" and r["范围"] == PAIR)
    assert meeting["责任单位"] == "泰顺县、鹿城区"
    assert {r["状态"] for r in body} <= {"已逾期", "即将到期", "进度滞后", "进展正常", "按期完成", "逾期完成", "已豁免",
                                         "未完成", "纳入跟踪前", "文件印发前"}
    assert "已逾期" in {r["状态"] for r in body}


def _shown(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()  # a date cell shows as yyyy-mm-dd
    return "" if value is None else str(value)


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_the_sheet_has_a_frozen_filterable_header_and_columns_that_fit_chinese_text(tmp_path):
    home = tmp_path / "home"
    assert run_cli(["demo", *AS_OF], home=home, env={"SHANHAI_DATABASE_URL": None}).exit_code == 0
    out = tmp_path / "all.xlsx"
    assert run_cli(["export", out, "--all", *AS_OF], home=home, env={"SHANHAI_DATABASE_URL": None}).exit_code == 0
    ws = load_workbook(out).active
    last = get_column_letter(ws.max_column)
    assert ws.auto_filter.ref == f"A2:{last}{ws.max_row}" and ws.max_row > 100
    assert ws.freeze_panes == "A3"
    for col in range(1, ws.max_column + 1):
        letter = get_column_letter(col)
        widest = max(_display_width(_shown(ws.cell(r, col).value)) for r in range(2, ws.max_row + 1))
        width = ws.column_dimensions[letter].width
        assert min(widest, 58) <= width <= 60, (ws.cell(2, col).value, widest, width)
    titles = [ws.cell(r, 2).value for r in range(3, ws.max_row + 1)]
    assert ws.column_dimensions["B"].width >= 2 * max(len(t) for t in titles)  # CJK counts double
    fills = {ws.cell(r, 10).value: ws.cell(r, 10).fill.fgColor.rgb for r in range(3, ws.max_row + 1)}
    assert fills["红灯"].endswith("FFC7CE") and fills["绿灯"].endswith("C6EFCE")
    assert all(ws.cell(r, 11).fill.fgColor.rgb == ws.cell(r, 10).fill.fgColor.rgb for r in range(3, ws.max_row + 1))


# --------------------------------------------------------------------------- written whole or not at all


def _one_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("错误 error: ")
    return line


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_exporting_to_a_directory_is_one_line_naming_it_and_writes_nothing(sh, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    line = _one_line(sh("export", folder, *AS_OF))
    assert str(folder) in line and "目录" in line
    assert list(folder.iterdir()) == []


def test_exporting_under_a_file_is_one_line_naming_the_path(sh, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    line = _one_line(sh("export", blocker / "status.xlsx", *AS_OF))
    assert str(blocker / "status.xlsx") in line and "不是目录" in line
    assert blocker.read_text() == "x"


def test_exporting_over_something_that_is_not_a_file_refuses_and_leaves_it(sh, tmp_path):
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    line = _one_line(sh("export", fifo, *AS_OF))
    assert str(fifo) in line and "不是普通文件" in line
    assert fifo.is_fifo()


def test_an_export_replaces_the_previous_one_whole_and_leaves_no_temporary_file(sh, tmp_path):
    out = tmp_path / "status.xlsx"
    out.write_bytes(b"an old export")
    assert sh("export", out, *AS_OF).exit_code == 0
    assert load_workbook(out).active.cell(2, 1).value == "期次#"
    assert _leftovers(tmp_path) == []


@pytest.fixture
def postgres_home(postgres_cluster, tmp_path):
    """An initialised PostgreSQL database: the export is then the only file the command writes."""
    name = f"t_{uuid.uuid4().hex}"
    with postgres_cluster.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_cluster.url(name)
    home = tmp_path / "home"
    assert run_cli(["init", *AS_OF], home=home, database_url=url).exit_code == 0
    yield home, url
    from shanhai import db

    db.get_engine(url).dispose()
    with postgres_cluster.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_a_full_disk_is_one_line_naming_the_path_and_the_old_export_stays_whole(postgres_home, tmp_path):
    """The disk fills up while the workbook is written (a file-size limit makes the write fail as a
    full disk does, in a real process; on PostgreSQL the database writes are the server's, not ours)."""
    home, url = postgres_home
    out = tmp_path / "status.xlsx"
    assert run_cli(["export", out, *AS_OF], home=home, database_url=url).exit_code == 0
    previous = out.read_bytes()
    assert len(previous) > 4096

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    env = {**os.environ, "SHANHAI_HOME": str(home), "SHANHAI_DATABASE_URL": url, "SHANHAI_SECRET_KEY": "test",
           "SHANHAI_CATALOGUE_DIR": str(REAL_CATALOGUE), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "shanhai.cli.main", "export", str(out), "--all", *AS_OF],
        env=env, capture_output=True, text=True, timeout=120, preexec_fn=small_disk,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    [line] = lines
    assert line.startswith(f"错误 error: 无法写入 {out}：") and "未写入任何文件" in line
    assert out.read_bytes() == previous
    assert _leftovers(tmp_path) == []


def test_exporting_into_a_missing_folder_is_refused_like_ics_and_creates_nothing(sh, tmp_path):
    missing = tmp_path / "no-such-folder" / "sub"
    line = _one_line(sh("export", missing / "status.xlsx", *AS_OF))
    assert line == f"错误 error: 目录不存在：{missing}（请先创建该目录）"
    assert not missing.parent.exists()
