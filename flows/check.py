"""The check flow: one deployment per obligation (prefect.yaml), a thin shell around check_obligation.

The work is one coarse task (never one per occurrence); the run is named for a person
(`联席会议 · 2026-11-29`), publishes the statuses it saw as a table artifact and what it queued as a
markdown artifact. A check that found overdue duties ends `Failed` (red in the Prefect UI, tagged
`已逾期`, message "已逾期 4 项，…"); any other ends `Completed`, the counts in its message (`flows.states`).
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import State

from shanhai.app import App
from shanhai.flows.common import (
    artifact_key,
    check_markdown,
    check_outcome,
    check_run_name,
    ready_app,
    run_app,
    status_rows,
)
from shanhai.flows.states import final_state
from shanhai.models.orchestration import CHECK_FLOW
from shanhai.notifications.checking import CheckResult


def _run_name() -> str:
    params = flow_run.parameters
    return check_run_name(params["obligation"], params.get("as_of"), run_app(flow_run.id))


@task(name="检查事项 check", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE, persist_result=False)
def check_task(app: App, obligation: str, as_of: str, dry_run: bool) -> CheckResult:
    """Sync, evaluate every occurrence of the obligation in bulk, plan and queue (idempotent)."""
    from shanhai.app import parse_as_of
    from shanhai.notifications.checking import check_obligation

    return check_obligation(app, obligation, as_of=parse_as_of(as_of), dry_run=dry_run)


@flow(name=CHECK_FLOW, flow_run_name=_run_name, log_prints=True)
def check_obligation_flow(obligation: str, as_of: str | None = None, dry_run: bool = False) -> State:
    """检查一项职责：评估全部期次，把应发的提醒与督办写入发件箱（由发件箱投递流程发送）。"""
    from shanhai.app import parse_as_of

    app = ready_app(flow_run.id)
    app.catalogue.require_obligation(obligation)  # before the task: a typo is not worth its retries
    as_of = as_of or parse_as_of(None).isoformat()  # one instant for the whole run
    # Queue only: the deliver-outbox deployment (every 10 minutes) sends what all the day's checks
    # queued, one message per unit and channel, instead of one per obligation.
    result = check_task(app, obligation, as_of, dry_run)
    create_table_artifact(
        key=artifact_key("status", obligation),
        table=status_rows(result.items),
        description=f"{result.title} 各期次状态 · {result.summary}",
    )
    create_markdown_artifact(
        key=artifact_key("reminders", obligation),
        markdown=check_markdown(result),
        description=f"{result.title} 提醒与督办",
    )
    return final_state(check_outcome(result), {"counts": result.counts, "queued": result.queued})
