"""The flow runs of one `shanhai up`: today's checks triggered once a day, in-flight runs settled on stop.

- `trigger_checks`: one check per obligation and local day, whatever the number of starts that day
  (idempotency keys, and today's scheduled run counts as the day's check once it is due);
- `settle_runs`: at stop, this stack's runs still Running, Pending or waiting past their time are
  Cancelled, with a message, so none stays Running forever after its worker is gone;
- `settle_previous_runs`: at start, before the worker, what a killed stack left behind (Crashed) and
  the scheduled runs of days the stack was down (Cancelled: today's checks replace them);
- `checks_progress`: how many of the day's checks have finished, and which found overdue duties;
- `name_upcoming_runs`: the scheduler's next runs get a readable name (`联席会议 · 2026-11-30 09:05`)
  instead of Prefect's random adjective-animal one (which the flow would replace only when it starts).

Prefect is imported only inside the functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from shanhai.cli.prefect_admin import WORK_POOL
from shanhai.models.localtime import SHANGHAI, local_date, to_local
from shanhai.models.orchestration import DELIVER_DEPLOYMENT, check_deployment
from shanhai.models.statuses import Status

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun

UP_TAG = "shanhai-up"
# The check flow tags a run that found overdue duties with the status label (shanhai.flows.common):
# such a Failed run is a finished check, where a Failed run without it is an error worth re-running.
OVERDUE_TAG = Status.OVERDUE.label
IN_FLIGHT = ["RUNNING", "PENDING", "CANCELLING"]  # state types of a run its worker still owns
MAX_ATTEMPTS = 20  # fresh idempotency keys tried for a day whose earlier runs were all cancelled
PAGE = 200  # the API's largest page of flow runs

STOPPED_MESSAGE = "shanhai up 已停止，本次运行被取消（Ctrl-C/SIGTERM）。"
ORPHAN_MESSAGE = "上次 shanhai up 未正常停止（进程被强制结束），本次运行随之中断。"
MISSED_MESSAGE = "服务停止期间错过了这次计划运行；今天的检查在启动时运行。"


@dataclass
class Triggered:
    """The day's check run of each obligation: created now, or found (already ran or running)."""

    created: dict[str, UUID] = field(default_factory=dict)
    existing: dict[str, UUID] = field(default_factory=dict)

    @property
    def runs(self) -> dict[str, UUID]:
        return {**self.existing, **self.created}


@dataclass(frozen=True)
class Progress:
    finished: int
    total: int
    overdue: list[str]  # obligation ids whose check found overdue duties
    errors: list[str]  # obligation ids whose check ended Failed without finding overdue, Crashed or Cancelled

    @property
    def done(self) -> bool:
        return self.finished >= self.total


def local_day_bounds(day) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def counts_as_the_days_check(run: FlowRun) -> bool:
    """A run that ran, runs or waits to run: not cancelled, crashed or failed by an error."""
    from prefect.client.schemas.objects import StateType

    state = run.state
    if state is None:
        return False
    if state.type in (StateType.CANCELLED, StateType.CRASHED):
        return False
    if state.type == StateType.FAILED:
        return OVERDUE_TAG in (run.tags or [])
    return True


def _due_scheduled_run_today(client: SyncPrefectClient, deployment_id: UUID, now: datetime) -> FlowRun | None:
    """Today's auto-scheduled (09:05) run once its time has come, if it is not dead."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
    )

    start, _ = local_day_bounds(local_date(now))
    runs = _read_all(
        client,
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            expected_start_time=FlowRunFilterExpectedStartTime(after_=start, before_=now),
        ),
    )
    return next((r for r in runs if r.auto_scheduled and counts_as_the_days_check(r)), None)


def _run_with_key(client: SyncPrefectClient, deployment_id: UUID, key: str) -> FlowRun | None:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterIdempotencyKey,
    )

    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            idempotency_key=FlowRunFilterIdempotencyKey(any_=[key]),
        ),
        limit=1,
    )
    return runs[0] if runs else None


def trigger_checks(
    api_url: str, titles: Mapping[str, str], as_of: str | None = None, *, now: datetime | None = None
) -> Triggered:
    """One check run per obligation (id → title) for the local day of `as_of` (default: today), at most.

    Idempotent: a second start the same day finds the first start's runs by their idempotency key
    (`shanhai-up:<obligation>:<YYYY-MM-DD>`) and today's scheduled run once it is due; a day whose runs
    were all cancelled (a stop while they waited) gets a new one under the next key (`…:1`, `…:2`)."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.exceptions import ObjectNotFound

    from shanhai.app import parse_as_of

    now = now or datetime.now(UTC)
    day = local_date(parse_as_of(as_of)) if as_of else local_date(now)
    params = {"as_of": as_of} if as_of else {}
    result = Triggered()
    with SyncPrefectClient(api_url) as client:
        for ob_id, title in titles.items():
            try:
                dep = client.read_deployment_by_name(check_deployment(title))
            except ObjectNotFound:
                continue
            if as_of is None and (scheduled := _due_scheduled_run_today(client, dep.id, now)):
                result.existing[ob_id] = scheduled.id
                continue
            for attempt in range(MAX_ATTEMPTS):
                key = f"{UP_TAG}:{ob_id}:{day.isoformat()}" + (f":{attempt}" if attempt else "")
                earlier = _run_with_key(client, dep.id, key)
                if earlier is not None:
                    if counts_as_the_days_check(earlier):
                        result.existing[ob_id] = earlier.id
                        break
                    continue  # cancelled before it ran, crashed or failed: the next key
                run = client.create_flow_run_from_deployment(
                    dep.id, parameters=params, tags=[UP_TAG], idempotency_key=key, name=f"{title} · {day}"
                )
                result.created[ob_id] = run.id
                break
    return result


