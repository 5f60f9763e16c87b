"""The final state of a Shanhai run as the Prefect UI shows it (see `flows.common` for why these states).

A run that found something wrong returns the standard `Failed` state (red in every view, counted by the
dashboard, listed by every deployment page's default filter) and tags itself (`已逾期`, `投递失败`) so it
can be filtered for by tag too; any other run returns the standard `Completed` (green). The message of
either gives the counts.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from prefect import get_client, get_run_logger
from prefect.exceptions import FailedRun
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from shanhai.flows.common import RunOutcome

ENGINE_EXIT = "Engine execution exited with unexpected exception"


class _ReturnedFailureFilter(logging.Filter):
    """Drop the engine's traceback for a Failed state the flow returned on purpose.

    A deployment's run ends with the engine asking for its result, which raises `FailedRun` for any
    Failed state; the engine then logs that as an unexpected exception, with a traceback, in the run's
    logs (shown in the UI). A real error raises its own exception type and keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (record.msg == ENGINE_EXIT and isinstance(exc, FailedRun))


logging.getLogger("prefect.flow_runs").addFilter(_ReturnedFailureFilter())


def tag_current_run(tags: tuple[str, ...]) -> None:
    """Add tags to the flow run being executed (the UI filters runs by tag). Never fails the run."""
    run_id = flow_run.get_id()
    if not tags or run_id is None:
        return
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(run_id))
            wanted = sorted(set(run.tags) | set(tags))
            if wanted != sorted(run.tags):
                client.update_flow_run(run.id, tags=wanted)
    except Exception as exc:  # noqa: BLE001  (a missing tag must not turn a check into an error)
        get_run_logger().warning("未能为本次运行添加标签 %s：%s", tags, exc)


def final_state(outcome: RunOutcome, data: dict[str, Any]) -> State:
    """Tag the run, then the state the flow returns (a Failed state carries no data: Prefect turns a
    failed run's data into its exception; the counts are in the message)."""
    tag_current_run(outcome.tags)
    if outcome.failed:
        return Failed(message=outcome.message)
    return Completed(message=outcome.message, data={"verdict": outcome.verdict, **data})
