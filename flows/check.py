"""The check flow: one deployment per obligation (prefect.yaml), a thin shell around check_obligation.

The work is one coarse task (never one per occurrence); the run is named for a person
(`联席会议 · 2026-11-29`), publishes the statuses it saw as a table artifact and what it queued and
queued as a markdown artifact. A check that found overdue duties ends `Failed` (red in the Prefect UI,
tagged `已逾期`, "发现逾期 4 项：…"); any other ends `Completed`, the counts in its message (`flows.states`).
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import State

from shanhai.flows.common import artifact_key, check_markdown, check_outcome, check_run_name, status_rows
from shanhai.flows.states import final_state
from shanhai.notifications.checking import CheckResult


def _run_name() -> str:
    params = flow_run.parameters
    return check_run_name(params["obligation"], params.get("as_of"))


@task(name="检查事项 check", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE, persist_result=False)
def check_task(obligation: str, as_of: str | None, dry_run: bool) -> CheckResult:
    """Sync, evaluate every occurrence of the obligation in bulk, plan and queue (idempotent)."""
    from shanhai.app import App, parse_as_of
    from shanhai.notifications.checking import check_obligation

    return check_obligation(App(), obligation, as_of=parse_as_of(as_of), dry_run=dry_run)


@flow(name="check-obligation", flow_run_name=_run_name, log_prints=True)
def check_obligation_flow(obligation: str, as_of: str | None = None, dry_run: bool = False) -> State:
    """检查一项职责：评估全部期次，写入并投递应发的提醒与督办。"""
    from shanhai.app import App, parse_as_of

    app = App()
    if obligation not in app.catalogue.obligations:
        raise ValueError(
            f"unknown obligation '{obligation}' (not in the catalogue {app.settings.catalogue_dir})"
        )
    as_of = as_of or parse_as_of(None).isoformat()  # one instant for the whole run
    # Queue only: the deliver-outbox deployment (every 10 minutes) sends what all the day's checks
    # queued, one message per unit and channel, instead of one per obligation.
    result = check_task(obligation, as_of, dry_run)
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
