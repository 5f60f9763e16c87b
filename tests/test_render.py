"""Chinese messages a clerk reads once and acts on, and the byte-limited summary."""

from __future__ import annotations

import re
from datetime import date

import pytest

from shanhai.models.localtime import format_day as format_due
from shanhai.models.statuses import Status
from shanhai.notifications.render import RenderItem, format_days_left, render_message

BOARD = "https://shanhai.example.cn/units/yongjia"
DOC = "温政发〔2018〕26号"
SENDER = "山海协作工程督办系统（市招商局（经合办））"


def item(n: int = 1, **changes) -> RenderItem:
    values = {
        "title": f"山海协作联席会议（第{n}项）",
        "clause": "三(二)",
        "scope": "永嘉-瓯海",
        "due": date(2026, 10, 30),
        "status": "due_soon",
        "progress": "1/2",
        "working_days_left": 3,
        "stage_label": "到期前3个工作日",
        "link": f"https://shanhai.example.cn/report/{n:04d}.eyJvIjoxMjN9.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
        "urgency": "due_soon",
    }
    if changes.get("status") == "overdue":
        values.update(urgency="still_overdue", working_days_left=-20, days_overdue=28)
    values.update(changes)
    return RenderItem(**values)


def render(items, *, stage="到期前3个工作日", role="lead", limit=None, **more):
    return render_message(
        recipient="永嘉县",
        role=role,
        items=items,
        stage_label=stage,
        board_link=BOARD,
        limit_bytes=limit,
        document=DOC,
        sender=SENDER,
        **more,
    )


def test_the_due_date_carries_the_chinese_weekday_and_the_working_days_left():
    assert format_due(date(2026, 10, 31)) == "2026-10-31（周六）"
    assert format_due(date(2026, 11, 2)) == "2026-11-02（周一）"
    _, body = render([item()])
    assert "截止：2026-10-30（周五），剩余3个工作日" in body
    assert format_days_left(0) == "今日到期"


def test_a_rolled_due_date_shows_both_dates():
    _, body = render([item(due=date(2026, 11, 2), due_nominal=date(2026, 10, 31))])
    assert "截止：2026-11-02（周一）（原定2026-10-31（周六），顺延）" in body


def test_a_due_date_from_the_provisional_calendar_is_marked_and_explained_once():
    _, body = render([item(1, due=date(2027, 1, 4), provisional=True), item(2, due=date(2027, 2, 1), provisional=True),
                      item(3)])
    assert "截止：2027-01-04（周一）（临时日历）" in body
    assert "截止：2026-10-30（周五），" in body  # a year with its notice is not marked
    assert body.count("2027年的国务院办公厅节假日安排尚未导入") == 1
    _, plain = render([item(3)])
    assert "临时日历" not in plain


def test_recent_overdue_counts_working_days_and_older_counts_weeks():
    recent = item(status="overdue", urgency="newly_overdue", working_days_left=-4, days_overdue=6)
    old = item(2, status="overdue", working_days_left=-1971, days_overdue=2760)
    _, body = render([recent, old])
    assert "已逾期4个工作日" in body
    assert "已逾期394周" in body and "1971" not in body


def test_a_reminder_names_the_recipient_its_role_the_document_and_the_sender():
    one = item()
    title, body = render([one])
    assert title == "【山海协作】1项即将到期"
    assert body.startswith("永嘉县（牵头单位）：\n依据温政发〔2018〕26号，以下事项由贵单位牵头办理（共1项）。")
    for expected in (one.title, "（三(二)）", "范围：永嘉-瓯海", "进度：1/2", "【即将到期】", f"填报：{one.link}"):
        assert expected in body
    assert body.endswith(f"全部事项：{BOARD}\n——{SENDER}")


@pytest.mark.parametrize(
    ("role", "label", "link"),
    [("lead", "牵头单位", "填报"), ("co", "配合单位", "查看"), ("coordinator", "协调单位", "查看"),
     ("supervisor", "领导小组", "查看")],
)
def test_roles_read_in_chinese_and_only_the_units_that_owe_it_get_a_report_link(role, label, link):
    _, body = render([item(role=role)], role=role)
    assert body.startswith(f"永嘉县（{label}）：")
    assert f"{link}：" in body
    assert ("填报：" in body) == (role == "lead")
    assert "county" not in body


