"""The delivery flow: every 10 minutes, deliver what is due in the outbox (retries with backoff)."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import Completed, State

from shanhai.flows.common import dated_run_name, delivery_markdown, delivery_state_name


def _run_name() -> str:
    return dated_run_name("发件箱投递", flow_run.parameters.get("as_of"), with_time=True)


@task(
    name="投递发件箱 deliver", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE, persist_result=False
)
def deliver_task(as_of: str):
    from shanhai.app import App, parse_as_of
    from shanhai.notifications.dispatch import deliver_outbox

    return deliver_outbox(App(), as_of=parse_as_of(as_of))


@flow(name="deliver-outbox", flow_run_name=_run_name, log_prints=True)
def deliver_outbox_flow(as_of: str | None = None) -> State:
    """投递发件箱中待发送或待重试的消息。"""
    from shanhai.app import parse_as_of

    when = parse_as_of(as_of)
    report = deliver_task(when.isoformat())
    create_markdown_artifact(
        key="outbox-delivery", markdown=delivery_markdown(report, when), description=report.summary
    )
    return Completed(
        name=delivery_state_name(report),
        message=report.summary,
        data={"sent": report.sent, "retrying": report.retrying, "failed": report.failed},
    )
