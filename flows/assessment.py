"""The annual assessment flow (年度考核): after a year closes (03-31 of the next year), score it, store an
immutable version (a later run finds a late 补录 and stores version 2, saying what changed; unchanged
numbers store nothing), publish it as Prefect artifacts, and send the supervisors the summary and each
unit its own line with a link. Scheduled monthly, so a 补录 after the closing is picked up."""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import State

from shanhai.app import App
from shanhai.flows.common import RunOutcome, artifact_key, dated_run_name, delivery_outcome, ready_app
from shanhai.flows.deliver import deliver_task
from shanhai.flows.states import final_state
from shanhai.models.orchestration import ASSESSMENT_FLOW
from shanhai.notifications.assessment_messages import Publication

ANNUAL = ASSESSMENT_FLOW  # runs are named like their flow


@task(name="年度考核 assess", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE, persist_result=False)
def assess_task(app: App, as_of: str, year: int | None) -> Publication:
    from shanhai.app import parse_as_of
    from shanhai.notifications.assessment_messages import publish_assessment

    return publish_assessment(app, as_of=parse_as_of(as_of), year=year)


def summary_rows(publication: Publication) -> list[dict[str, object]]:
    return [
        {"类别": u.class_name, "名次": u.rank, "单位": u.unit, "得分": u.score, "档次": u.band or "不参评"}
        for u in publication.report.units
    ]


def summary_markdown(publication: Publication) -> str:
    report, stored = publication.report, publication.stored
    lines = [f"# {report.year} 年度考核 · 第{stored.version}版", "", f"> {report.notice}", ""]
    if stored.version > 1 or not stored.created:
        lines += ["## 与上一版相比" if stored.created else "## 本版（未变化，未新建版本）", ""]
        lines += [f"- {c}" for c in stored.changes] + [""]
    lines.append("| 类别 | 名次 | 单位 | 得分 | 档次 |")
    lines.append("|---|---|---|---|---|")
    lines += [f"| {r['类别']} | {r['名次'] or '—'} | {r['单位']} | {r['得分']} | {r['档次']} |"
              for r in summary_rows(publication)]
    return "\n".join(lines)


@flow(
    name=ASSESSMENT_FLOW,
    flow_run_name=lambda: dated_run_name(ANNUAL, flow_run.parameters.get("as_of")),
    log_prints=True,
)
def annual_assessment_flow(year: int | None = None, as_of: str | None = None) -> State:
    """年度考核：年度关闭后计算、存为不可变版本、发布为产物，并向领导小组发送汇总、向各单位发送本单位结果。"""
    from shanhai.app import parse_as_of

    app = ready_app(flow_run.id)
    publication = assess_task(app, parse_as_of(as_of).isoformat(), year)
    report = deliver_task(app) if publication.queued else None
    create_table_artifact(key=artifact_key("assessment", str(publication.report.year)),
                          table=summary_rows(publication), description=publication.summary)
    create_markdown_artifact(key=artifact_key("assessment", str(publication.report.year), "summary"),
                             markdown=summary_markdown(publication), description=publication.summary)
    outcome = RunOutcome(False, publication.summary, (), "Assessed")
    if report is not None and delivery_outcome(report).failed:
        outcome = delivery_outcome(report)
    data = {"year": publication.report.year, "version": publication.stored.version,
            "created": publication.stored.created, "queued": publication.queued}
    return final_state(outcome, data)
