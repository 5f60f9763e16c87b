"""Links open: commands follow the addresses of the stack `shanhai up` runs on their home, and a clerk's
try-it link from the demo history opens the report page of a county's open duty."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import at, make_app


def _stack(home, **addresses):
    from shanhai.running import write_running_stack

    home.mkdir(parents=True, exist_ok=True)
    return write_running_stack(home, **addresses)


def test_links_follow_the_portal_the_running_stack_is_on(tmp_path, database_url):
    from shanhai.notifications.sample_link import sample_report_link

    _stack(tmp_path, portal_url="http://127.0.0.1:8611", prefect_ui_url="http://127.0.0.1:4211")
    app = make_app(tmp_path, database_url, sync_at=at(2026, 11, 30, 10))
    assert app.settings.portal_url == "http://127.0.0.1:8611"
    assert app.settings.prefect_ui_url == "http://127.0.0.1:4211"
    link = sample_report_link(app, as_of=at(2026, 11, 30, 10))
    assert link is not None and link.url.startswith("http://127.0.0.1:8611/report/")


def test_a_set_portal_url_wins_over_the_running_stack(tmp_path, database_url):
    _stack(tmp_path, portal_url="http://127.0.0.1:8611", prefect_ui_url="http://127.0.0.1:4211")
    app = make_app(tmp_path, database_url, portal_url="https://shanhai.example.gov.cn")
    assert app.settings.portal_url == "https://shanhai.example.gov.cn"
    assert app.settings.prefect_ui_url == "http://127.0.0.1:4211"


def test_the_file_of_a_stack_that_was_killed_is_ignored(tmp_path, database_url):
    import json

    path = _stack(tmp_path, portal_url="http://127.0.0.1:8611", prefect_ui_url="http://127.0.0.1:4211")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": int(gone.stdout)}))
    app = make_app(tmp_path, database_url)
    assert app.settings.portal_url == "http://127.0.0.1:8600"


def test_the_try_it_link_opens_a_county_duty_as_its_lead_unit(tmp_path, database_url):
    from shanhai.models.queries import ordered_evaluations
    from shanhai.notifications.links import verify_report_token
    from shanhai.notifications.outbox import unit_code
    from shanhai.notifications.sample_link import sample_report_link

    when = at(2026, 11, 30, 10)
    app = make_app(tmp_path, database_url, sync_at=when)
    link = sample_report_link(app, as_of=when)
    assert link is not None
    token = link.url.rsplit("/report/", 1)[1]
    opened = verify_report_token(token, secret="test-secret", now=when)
    occ = next(o for o, _ in ordered_evaluations(app, as_of=when) if o.id == opened.occurrence_id)
    assert link.unit == occ.requirement.leads[0] and opened.unit_code == unit_code(app, link.unit)
    paired = {u for p in app.catalogue.pairings.values() for u in (p.county, p.partner)}
    assert link.unit in paired, "a county office's duty, not the coordinator's own"
