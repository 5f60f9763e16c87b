"""prefect.yaml is generated from the catalogue and cannot drift; the flows' plain helpers; `shanhai up`'s
process handling. No Prefect server here (the end-to-end test is tests/test_flows_e2e.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import yaml

from shanhai import REPO_ROOT
from shanhai.cli.deployments import deployment_specs, render_prefect_yaml
from shanhai.flows.common import artifact_key, check_run_name, dated_run_name, status_rows
from tests.conftest import REAL_CATALOGUE, make_app


def _catalogue():
    from shanhai.models.catalogue import load_catalogue

    return load_catalogue(REAL_CATALOGUE)


def test_checked_in_prefect_yaml_is_the_rendered_one():
    text = (REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8")
    assert text == render_prefect_yaml(_catalogue()), (
        "prefect.yaml differs from the catalogue: run `python -m shanhai.cli.deployments` and commit it"
    )


def test_one_scheduled_deployment_per_obligation_plus_the_support_flows():
    cat = _catalogue()
    doc = yaml.safe_load(render_prefect_yaml(cat))
    deps = {d["name"]: d for d in doc["deployments"]}
    assert len(deps) == len(doc["deployments"])  # unique names
    assert set(deps) == set(cat.obligations) | {"deliver-outbox", "weekly-digest", "monthly-digest"}
    jm = deps["joint-meeting"]
    assert jm["entrypoint"] == "shanhai.flows.check:check_obligation_flow"
    assert jm["parameters"] == {"obligation": "joint-meeting"}
    assert jm["work_pool"] == {"name": "shanhai"}
    assert jm["description"].startswith("联席会议") and "三(二)" in jm["description"]
    assert jm["schedules"] == [{"cron": "5 9 * * *", "timezone": "Asia/Shanghai"}]
    assert deps["deliver-outbox"]["schedules"][0]["cron"] == "*/10 * * * *"
    # digests run daily and send once per week/month, on its first working day
    assert deps["weekly-digest"]["schedules"][0]["cron"] == "30 9 * * *"
    assert deps["monthly-digest"]["schedules"][0]["cron"] == "30 9 * * *"
    assert all(d["schedules"][0]["timezone"] == "Asia/Shanghai" for d in deps.values())
    # no build, push or pull: the worker imports the installed package by module name
    assert doc["build"] is None and doc["push"] is None
    assert doc["pull"] == []


def test_the_checks_follow_the_configured_send_hour():
    doc = yaml.safe_load(render_prefect_yaml(_catalogue(), send_hour=10))
    crons = {d["name"]: d["schedules"][0]["cron"] for d in doc["deployments"]}
    assert crons["joint-meeting"] == "5 10 * * *", "a check before the send hour would never send anything"
    assert crons["weekly-digest"] == "30 10 * * *"


def test_entrypoints_name_flows_of_the_package_by_module():
    code = (
        "import sys; from prefect.flows import load_flow_from_entrypoint;"
        "[print(load_flow_from_entrypoint(e).name) for e in sys.argv[1:]];"
        "print(sorted(m for m in sys.modules if m in ('check', 'deliver', 'digest')))"
    )
    entrypoints = sorted({spec["entrypoint"] for spec in deployment_specs(_catalogue())})
    assert all(":" in e and not e.endswith(".py") and "/" not in e for e in entrypoints)
    done = subprocess.run(
        [sys.executable, "-c", code, *entrypoints], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    assert sorted(names[:-1]) == ["check-obligation", "deliver-outbox", "monthly-digest", "weekly-digest"]
    assert names[-1] == "[]", "no flow file is loaded as a stray top-level module"


def test_the_plain_cli_modules_do_not_import_prefect():
    code = (
        "import sys, shanhai.cli.main, shanhai.cli.up, shanhai.cli.deployments, shanhai.flows.common;"
        "sys.exit('prefect' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=60).returncode == 0


def test_run_names_are_for_a_person(tmp_path):
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    assert check_run_name("joint-meeting", "2026-11-30T10:00:00+08:00", app) == "联席会议 · 2026-11-30"
    # the local (Asia/Shanghai) date, not UTC's
    assert check_run_name("joint-meeting", "2026-11-29T20:00:00Z", app) == "联席会议 · 2026-11-30"
    assert check_run_name("joint-meeting", "2026-11-29", app) == "联席会议 · 2026-11-29"
    # an unknown obligation or a bad date never breaks the name (the flow reports the error)
    assert check_run_name("no-such-duty", "2026-11-29", app) == "no-such-duty · 2026-11-29"
    assert check_run_name("joint-meeting", "tomorrow", app) == "联席会议 · tomorrow"
    assert (
        dated_run_name("发件箱投递", "2026-11-30T01:10:00Z", with_time=True)
        == "发件箱投递 · 2026-11-30 09:10"
    )


def test_artifact_keys_take_lowercase_letters_digits_and_dashes():
    assert artifact_key("status", "joint-meeting") == "status-joint-meeting"
    assert artifact_key("Digest", "coordinator", "summary") == "digest-coordinator-summary"
    assert artifact_key("status", "a_b.c") == "status-a-b-c"


def test_status_rows_have_one_row_per_item_with_chinese_headers():
    items = [
        {
            "id": 1,
            "obligation": "joint-meeting",
            "title": "联席会议",
            "clause": "三(二)",
            "scope": "泰顺-鹿城",
            "period": "2026",
            "due": "2026-12-31",
            "status": "behind_pace",
            "light": "yellow",
            "progress": {"done": 0, "required": 2},
            "escalation_level": 0,
            "pending": False,
        }
    ]
    [row] = status_rows(items)
    assert row["范围"] == "泰顺-鹿城" and row["状态"] == "进度滞后" and row["截止日期"] == "2026-12-31"
    assert row["待审核"] == ""


def test_stack_stops_its_process_groups(tmp_path):
    from shanhai.cli.processes import Stack

    stack = Stack()
    child = stack.start(
        "sleeper",
        ["sh", "-c", "sleep 60 & sleep 60"],  # a grandchild in the same group must go too
        env={"PATH": "/usr/bin:/bin"},
        log_path=tmp_path / "sleeper.log",
        cwd=tmp_path,
    )
    pgid = child.proc.pid
    stack.stop(timeout=5)
    assert child.proc.poll() is not None
    # the killed grandchild is reaped by init asynchronously: give it a bounded moment to vanish
    deadline = time.monotonic() + 10
    while (left := _live_in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], f"processes left in the group: {left}"


def _live_in_group(pgid: int) -> list[str]:
    """Processes of the group that are not zombies (a zombie is dead, waiting to be reaped)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split()[1] == str(pgid) and not line.split()[2].startswith("Z")]
