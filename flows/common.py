"""Plain-Python helpers of the flows: run names, artifact keys, artifact contents and run outcomes.

No Prefect import here, so everything is testable (and usable) without the engine.

How a run's outcome shows in the Prefect UI (Prefect 3.9, both the default React UI under /v2 and the
classic one): badges are coloured by state TYPE only (a COMPLETED state is green whatever its name);
the dashboard counts failed runs by type (FAILED, CRASHED); the classic UI's state filter and its
deployment pages' default filter list Prefect's standard state NAMES, so a custom name hides a run there.
So a run that found something wrong ends in the standard `Failed` state (red, counted, filterable,
listed everywhere) with the counts in its message and a tag naming what it found (`已逾期`); every other
run ends in the standard `Completed` with the counts in its message. The engine's own verdict
(`Overdue`, `BehindPace` …) stays in the artifacts (and in a Completed state's data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from shanhai.models.localtime import TZ_NAME, format_local, local_date
from shanhai.models.progress import progress_text
from shanhai.models.statuses import Light, Status, label_of
from shanhai.notifications.checking import STATE_NAMES

# The engine's verdict of a delivery run, by what it found (kept in the state's data and the artifact).
DELIVERY_STATES = (
    ("failed", "DeliveryFailed"),
    ("retrying", "Retrying"),
    ("sent", "Sent"),
    ("held", "Held"),  # due, but outside the send window: they leave from the next send hour of a working day
)

# Run tags, so each outcome can be filtered for in the UI (tags filter) and by `shanhai up`.
OVERDUE_VERDICT = dict(STATE_NAMES)[Status.OVERDUE]  # the engine's name: Overdue
VERDICT_TAGS = {name: status.label for status, name in STATE_NAMES}  # Overdue → 已逾期, BehindPace → 进度滞后 …
# The verdict in words, for the artifact's 结论 line.
VERDICT_LABELS = {**VERDICT_TAGS, "AllOnTrack": "进展正常", "AllDone": "全部完成", "NoOccurrences": "尚无期次"}
DELIVERY_FAILED_TAG = "投递失败"
DELIVERY_RETRYING_TAG = "待重试"


@dataclass(frozen=True)
class RunOutcome:
    """The final state a run reports: Failed (red) when it found something wrong, else Completed."""

    failed: bool
    message: str
    tags: tuple[str, ...] = ()
    verdict: str = ""


def check_outcome(result) -> RunOutcome:
    """A check that found overdue duties fails, with the counts; any other ends Completed."""
    tag = VERDICT_TAGS.get(result.state_name)
    tags = (tag,) if tag else ()
    # the summary leads with the most urgent count ("已逾期 4 项，…"): it says why the run is red
    return RunOutcome(result.state_name == OVERDUE_VERDICT, result.summary, tags, result.state_name)


def digest_outcome(result, report=None) -> RunOutcome:
    """A digest is a check that may also have delivered: it fails for overdue duties (like a check) or
    for failed deliveries (like a delivery run), tagged for each."""
    check = check_outcome(result)
    if report is None:
        return check
    delivery = delivery_outcome(report)
    return RunOutcome(
        check.failed or delivery.failed,
        f"{check.message}；{delivery.message}",
        check.tags + delivery.tags,
        delivery.verdict if delivery.failed and not check.failed else check.verdict,
    )


def delivery_outcome(report) -> RunOutcome:
    """A delivery run with failed deliveries fails; retries, holds and idle runs are a healthy run's."""
    verdict = delivery_state_name(report)
    if report.failed:
        return RunOutcome(True, f"投递失败 {report.failed} 条：{report.summary}", (DELIVERY_FAILED_TAG,), verdict)
    tags = (DELIVERY_RETRYING_TAG,) if report.retrying else ()
    return RunOutcome(False, report.summary, tags, verdict)

