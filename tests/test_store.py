"""Storing the catalogue and its occurrences: idempotent, history never rewritten, pairings by data;
and the audit log the database itself keeps append-only."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from shanhai.models.errors import InputError
from shanhai.models.store import sync_catalogue
from shanhai.models.tables import (
    AuditEntry,
    CompletionRecord,
    InvestmentPlan,
    Obligation,
    Occurrence,
    Pairing,
    Park,
    Unit,
)
from tests.conftest import (
    PAIRINGS,
    at,
    joint_meeting,
    make_app,
    make_catalogue,
    make_obligation,
    make_record,
    next_year_plan,
    status_of,
)

TABLES = (Unit, Pairing, Park, InvestmentPlan, Obligation, Occurrence, AuditEntry)


def snapshot(app):
    """Row counts of every catalogue table, and what changes when a row is touched."""
    with app.session() as s:
        counts = {m.__name__: s.execute(select(func.count()).select_from(m)).scalar_one() for m in TABLES}
        return {
            **counts,
            "occurrences": sorted(
                (o.id, o.obligation_id, o.scope, o.period, o.due, o.requirement, o.updated_at)
                for o in s.execute(select(Occurrence)).scalars()
            ),
            "obligations": sorted(
                (o.id, o.definition_hash, o.loaded_at) for o in s.execute(select(Obligation)).scalars()
            ),
        }


def periods(app, obligation: str, scope: str) -> list[str]:
    with app.session() as s:
        return sorted(
            s.execute(
                select(Occurrence.period).where(Occurrence.obligation_id == obligation, Occurrence.scope == scope)
            ).scalars()
        )


def due_dates(app, obligation: str) -> dict[str, date]:
    with app.session() as s:
        rows = s.execute(
            select(Occurrence.period, Occurrence.due).where(
                Occurrence.obligation_id == obligation, Occurrence.scope == "泰顺-鹿城"
            )
        )
        return dict(rows.all())


# --------------------------------------------------------------------------- idempotent loading


def test_loading_the_documents_catalogue_twice_changes_nothing(tmp_path, database_url):
    first = make_app(tmp_path / "home", database_url)
    report = first.sync(as_of=at(2026, 11, 29), now=at(2026, 11, 29))
    assert report.obligations_added == 32 and report.occurrences_added > 0
    before = snapshot(first)
    # a new process, the same catalogue, later the same day
    again = make_app(tmp_path / "home", database_url, now=at(2026, 11, 29, 18)).sync(as_of=at(2026, 11, 29, 18))
    assert not again.changed
    assert snapshot(first) == before
    # and a full reload, compared row by row rather than skipped as unchanged, changes nothing either
    with first.session() as session:
        full = sync_catalogue(first.catalogue, first.calendar, session=session, as_of=at(2026, 11, 29, 18),
                              now=at(2026, 11, 29, 18))
    assert (full.obligations_added, full.obligations_changed) == (0, 0)
    assert (full.occurrences_added, full.occurrences_updated) == (0, 0)
    assert snapshot(first) == before


def test_a_new_year_adds_the_next_years_occurrences_and_keeps_the_rest(tmp_path, database_url):
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting()])
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2025, 6, 1))
    assert periods(app, "joint-meeting", "泰顺-鹿城") == ["2025", "2026"]
    before = snapshot(app)["occurrences"]
    report = make_app(tmp_path / "home", database_url, catalogue, now=at(2026, 1, 5)).sync(as_of=at(2026, 1, 5))
    assert (report.occurrences_added, report.occurrences_updated) == (2, 0)  # 2027, for each pairing
    assert periods(app, "joint-meeting", "泰顺-鹿城") == ["2025", "2026", "2027"]
    assert set(before) <= set(snapshot(app)["occurrences"])


# --------------------------------------------------------------------------- a changed due date


def test_changing_a_due_date_changes_future_occurrences_and_never_past_ones(tmp_path, database_url):
    directory = tmp_path / "calendar"
    make_catalogue(directory, [next_year_plan(valid_from=2024)])
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2025, 6, 1))
    make_record(app, "next-year-plan", "泰顺-鹿城", "2024-10-15")
    ids_before = _ids(app)
    assert due_dates(app, "next-year-plan") == {
        # 2026-10-31 is a Saturday: the due date rolls forward to Monday 11-02
        "2024": date(2024, 10, 31), "2025": date(2025, 10, 31), "2026": date(2026, 11, 2),
    }

    # the coordinator moves the deadline to 09-30 and reloads on 2025-06-01
    make_catalogue(directory, [next_year_plan(valid_from=2024, due="09-30")])
    edited = make_app(tmp_path / "home", database_url, directory, now=at(2025, 6, 1))
    report = edited.sync(as_of=at(2025, 6, 1))
    assert report.obligations_changed == 1
    assert report.occurrences_updated == 4  # 2025 and 2026, for each of the two pairings
    assert due_dates(edited, "next-year-plan") == {
        "2024": date(2024, 10, 31),  # history stands
        "2025": date(2025, 9, 30),
        "2026": date(2026, 9, 30),
    }
    assert _ids(edited) == ids_before  # the same occurrences, their records still attached
    # the 2024 plan filed on 10-15 was on time under the rule of its day, and stays so
    assert status_of(edited, "next-year-plan", "泰顺-鹿城", "2024", as_of=at(2025, 6, 1)).status == "done"
    with edited.session() as s:
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert "obligation.changed" in actions


def test_an_occurrence_already_past_due_keeps_its_date_when_the_catalogue_changes(tmp_path, database_url):
    directory = tmp_path / "calendar"
    make_catalogue(directory, [next_year_plan()])
    make_app(tmp_path / "home", database_url, directory, sync_at=at(2025, 6, 1))
    make_catalogue(directory, [next_year_plan(due="11-30")])
    # reloaded on 2025-11-10: the 2025 occurrence fell due on 10-31 and is history
    edited = make_app(tmp_path / "home", database_url, directory, sync_at=at(2025, 11, 10))
    assert due_dates(edited, "next-year-plan") == {"2025": date(2025, 10, 31), "2026": date(2026, 11, 30)}


def _ids(app) -> dict[str, int]:
    with app.session() as s:
        return dict(
            s.execute(
                select(Occurrence.period, Occurrence.id).where(
                    Occurrence.obligation_id == "next-year-plan", Occurrence.scope == "泰顺-鹿城"
                )
            ).all()
        )


# --------------------------------------------------------------------------- pairings are data


TWO_PARTNERS = [
    {"name": "泰顺-鹿城", "county": "泰顺县", "partner": "鹿城区", "valid_from": 2020},
    {"name": "永嘉-瓯海", "county": "永嘉县", "partner": "瓯海区", "valid_from": 2020},
    {"name": "泰顺-龙湾", "county": "泰顺县", "partner": "龙湾区", "valid_from": 2022},
]


def test_a_pairing_added_from_2022_yields_occurrences_for_both_pairings_from_2022(tmp_path, database_url):
    county_duty = make_obligation(
        "teacher-support", "annual_count", scope="county", valid_from=2020,
        responsible={"lead": ["市教育局"], "co": ["结对双方"]},
    )
    catalogue = make_catalogue(
        tmp_path / "calendar", [joint_meeting(valid_from=2020), county_duty], pairings=TWO_PARTNERS
    )
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2023, 3, 1))
    assert periods(app, "joint-meeting", "泰顺-鹿城") == ["2020", "2021", "2022", "2023", "2024"]
    assert periods(app, "joint-meeting", "泰顺-龙湾") == ["2022", "2023", "2024"]
    # the county's own duty names both partners from 2022, one before
    with app.session() as s:
        import json

        responsible = {
            o.period: json.loads(o.requirement)["responsible"]
            for o in s.execute(
                select(Occurrence).where(Occurrence.obligation_id == "teacher-support", Occurrence.scope == "泰顺县")
            ).scalars()
        }
    assert set(responsible["2021"]) == {"市教育局", "泰顺县", "鹿城区"}
    assert set(responsible["2022"]) == {"市教育局", "泰顺县", "鹿城区", "龙湾区"}


def test_a_pairing_added_later_to_the_catalogue_reaches_back_to_its_first_year(tmp_path, database_url):
    directory = tmp_path / "calendar"
    make_catalogue(directory, [joint_meeting(valid_from=2020)], pairings=TWO_PARTNERS[:2])
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2023, 3, 1))
    before = snapshot(app)["occurrences"]
    make_catalogue(directory, [joint_meeting(valid_from=2020)], pairings=TWO_PARTNERS)
    report = make_app(tmp_path / "home", database_url, directory, now=at(2023, 3, 1)).sync(as_of=at(2023, 3, 1))
    assert (report.occurrences_added, report.occurrences_updated) == (3, 0)
    assert periods(app, "joint-meeting", "泰顺-龙湾") == ["2022", "2023", "2024"]
    assert set(before) <= set(snapshot(app)["occurrences"])


def test_a_pairing_closed_with_valid_until_stops_after_its_last_year(tmp_path, database_url):
    pairings = [
        {"name": "泰顺-鹿城", "county": "泰顺县", "partner": "鹿城区", "valid_from": 2020, "valid_until": 2022},
        {"name": "泰顺-龙湾", "county": "泰顺县", "partner": "龙湾区", "valid_from": 2022},
    ]
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting(valid_from=2020)], pairings=pairings)
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2023, 3, 1))
    assert periods(app, "joint-meeting", "泰顺-鹿城") == ["2020", "2021", "2022"]
    assert periods(app, "joint-meeting", "泰顺-龙湾") == ["2022", "2023", "2024"]


def test_a_county_with_two_partners_must_name_the_pairing_when_recording(tmp_path, database_url):
    catalogue = make_catalogue(tmp_path / "calendar", [joint_meeting(valid_from=2020)], pairings=TWO_PARTNERS)
    app = make_app(tmp_path / "home", database_url, catalogue, sync_at=at(2023, 3, 1))
    # in 2021 泰顺 has one partner: its name is enough
    make_record(app, "joint-meeting", "泰顺县", "2021-05-01")
    assert status_of(app, "joint-meeting", "泰顺-鹿城", "2021", as_of=at(2021, 5, 2)).progress["done"] == 1
    with pytest.raises(InputError) as caught:
        make_record(app, "joint-meeting", "泰顺县", "2022-05-01")
    assert caught.value.field == "scope"
    assert "泰顺-鹿城" in caught.value.message and "泰顺-龙湾" in caught.value.message
    with app.session() as s:
        assert s.execute(select(func.count()).select_from(CompletionRecord)).scalar_one() == 1
    # before 2022 the new pairing has no occurrence to record against
    with pytest.raises(InputError) as caught:
        make_record(app, "joint-meeting", "泰顺-龙湾", "2021-05-01")
    assert caught.value.field == "scope"


# --------------------------------------------------------------------------- the audit log


def test_the_audit_log_refuses_update_and_delete(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "calendar", [joint_meeting()]),
                   sync_at=at(2026, 3, 1))
    make_record(app, "joint-meeting", "泰顺-鹿城", "2026-03-01")
    with app.session() as s:
        entries = s.execute(select(AuditEntry.id, AuditEntry.action, AuditEntry.detail)).all()
    assert {"obligation.added", "occurrences.synced", "record.submitted"} <= {a for _, a, _ in entries}
    for statement in (
        "UPDATE auditentry SET action = 'forged', detail = '{}'",
        "DELETE FROM auditentry",
    ):
        with pytest.raises(DBAPIError) as caught, app.session() as s:
            s.execute(text(statement))
        assert "append-only" in str(caught.value)
    with app.session() as s:
        assert s.execute(select(AuditEntry.id, AuditEntry.action, AuditEntry.detail)).all() == entries


def test_the_audit_log_keeps_growing(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "calendar", [joint_meeting()]),
                   sync_at=at(2026, 3, 1))
    with app.session() as s:
        before = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    rid = make_record(app, "joint-meeting", "泰顺-鹿城", "2026-03-01", note="第一次联席会议")
    with app.session() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == before + 1
    assert (entry.action, entry.entity, entry.entity_id) == ("record.submitted", "record", str(rid))


def test_a_backdated_preview_never_moves_deadlines_already_past(tmp_path, database_url):
    """History ends at the latest day any run evaluated, not at a preview's as_of."""
    directory = tmp_path / "calendar"
    make_catalogue(directory, [next_year_plan(valid_from=2024)])
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2026, 11, 29))
    make_catalogue(directory, [next_year_plan(valid_from=2024, due="09-30")])
    preview = make_app(tmp_path / "home", database_url, directory)
    preview.sync(as_of=at(2024, 1, 2))  # e.g. `shanhai status --as-of 2024-01-02`
    assert due_dates(app, "next-year-plan") == {
        "2024": date(2024, 10, 31),
        "2025": date(2025, 10, 31),
        "2026": date(2026, 11, 2),  # all three were past on 2026-11-29 (Sat 10-31 rolled to Mon 11-02)
        "2027": date(2027, 9, 30),  # only the future one takes the new date
    }


