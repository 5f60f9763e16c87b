"""The delivery flow: every 10 minutes, deliver what is due in the outbox (retries with backoff).

Delivery follows the real clock: nothing leaves outside working days and hours, and a claim is stamped
with the time it was made. A run with failed deliveries ends `Failed` (tagged `投递失败`); sent, held,
retrying (tagged `待重试`) and idle runs end `Completed`."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import State

from shanhai.app import App
from shanhai.flows.common import dated_run_name, delivery_markdown, delivery_outcome, ready_app
from shanhai.flows.states import final_state
from shanhai.models.orchestration import DELIVER_FLOW
from shanhai.notifications.delivery import DeliveryReport

DELIVERY = DELIVER_FLOW  # runs are named like their flow


@task(
    name="投递发件箱 deliver", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE, persist_result=False
)
def deliver_task(app: App) -> DeliveryReport:
    from shanhai.notifications.delivery import deliver_outbox

    return deliver_outbox(app)


@flow(name=DELIVER_FLOW, flow_run_name=lambda: dated_run_name(DELIVERY, None, with_time=True), log_prints=True)
def deliver_outbox_flow() -> State:
    """投递发件箱中待发送或待重试的消息。"""
    app = ready_app(flow_run.id)
    report = deliver_task(app)
    create_markdown_artifact(
        key="outbox-delivery", markdown=delivery_markdown(report, app.clock()), description=report.summary
    )
    return final_state(
        delivery_outcome(report), {"sent": report.sent, "retrying": report.retrying, "failed": report.failed}
    )