def test_a_coordinator_that_leads_an_item_reads_it_in_its_own_section_with_a_report_link():
    _, body = render([item(1, role="lead"), item(2, role="coordinator")], role="coordinator")
    assert body.startswith("永嘉县（协调单位）：\n依据温政发〔2018〕26号，以下事项与贵单位有关，按贵单位的职责分列（共2项）。")
    own, watched = body.index("一、贵单位牵头办理的事项（1项）"), body.index("二、请跟踪督办的事项（1项）")
    assert own < body.index("填报：") < watched < body.index("查看：")
    assert "办结后请点击该项的“填报”链接上报完成情况" in body[own:watched]
    _, watching = render([item(2, role="coordinator")], role="coordinator")
    assert "填报" not in watching and "一、即将到期（1项）" in watching


def test_items_are_grouped_by_urgency_and_titled_by_every_group_most_severe_first():
    items = [
        item(1, status="overdue"),
        item(2, status="overdue", urgency="newly_overdue", working_days_left=-1, days_overdue=3),
        item(3, status="overdue", urgency="newly_overdue", working_days_left=-1, days_overdue=3),
        item(4),
    ]
    title, body = render(items)
    assert title == "【山海协作】2项新逾期、1项仍逾期（最早一项已逾期4周）、1项即将到期"
    first, second, third = (body.index(h) for h in ("一、新逾期（2项）", "二、即将到期（1项）", "三、仍逾期（1项"))
    assert first < second < third
    assert "最早一项已逾期4周" in body


def test_only_old_news_is_titled_with_its_age():
    title, _ = render([item(1, status="overdue"), item(2, status="overdue", days_overdue=60)])
    assert title == "【山海协作】2项仍逾期（最早一项已逾期8周）"


def test_a_digest_keeps_its_own_title_and_its_notes():
    title, body = render([item()], title_label="每周督办摘要（2026年第49周）", role="coordinator",
                         notes=["待核验的完成记录：3 条"])
    assert title == "【山海协作】每周督办摘要（2026年第49周）"
    assert "待核验的完成记录：3 条" in body


@pytest.mark.parametrize("status", list(Status))
def test_every_status_reads_in_chinese(status):
    _, body = render([item(status=status)])
    assert f"【{status.label}】" in body


def test_final_items_do_not_count_working_days():
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


def test_a_60_item_message_at_2048_bytes_keeps_whole_items_and_counts_the_rest():
    urgencies = ["newly_overdue", "due_soon", "still_overdue"]
    items = [
        item(
            n,
            status="overdue" if urgencies[n % 3] != "due_soon" else "due_soon",
            urgency=urgencies[n % 3],
            working_days_left=-n if urgencies[n % 3] != "due_soon" else n,
            days_overdue=n if urgencies[n % 3] != "due_soon" else 0,
            title=f"{'社会事业合作项目' * (1 + n % 3)}（第{n}项）",
        )
        for n in range(60)
    ]
    full = render(items)[1]
    assert len(full.encode()) > 2048

    _, body = render(items, limit=2048)

    assert len(body.encode()) <= 2048
    assert "内容较多，以下为摘要" in body
    # every group is counted, whether or not its items fit
    assert "一、新逾期（20项）" in body and "二、即将到期（20项）" in body and "三、仍逾期（20项" in body
    # whole items only: every item shown has all its lines, ending with its full link
    shown = len(ITEM_HEADER.findall(body))
    assert shown >= 1
    assert body.count("   范围：") == body.count("   进度：") == shown
    links = re.findall(r"填报：(\S+)", body)
    assert len(links) == shown and all(link in {i.link for i in items} for link in links)
    # the most urgent come first
    assert body.count("【已逾期】") == min(shown, 20)
    assert f"另有{60 - shown}项，详见：{BOARD}" in body


@pytest.mark.parametrize("limit", [900, 1000, 1500, 2048, 4000])
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
