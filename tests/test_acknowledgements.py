"""签收 stored per (occurrence, unit, stage): idempotent, audited once, and read back as the highest
stage rank per unit for the planner."""

from __future__ import annotations

from sqlalchemy import select

from shanhai.models.acknowledgements import (
    Acknowledgement,
    acknowledge,
    acknowledgements_of,
    latest_acknowledgements,
    stage_now,
)
from shanhai.models.tables import AuditEntry, Occurrence
from tests.conftest import at, count_rows, make_app, make_catalogue, next_year_plan, occurrence_id


def setup(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "cat", [next_year_plan()]),
                   sync_at=at(2026, 10, 20))
    return app, occurrence_id(app, "next-year-plan", "泰顺-鹿城", "2026")


def ack(app, occ: int, unit: str, stage: str, rank: int, day: int = 20):
    with app.session() as session:
        return acknowledge(session=session, occurrence_id=occ, unit_code=unit, stage=stage, stage_rank=rank,
                           actor=f"{unit}（报送链接）", at=at(2026, 10, day))


def test_an_acknowledgement_is_stored_once_per_stage_and_audited_once(tmp_path, database_url):
    app, occ = setup(tmp_path, database_url)
    first, stored = ack(app, occ, "taishun", "before_30d", 0)
    again, stored_again = ack(app, occ, "taishun", "before_30d", 0, day=21)
    assert stored and not stored_again
    assert first.id == again.id and again.acknowledged_at == at(2026, 10, 20)
    assert count_rows(database_url, Acknowledgement) == 1
    with app.session() as session:
        entries = session.execute(select(AuditEntry).where(AuditEntry.action == "occurrence.acknowledged")).all()
    assert len(entries) == 1


def test_the_latest_acknowledgement_is_the_highest_stage_per_occurrence_and_unit(tmp_path, database_url):
    app, occ = setup(tmp_path, database_url)
    other = occurrence_id(app, "next-year-plan", "永嘉-瓯海", "2026")
    ack(app, occ, "taishun", "before_30d", 0)
    ack(app, occ, "taishun", "overdue_1wd", 201)
    ack(app, occ, "lucheng", "before_7d", 1)
    ack(app, other, "yongjia", "due", 100)
    with app.session() as session:
        latest = latest_acknowledgements(session=session, occurrence_ids=[occ, other])
        only_one = latest_acknowledgements(session=session, occurrence_ids=[other])
        none = latest_acknowledgements(session=session, occurrence_ids=[])
        listed = acknowledgements_of(session=session, occurrence_ids=[occ])
    assert latest == {(occ, "taishun"): 201, (occ, "lucheng"): 1, (other, "yongjia"): 100}
    assert only_one == {(other, "yongjia"): 100} and none == {}
    assert [(a.unit_code, a.stage) for a in listed] == [("taishun", "before_30d"), ("taishun", "overdue_1wd"),
                                                        ("lucheng", "before_7d")]


def test_stage_now_follows_the_ladder_of_the_occurrence(tmp_path, database_url):
    app, occ_id = setup(tmp_path, database_url)
    with app.session() as session:
        occ = session.get(Occurrence, occ_id)
    from datetime import date

    assert stage_now(occ, app.calendar, date(2026, 9, 1)).name == "none"  # before the first reminder
    assert stage_now(occ, app.calendar, date(2026, 10, 20)).name == "before_30d"
    stage = stage_now(occ, app.calendar, date(2026, 10, 26))
    assert (stage.name, stage.label) == ("before_7d", "到期前7天")
    late = stage_now(occ, app.calendar, date(2026, 11, 20))
    assert late.rank > 200 and late.name.startswith(("overdue_", "repeat_"))