def test_a_preview_of_a_later_date_does_not_freeze_what_is_still_open(tmp_path, database_url):
    """`status --as-of 2027-06-01` on 2026-11-20 must not stop a catalogue edit from reaching the open
    2026 occurrence: only the real clock moves the high-water mark."""
    directory = tmp_path / "calendar"
    make_catalogue(directory, [joint_meeting()])
    real = at(2026, 11, 20)
    app = make_app(tmp_path / "home", database_url, directory, sync_at=real)
    app.sync(as_of=at(2027, 6, 1))  # the preview, on the real clock of 2026-11-20
    make_catalogue(directory, [joint_meeting(due="12-18")])
    make_app(tmp_path / "home", database_url, directory, now=real).sync(as_of=real)
    with app.session() as s:
        due = s.execute(
            select(Occurrence.due).where(Occurrence.obligation_id == "joint-meeting",
                                         Occurrence.scope == "泰顺-鹿城", Occurrence.period == "2026")
        ).scalar_one()
    assert due == date(2026, 12, 18)


def test_ending_a_pairing_removes_its_unstarted_occurrences_but_keeps_history(tmp_path, database_url):
    directory = tmp_path / "calendar"
    make_catalogue(directory, [next_year_plan(valid_from=2025)])
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2026, 11, 29))
    make_record(app, "next-year-plan", "泰顺-鹿城", "2025-10-15")
    assert set(due_dates(app, "next-year-plan")) == {"2025", "2026", "2027"}

    ended = [dict(PAIRINGS[0], valid_until=2024), PAIRINGS[1]]  # 泰顺-鹿城 turns out to have ended
    make_catalogue(directory, [next_year_plan(valid_from=2025)], pairings=ended)
    report = make_app(tmp_path / "home", database_url, directory, now=at(2026, 11, 30)).sync(as_of=at(2026, 11, 30))
    assert report.changed
    with app.session() as s:
        left = sorted(
            s.execute(select(Occurrence.period).where(Occurrence.scope == "泰顺-鹿城")).scalars().all()
        )
    assert left == ["2025"], "the 2025 occurrence has a record: history stays; 2026 and 2027 go"