STATUS_COLUMNS = (
    ("scope", "范围"),
    ("period", "期次"),
    ("due", "截止日期"),
    ("status_label", "状态"),
    ("light", "灯"),
    ("progress_text", "进度"),
    ("escalation_level", "督办级别"),
    ("pending", "待审核"),
)


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys take lowercase letters, digits and dashes only."""
    key = "-".join(parts).lower()
    key = re.sub(r"[^a-z0-9-]+", "-", key)
    return re.sub(r"-{2,}", "-", key).strip("-") or "shanhai"


def run_app(run_id: str | None):
    """The App of one flow run: its run name, its body and its tasks share one (settings read and the
    catalogue loaded once). Outside a run (``run_id`` None) a new one."""
    from shanhai.app import App

    return App() if run_id is None else _app_of_run(str(run_id))


@lru_cache(maxsize=4)  # one process may run a few flows in turn (tests, `shanhai` commands): one App each
def _app_of_run(run_id: str):
    from shanhai.app import App

    return App()


def ready_app(run_id: str | None):
    """:func:`run_app`, refusing (:class:`shanhai.app.DatabaseMissing`, in Chinese) a database that is
    not there: a flow never creates one (a wrong path would give a new, empty, all-red database)."""
    app = run_app(run_id)
    app.require_database()
    return app


def local_day(as_of: datetime) -> str:
    return local_date(as_of).isoformat()


def check_run_name(obligation: str, as_of: str | None, app=None) -> str:
    """`联席会议 · 2026-11-29`: the obligation's title and the local date it was checked for."""
    from shanhai.app import App, parse_as_of

    app = app or App()
    try:
        title = app.catalogue.obligations[obligation].title
    except Exception:  # noqa: BLE001  (a name must never fail a run; the flow reports the real error)
        title = obligation
    try:
        when = local_day(parse_as_of(as_of))
    except ValueError:
        when = str(as_of)
    return f"{title} · {when}"


def dated_run_name(label: str, as_of: str | None, *, with_time: bool = False, tz: str = TZ_NAME) -> str:
    import pendulum

    from shanhai.app import parse_as_of

    try:
        when = pendulum.instance(parse_as_of(as_of)).in_timezone(tz)
    except ValueError:
        return f"{label} · {as_of}"
    return f"{label} · {when.format('YYYY-MM-DD HH:mm') if with_time else when.date().isoformat()}"


def status_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per occurrence the check saw, with Chinese column headers."""
    rows = []
    for item in items:
        view = {
            **item,
            "status_label": label_of(item["status"]),
            "light": Light(item["light"]).name_zh if item.get("light") else "",
            "progress_text": progress_text(item.get("progress") or {}),
            "pending": "是" if item.get("pending") else "",
        }
        rows.append({header: view.get(field) for field, header in STATUS_COLUMNS})
    return rows


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def check_markdown(result, report=None) -> str:
    """What a check run found and what it queued (and, when it delivered, what went out)."""
    verb = "计划发送（预览，未写入发件箱）" if result.dry_run else "新写入发件箱"
    lines = [
        f"# {result.title} · {local_day(result.as_of)}",
        "",
        f"**结论：{VERDICT_LABELS.get(result.state_name, result.state_name)}（{result.state_name}）**：{result.summary}",
        "",
        f"评估时点 {format_local(result.as_of)}（北京时间）；{verb} {len(result.messages) if result.dry_run else result.queued} 条。",
        "",
    ]
    if result.counts:
        lines += ["| 状态 | 期次数 |", "|---|---|"]
        lines += [f"| {label_of(s)} | {n} |" for s, n in sorted(result.counts.items())]
        lines.append("")
    if result.messages:
        lines += ["## 本次计划的消息", "", "| 收件单位 | 角色 | 阶段 | 事项 |", "|---|---|---|---|"]
        for m in result.messages:
            items = "；".join(
                f"{i['scope']} {i['due']} {label_of(i['status'])}" for i in m["items"]
            )
            lines.append(
                f"| {_md_escape(m['recipient'])} | {m['role']} | {_md_escape(m.get('stage_label', m['stage']))} "
                f"| {_md_escape(items)} |"
            )
        lines.append("")
    else:
        lines += ["本次无须发送提醒或督办。", ""]
    if report is not None:
        lines += ["## 投递", "", report.summary, ""]
    return "\n".join(lines)


def delivery_state_name(report) -> str:
    for attr, name in DELIVERY_STATES:
        if getattr(report, attr):
            return name
    return "Idle"


def delivery_markdown(report, as_of: datetime) -> str:
    lines = [f"# 发件箱投递 · {format_local(as_of)}（北京时间）", "", report.summary, ""]
    if report.details:
        lines += ["| 投递 | 消息 | 收件单位 | 渠道 | 结果 | 错误 |", "|---|---|---|---|---|---|"]
        for d in report.details:
            lines.append(
                f"| {d.get('delivery')} | {d.get('message')} | {_md_escape(d.get('recipient'))} "
                f"| {_md_escape(d.get('channel'))} | {d.get('status')} | {_md_escape(d.get('error') or '')} |"
            )
        lines.append("")
    if report.kept_local:
        lines += ["未配置渠道的消息只保存在本地发件箱，没有离开本机。", ""]
    return "\n".join(lines)
