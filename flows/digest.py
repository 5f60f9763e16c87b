"""The digest flows: weekly to the coordinator, monthly to the supervisors.

Scheduled daily; each digest is queued at most once per week/month, by the period's first run in the send
window (normally its first working day) that has items to report (`notifications.digests`); a run that
queued one then delivers the outbox. A digest whose items include overdue duties ends `Failed` (tagged `已逾期`), like a check; so does one whose
delivery failed (tagged `投递失败`), like a delivery run."""

from __future__ import annotations

from typing import Literal

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import State

from shanhai.app import App
from shanhai.flows.common import (
    artifact_key,
    check_markdown,
    dated_run_name,
    digest_outcome,
    ready_app,
    status_rows,
)
from shanhai.flows.deliver import deliver_task
from shanhai.flows.states import final_state
from shanhai.models.orchestration import MONTHLY_DIGEST_FLOW, WEEKLY_DIGEST_FLOW
from shanhai.notifications.checking import CheckResult

WEEKLY, MONTHLY = WEEKLY_DIGEST_FLOW, MONTHLY_DIGEST_FLOW  # runs are named like their flow


@task(name="生成摘要 digest", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE, persist_result=False)
def digest_task(
    app: App, audience: Literal["coordinator", "supervisor"], as_of: str, dry_run: bool
) -> CheckResult:
    from shanhai.app import parse_as_of
    from shanhai.notifications.digests import send_digest

    return send_digest(app, audience=audience, as_of=parse_as_of(as_of), dry_run=dry_run)


def _digest(audience: Literal["coordinator", "supervisor"], as_of: str | None, dry_run: bool) -> State:
    from shanhai.app import parse_as_of

    app = ready_app(flow_run.id)
    when = parse_as_of(as_of).isoformat()
    result = digest_task(app, audience, when, dry_run)
    report = deliver_task(app) if result.queued else None
    create_table_artifact(
        key=artifact_key("digest", audience),
        table=status_rows(result.items),
        description=f"{result.title} · {result.summary}",
    )
    create_markdown_artifact(
        key=artifact_key("digest", audience, "summary"),
        markdown=check_markdown(result, report),
        description=result.title,
    )
    # red for overdue duties (like a check) or for a digest that could not be delivered
    data = {"counts": result.counts, "queued": result.queued}
    if report is not None:
        data |= {"sent": report.sent, "retrying": report.retrying, "failed": report.failed}
    return final_state(digest_outcome(result, report), data)


@flow(
    name=WEEKLY_DIGEST_FLOW,
    flow_run_name=lambda: dated_run_name(WEEKLY, flow_run.parameters.get("as_of")),
    log_prints=True,
)
def weekly_digest_flow(as_of: str | None = None, dry_run: bool = False) -> State:
    """每周督办摘要：发给协调方（市招商局〈经合办〉）。"""
    return _digest("coordinator", as_of, dry_run)


@flow(
    name=MONTHLY_DIGEST_FLOW,
    flow_run_name=lambda: dated_run_name(MONTHLY, flow_run.parameters.get("as_of")),
    log_prints=True,
)
def monthly_digest_flow(as_of: str | None = None, dry_run: bool = False) -> State:
    """每月逾期通报：发给领导小组。"""
    return _digest("supervisor", as_of, dry_run)