def test_an_acknowledged_occurrence_stays_when_its_pairing_ends(tmp_path, database_url):
    """A unit's 签收 is history like a record: the occurrence under it is kept, not deleted."""
    from shanhai.models.acknowledgements import Acknowledgement, acknowledge

    directory = tmp_path / "calendar"
    make_catalogue(directory, [next_year_plan(valid_from=2025)])
    app = make_app(tmp_path / "home", database_url, directory, sync_at=at(2026, 11, 29))
    with app.session() as s:
        acknowledged = s.execute(
            select(Occurrence.id).where(Occurrence.scope == "泰顺-鹿城", Occurrence.period == "2027")
        ).scalar_one()
        acknowledge(session=s, occurrence_id=acknowledged, unit_code="taishun", stage="none", stage_rank=-1,
                    actor="泰顺县（报送链接）", at=at(2026, 11, 29))

    ended = [dict(PAIRINGS[0], valid_until=2024), PAIRINGS[1]]
    make_catalogue(directory, [next_year_plan(valid_from=2025)], pairings=ended)
    report = make_app(tmp_path / "home", database_url, directory, now=at(2026, 11, 30)).sync(as_of=at(2026, 11, 30))
    assert report.occurrences_removed == 2  # 2025 and 2026 had nothing: they go
    with app.session() as s:
        left = s.execute(select(Occurrence.period).where(Occurrence.scope == "泰顺-鹿城")).scalars().all()
        acks = s.execute(select(Acknowledgement.occurrence_id)).scalars().all()
    assert left == ["2027"] and acks == [acknowledged]


def test_tracking_starts_on_1_january_of_the_first_syncs_as_of_year_not_the_clocks(tmp_path, database_url):
    from shanhai.models.installation import read_installation

    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "calendar", [joint_meeting()]),
                   now=at(2026, 11, 29))
    app.sync(as_of=at(2024, 3, 5))  # a first run that replays an earlier day
    with app.session() as s:
        installation = read_installation(session=s)
        assert installation is not None and installation.tracking_from == date(2024, 1, 1)


def test_a_sync_stamps_its_rows_with_the_apps_clock(tmp_path, database_url):
    app = make_app(tmp_path / "home", database_url, make_catalogue(tmp_path / "calendar", [joint_meeting()]),
                   sync_at=at(2026, 11, 29, 9, 5))
    with app.session() as s:
        stamps = set(s.execute(select(Occurrence.created_at)).scalars()) | set(
            s.execute(select(Obligation.loaded_at)).scalars())
    assert stamps == {at(2026, 11, 29, 9, 5)}
