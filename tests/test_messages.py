"""Messages read as their recipients read them: rendered from a small catalogue by the real checks on a
real database, at given instants.

Who owes each item, a copied unit never told it leads, repeat counts that count what was really sent,
a title naming everything it carries, the supervisors told once, and the leading group never escalated
to about its own inspection."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import select

from shanhai.models.tables import OutboxItem, OutboxMessage
from shanhai.notifications.checking import check_obligation
from shanhai.notifications.digests import send_digest
from tests.conftest import REAL_CATALOGUE, at, make_app, make_catalogue, make_obligation, make_record

COORD = "市招商局（经合办）"
SUP = "市山海协作工程工作领导小组"
WAN_FEN = 10_000 * 100

# 2026-05-31 is a Sunday: the duties below are due on Monday 06-01 (rolled), overdue_1wd Tue 06-02,
# the supervisors' overdue_5wd Mon 06-08, then weekly repeats on Mondays.
SCHOOL_COOP = make_obligation(
    "school-coop", "annual_deadline", title="教育合作", summary="每年5月底前签订校际结对协议",
    due="05-31", responsible={"lead": ["结对双方"], "co": ["市教育局"]},
)
EDU_PLAN = make_obligation(
    "edu-plan", "annual_count", title="本科专项定向计划", summary="安排本科专项定向计划1名以上",
    scope="city", due="05-31", responsible={"lead": ["市教育局"], "co": []},
)
AID_FUNDS = make_obligation(
    "aid-funds", "annual_quantity", title="年度帮扶资金到位", summary="5月底前到位、不低于省外结对帮扶资金",
    scope="pairing", due="05-31", target={"value": 1000, "unit": "万元"},
    responsible={"lead": ["结对强区"], "co": []},
)
INSPECTION = make_obligation(
    "midyear-inspection", "annual_deadline", title="年中调研督查", scope="city", due="05-31", escalate=False,
    responsible={"lead": [COORD], "co": []},
)


def app_with(tmp_path, database_url, obligations, *, synced):
    catalogue = make_catalogue(tmp_path / "calendar", obligations)
    return make_app(tmp_path / "home", database_url, catalogue, sync_at=synced)


def messages(app, recipient: str | None = None) -> list[OutboxMessage]:
    with app.session() as s:
        query = select(OutboxMessage).where(OutboxMessage.kind == "reminder").order_by(OutboxMessage.id)
        if recipient:
            query = query.where(OutboxMessage.recipient == recipient)
        return list(s.execute(query).scalars())


def check_daily(app, first: date, last: date) -> None:
    """The daily check at 09:05, Shanghai time (it plans nothing on a day off)."""
    day = first
    while day <= last:
        check_obligation(app, None, as_of=at(day.year, day.month, day.day, 9, 5))
        day += timedelta(days=1)


def test_a_unit_that_only_co_owns_an_item_is_never_told_it_leads(tmp_path, database_url):
    app = app_with(tmp_path, database_url, [SCHOOL_COOP], synced=at(2026, 5, 4))
    check_obligation(app, None, as_of=at(2026, 6, 1, 10))  # the due date: the copies go out
    [copy] = messages(app, "市教育局")
    assert copy.body.startswith("市教育局（配合单位）：")
    assert "牵头" not in copy.body and "牵头" not in copy.title
    assert "责任单位：泰顺县、鹿城区" in copy.body and "责任单位：永嘉县、瓯海区" in copy.body
    assert "教育合作：每年5月底前签订校际结对协议" in copy.body


def test_a_unit_that_leads_some_items_and_is_copied_on_others_reads_them_apart(tmp_path, database_url):
    app = app_with(tmp_path, database_url, [SCHOOL_COOP, EDU_PLAN], synced=at(2026, 5, 4))
    check_obligation(app, None, as_of=at(2026, 6, 1, 10))
    [message] = messages(app, "市教育局")
    body = message.body
    assert body.startswith("市教育局（牵头单位、配合单位）：")
    assert "以下事项由贵单位牵头办理" not in body
    lead = body.index("一、贵单位牵头办理的事项（1项）")
    copied = body.index("二、抄送贵单位（配合办理）的事项（2项）")
    assert lead < body.index("本科专项定向计划") < copied
    assert all(copied < m.start() for m in re.finditer("教育合作", body)), "copied items under their own heading"
    assert message.title == "【山海协作】3项即将到期"


def test_a_fresh_install_14_weeks_past_due_never_numbers_more_than_it_sent(tmp_path, database_url):
    app = app_with(tmp_path, database_url, [SCHOOL_COOP], synced=at(2026, 9, 8, 9))
    check_daily(app, date(2026, 9, 8), date(2026, 9, 30))

    first = messages(app, "泰顺县")[0]
    assert first.title == "【山海协作】1项仍逾期（最早一项已逾期14周）"
    assert "复报" not in first.body and "第" not in first.stage_label
    for recipient in ("泰顺县", COORD):
        sent = messages(app, recipient)
        assert len(sent) == 4, recipient  # 09-08, then the Mondays 09-14, 09-21, 09-28
        for before, message in enumerate(sent):
            numbers = [int(n) for n in re.findall(r"第(\d+)次", message.body + message.stage_label)]
            assert all(n <= before for n in numbers), (recipient, before, message.stage_label)
        assert sent[-1].stage_label == "每周复报（第3次）"
    [copy] = messages(app, "市教育局")
    assert "逾期1个工作日" not in copy.body and copy.stage_label == "逾期提醒"
    assert "已逾期14周" in copy.body
    assert len(messages(app, SUP)) == 1, "the supervisors are told once"


def test_the_title_of_a_mixed_message_names_every_group_most_severe_first(tmp_path, database_url):
    duties = [
        make_obligation("a-old", "annual_deadline", title="甲事项", due="05-31"),
        make_obligation("b-new", "annual_deadline", title="乙事项", due="06-30"),
        make_obligation("c-soon", "annual_deadline", title="丙事项", due="07-31"),
    ]
    app = app_with(tmp_path, database_url, duties, synced=at(2026, 7, 2, 9))
    check_obligation(app, None, as_of=at(2026, 7, 2, 10))
    [message] = messages(app, "泰顺县")
    assert message.title == "【山海协作】1项新逾期、1项仍逾期（最早一项已逾期4周）、1项即将到期"
    assert message.body.count("【已逾期】") == 2 and message.body.count("【即将到期】") == 1


def test_the_supervisors_get_an_item_once_and_never_the_leading_groups_own_inspection(tmp_path, database_url):
    app = app_with(tmp_path, database_url, [SCHOOL_COOP, INSPECTION], synced=at(2026, 5, 4))
    check_daily(app, date(2026, 6, 1), date(2026, 7, 10))
    with app.session() as s:
        rows = list(s.execute(select(OutboxItem.occurrence_id, OutboxItem.stage).where(OutboxItem.recipient == SUP)))
    assert sorted(stage for _, stage in rows) == ["overdue_5wd", "overdue_5wd"], "each pairing's item once"
    assert all("年中调研督查" not in m.body for m in messages(app, SUP))
    assert sum("每周复报" in m.body + m.stage_label for m in messages(app, COORD)) >= 3, "the office is chased"
    digest = send_digest(app, audience="supervisor", as_of=at(2026, 7, 1, 10))
    assert {i["obligation"] for i in digest.items} == {"school-coop"}


def test_the_aid_funds_escalation_names_the_partner_that_owes_it_and_the_money_in_place(tmp_path, database_url):
    app = app_with(tmp_path, database_url, [AID_FUNDS], synced=at(2026, 5, 4))
    make_record(app, "aid-funds", "泰顺-鹿城", "2026-05-20", amount_fen=500 * WAN_FEN)
    check_obligation(app, None, as_of=at(2026, 6, 8, 10))  # the fifth working day overdue
    [escalation] = messages(app, SUP)
    body = escalation.body
    item = body[body.index("年度帮扶资金到位：5月底前到位、不低于省外结对帮扶资金（一(一)）\n   责任单位：鹿城区"):]
    assert "范围：泰顺-鹿城" in item.split("查看：")[0]
    assert "进度：已到位 500 万元 / 目标 1,000 万元" in item.split("查看：")[0]
    assert "0/1" not in body
    assert "泰顺县" not in {m.recipient for m in messages(app)}, "the county receives the money, it owes nothing"


def test_the_supervisors_monthly_digest_never_repeats_an_item_from_the_same_week(tmp_path, database_url):
    duties = [
        make_obligation("may-duty", "annual_deadline", title="五月事项", due="05-31"),
        make_obligation("june-duty", "annual_deadline", title="六月事项", due="06-22"),  # escalates Mon 06-29
        make_obligation("month-end", "annual_deadline", title="月末事项", due="06-30"),  # not escalated by 07-01
    ]
    app = app_with(tmp_path, database_url, duties, synced=at(2026, 5, 4))
    check_daily(app, date(2026, 6, 1), date(2026, 7, 1))
    digest = send_digest(app, audience="supervisor", as_of=at(2026, 7, 1, 10))
    assert digest.queued == 1
    assert {i["obligation"] for i in digest.items} == {"may-duty"}
    with app.session() as s:
        body = s.execute(select(OutboxMessage.body).where(OutboxMessage.kind == "digest")).scalar_one()
    assert "六月事项" not in body and "另有2项已于近7日单独督办，本通报不再重复列出。" in body
    told = [m for m in messages(app, SUP) if "六月事项" in m.body]
    assert len(told) == 1, "the escalation of 06-29 is the supervisors' one notice of it this week"


def test_on_the_document_s_catalogue_the_aid_funds_escalation_names_the_partner_and_the_inspection_stays_home(
    tmp_path, database_url
):
    app = make_app(tmp_path / "home", database_url, REAL_CATALOGUE, sync_at=at(2026, 5, 4))
    check_obligation(app, "aid-funds", as_of=at(2026, 6, 8, 10))  # 05-31 rolled to 06-01: the fifth working day
    [escalation] = messages(app, SUP)
    assert escalation.body.count("年度帮扶资金到位：5月底前到位、不低于省外结对帮扶资金（三(四)）") == 5
    assert "责任单位：鹿城区　范围：泰顺-鹿城" in escalation.body
    check_obligation(app, "midyear-inspection", as_of=at(2026, 9, 8, 10))  # 08-31 + 5 working days and more
    assert all("年中调研督查" not in m.body for m in messages(app, SUP))
    [own] = [m for m in messages(app, COORD) if "年中调研督查" in m.body]
    assert "责任单位：市招商局（经合办）" in own.body and "填报：" in own.body


# A plan due Friday 2026-11-20: the coordinator is told on the first working day after, Monday 11-23, when
# 2027's State Council notice is not in the catalogue yet (the catalogue has no holidays file).
FILED_PLAN = make_obligation("plan-filing", "annual_deadline", title="年度计划备案", due="11-20")


def test_the_coordinator_is_told_next_years_holidays_are_not_imported_and_the_units_are_not(tmp_path, database_url):
    app = app_with(tmp_path, database_url, [FILED_PLAN], synced=at(2026, 11, 2))
    check_obligation(app, None, as_of=at(2026, 11, 23, 10))
    [to_coordinator] = messages(app, COORD)
    assert "2027 年放假安排未导入" in to_coordinator.body
    assert "shanhai holidays import 通知.txt" in to_coordinator.body
    to_units = [m for m in messages(app) if m.recipient != COORD]
    assert to_units and not any("放假安排未导入" in m.body for m in to_units)
    send_digest(app, audience="coordinator", as_of=at(2026, 11, 23, 10))
    with app.session() as s:
        [weekly] = s.execute(select(OutboxMessage).where(OutboxMessage.kind == "digest")).scalars()
    assert "2027 年放假安排未导入" in weekly.body


def test_before_mid_november_no_one_is_told_about_next_years_holidays(tmp_path, database_url):
    plan = make_obligation("plan-filing", "annual_deadline", title="年度计划备案", due="11-06")
    app = app_with(tmp_path, database_url, [plan], synced=at(2026, 10, 12))
    check_obligation(app, None, as_of=at(2026, 11, 9, 10))  # the first working day after 11-06
    [to_coordinator] = messages(app, COORD)
    assert "放假安排未导入" not in to_coordinator.body


def test_a_reminder_cites_the_override_in_force_beside_the_document(tmp_path, database_url):
    source = "市领导小组2026年工作要点"
    catalogue = make_catalogue(tmp_path / "calendar", [FILED_PLAN])
    (catalogue / "overrides.yaml").write_text(
        "overrides:\n  - obligation: plan-filing\n    action: replace\n    from: 2026\n"
        f"    changes: {{due: \"11-20\"}}\n    source: {source}\n", encoding="utf-8")
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2026, 11, 2))
    check_obligation(app, None, as_of=at(2026, 11, 23, 10))
    sent = messages(app)
    assert sent and all(f"测试〔2026〕1号、{source}" in m.body for m in sent), sent[0].body


def test_the_coordinator_told_about_its_own_duty_reads_that_it_leads_it(tmp_path, database_url):
    app = app_with(tmp_path, database_url, [INSPECTION], synced=at(2026, 5, 4))
    check_obligation(app, None, as_of=at(2026, 6, 2, 10))  # the first working day after the due date
    [own] = messages(app, COORD)
    assert "牵头" in own.body and "填报" in own.body
    assert "跟踪督办" not in own.body, "its own duty, not one it watches others do"