def deliver_now(api_url: str) -> bool:
    """Checks only queue: one delivery run once they have finished sends what they all queued, one
    message per unit and channel (the 10-minute schedule would too, later). False without the deployment."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.exceptions import ObjectNotFound

    with SyncPrefectClient(api_url) as client:
        try:
            deliver = client.read_deployment_by_name(DELIVER_DEPLOYMENT)
        except ObjectNotFound:
            return False
        name = f"{run_label(deliver.description, deliver.name)} · {to_local(datetime.now(UTC)):%Y-%m-%d %H:%M}"
        client.create_flow_run_from_deployment(deliver.id, tags=[UP_TAG], name=name)
    return True


def checks_progress(api_url: str, runs: Mapping[str, UUID]) -> Progress:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType

    ids = {run_id: ob_id for ob_id, run_id in runs.items()}
    if not ids:
        return Progress(0, 0, [], [])
    with SyncPrefectClient(api_url) as client:
        found = _read_all(client, flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(ids))))
    final = [r for r in found if r.state is not None and r.state.is_final()]
    overdue = sorted(ids[r.id] for r in final if OVERDUE_TAG in (r.tags or []))
    errors = sorted(
        ids[r.id]
        for r in final
        if r.state is not None and r.state.type != StateType.COMPLETED and OVERDUE_TAG not in (r.tags or [])
    )
    return Progress(len(final), len(ids), overdue, errors)


def _pool_runs(
    client: SyncPrefectClient, *, types: list[Any] | None = None, scheduled_before: datetime | None = None
) -> list[FlowRun]:
    """Runs of the `shanhai` work pool in one of `types`, or scheduled to start before a time."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType

    if scheduled_before is None:
        flt = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=types)))
    else:
        flt = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=scheduled_before),
        )
    return _read_all(
        client, flow_run_filter=flt, work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[WORK_POOL]))
    )


def _read_all(client: SyncPrefectClient, **filters: Any) -> list[FlowRun]:
    """Every matching run (the API answers at most PAGE a request)."""
    runs: list[FlowRun] = []
    while True:
        page = client.read_flow_runs(**filters, limit=PAGE, offset=len(runs))
        runs += page
        if len(page) < PAGE:
            return runs


def _set_final(client: SyncPrefectClient, runs: list[FlowRun], make_state) -> int:
    """Propose a final state to each run (not forced: a run that has just finished keeps its own)."""
    from prefect.client.schemas.responses import SetStateStatus

    settled = 0
    for run in runs:
        result = client.set_flow_run_state(run.id, make_state())
        settled += result.status == SetStateStatus.ACCEPT
    return settled


def settle_runs(api_url: str, *, now: datetime | None = None) -> int:
    """At stop: this stack's Running, Pending, Cancelling runs and those waiting past their time → Cancelled."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import Cancelled

    now = now or datetime.now(UTC)
    with SyncPrefectClient(api_url) as client:
        runs = _pool_runs(client, types=IN_FLIGHT) + _pool_runs(client, scheduled_before=now)
        return _set_final(client, runs, lambda: Cancelled(message=STOPPED_MESSAGE))


def settle_previous_runs(api_url: str, *, now: datetime | None = None) -> tuple[int, int]:
    """At start, before the worker: (runs of a killed stack → Crashed, runs of past days → Cancelled).

    No worker of this home runs yet, so whatever is Running or Pending lost its process; scheduled runs
    of earlier days would all run at once when the worker starts, each checking today."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import Cancelled, Crashed

    now = now or datetime.now(UTC)
    today, _ = local_day_bounds(local_date(now))
    with SyncPrefectClient(api_url) as client:
        orphans = _pool_runs(client, types=IN_FLIGHT)
        crashed = _set_final(client, orphans, lambda: Crashed(message=ORPHAN_MESSAGE))
        missed = _pool_runs(client, scheduled_before=today)
        cancelled = _set_final(client, missed, lambda: Cancelled(message=MISSED_MESSAGE))
    return crashed, cancelled


def run_label(description: str | None, fallback: str) -> str:
    """The head of a deployment's description (`联席会议（温政发〔2018〕26号 …）` → `联席会议`), which is
    the label its flow names runs with (cli/deployments.py writes both)."""
    head = re.split(r"[：（(]", description or "", maxsplit=1)[0].strip()
    return head or fallback


def name_upcoming_runs(api_url: str) -> int:
    """Name the `shanhai` pool's auto-scheduled runs that still carry Prefect's random name; how many."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with SyncPrefectClient(api_url) as client:
        runs = [
            r
            for r in _pool_runs(client, types=["SCHEDULED"])
            if r.auto_scheduled and r.deployment_id is not None and " · " not in r.name
        ]
        if not runs:
            return 0
        ids = sorted({r.deployment_id for r in runs if r.deployment_id is not None})
        deployments = client.read_deployments(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)))
        labels = {d.id: run_label(d.description, d.name) for d in deployments}
        for run in runs:
            when = to_local(run.expected_start_time) if run.expected_start_time else None
            label = labels.get(run.deployment_id, run.name)  # type: ignore[arg-type]
            name = f"{label} · {when:%Y-%m-%d %H:%M}" if when else label
            client.update_flow_run(run.id, name=name)
        return len(runs)
