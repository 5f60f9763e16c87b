"""Chinese message rendering and the byte-limited summary."""

from __future__ import annotations

import re
from datetime import date

import pytest

from shanhai.models.localtime import format_day as format_due
from shanhai.models.statuses import Status
from shanhai.notifications.render import RenderItem, format_days_left, render_message

BOARD = "https://shanhai.example.cn/board/yongjia"


def item(n: int = 1, **changes) -> RenderItem:
    values = {
        "title": f"山海协作联席会议（第{n}项）",
        "clause": "三(二)",
        "scope": "永嘉县–瓯海区",
        "due": date(2026, 10, 31),
        "status": "due_soon",
        "progress": "1/2",
        "working_days_left": 3,
        "stage_label": "到期前3个工作日",
        "link": f"https://shanhai.example.cn/report/{n:04d}.eyJvIjoxMjN9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
    }
    values.update(changes)
    return RenderItem(**values)


def render(items, *, stage="到期提醒", role="county", limit=None):
    return render_message(
        recipient="永嘉县人民政府",
        role=role,
        items=items,
        stage_label=stage,
        board_link=BOARD,
        limit_bytes=limit,
    )


def test_the_due_date_carries_the_chinese_weekday():
    assert format_due(date(2026, 10, 31)) == "2026-10-31（周六）"
    assert format_due(date(2026, 11, 2)) == "2026-11-02（周一）"
    assert format_due(date(2026, 11, 1)) == "2026-11-01（周日）"
    _, body = render([item()])
    assert "截止：2026-10-31（周六），剩余3个工作日" in body


def test_an_overdue_item_says_how_many_working_days_overdue():
    assert format_days_left(-4) == "已逾期4个工作日"
    title, body = render([item(status="overdue", working_days_left=-4)], stage="逾期督办", role="coordinator")
    assert title == "【山海协作】逾期督办"
    assert "【已逾期】" in body
    assert "已逾期4个工作日" in body


def test_a_reminder_carries_everything_a_unit_needs():
    one = item()
    title, body = render([one])
    assert title == "【山海协作】到期提醒"
    assert body.startswith("永嘉县人民政府：")
    for expected in (
        one.title,
        "条款：三(二)",
        "范围：永嘉县–瓯海区",
        "进度：1/2",
        "【即将到期】",
        f"填报：{one.link}",
    ):
        assert expected in body
    assert body.endswith(f"全部事项：{BOARD}")


@pytest.mark.parametrize("status", list(Status))
def test_every_status_reads_in_chinese(status):
    _, body = render([item(status=status)])
    assert f"【{status.label}】" in body


def test_closed_items_do_not_count_working_days():
    _, body = render([item(status="done", working_days_left=-2), item(2, status="waived")])
    assert "工作日" not in body.replace("到期前3个工作日", "")


def test_an_unknown_status_is_an_error():
    with pytest.raises(ValueError, match="lost"):
        render([item(status="lost")])


def test_a_message_that_fits_is_not_summarised():
    _, body = render([item(n) for n in range(1, 4)], limit=2048)
    assert len(body.encode()) <= 2048
    assert "摘要" not in body and "另有" not in body
    assert body.count("填报：") == 3


ITEM_HEADER = re.compile(r"^(\d+)\. 【", re.MULTILINE)


def test_a_60_item_digest_at_2048_bytes_keeps_whole_items_and_counts_the_rest():
    statuses = ["overdue", "behind_pace", "due_soon", "on_track", "done"]
    items = [
        item(
            n,
            status=statuses[n % 5],
            working_days_left=-n if statuses[n % 5] == "overdue" else n,
            title=f"{'社会事业合作项目' * (1 + n % 3)}（第{n}项）",
        )
        for n in range(60)
    ]
    full = render(items)[1]
    assert len(full.encode()) > 2048

    _, body = render(items, stage="周报", role="coordinator", limit=2048)

    assert len(body.encode()) <= 2048
    assert "内容较多，以下为摘要" in body
    # One count line per status present.
    for code in statuses:
        count = sum(1 for i in items if i.status == code)
        assert f"· {Status(code).label}：{count}项" in body
    # Whole items only: every item shown has all five lines, ending with its full link.
    shown = len(ITEM_HEADER.findall(body))
    assert shown >= 1
    assert body.count("   条款：") == body.count("   截止：") == body.count("   进度：") == shown
    links = re.findall(r"填报：(\S+)", body)
    assert len(links) == shown and all(link in {i.link for i in items} for link in links)
    # The most urgent come first.
    assert body.count("【已逾期】") == min(shown, 12)
    # The rest is counted and pointed to.
    assert body.endswith(f"另有{60 - shown}项，详见：{BOARD}")


@pytest.mark.parametrize("limit", [700, 1000, 1500, 2048, 4000])
def test_the_summary_never_exceeds_the_limit(limit):
    items = [item(n, status="overdue", working_days_left=-n) for n in range(60)]
    _, body = render(items, limit=limit)
    assert len(body.encode()) <= limit
    shown = len(ITEM_HEADER.findall(body))
    assert body.count("填报：") == shown
    assert f"另有{60 - shown}项" in body


def test_a_limit_too_small_for_any_summary_is_an_error():
    with pytest.raises(ValueError, match="too small"):
        render([item(n) for n in range(10)], limit=60)
