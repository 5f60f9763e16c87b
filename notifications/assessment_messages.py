"""Publishing a closed year's assessment: store it as an immutable version, then queue (through the
outbox, once per version and recipient) the supervisors' summary and each unit its own line with a link.

The messages are prepared text (``payload["text"]``), not reminder items: an assessment is no list of
overdue duties, and the reminders' wording ("以下事项已逾期…") would not be true of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shanhai.models.assessment import Assessment, UnitAssessment, latest_closed_year, year_closed
from shanhai.models.assessment_report import fmt, line_titles
from shanhai.models.assessment_service import run_assessment
from shanhai.models.assessment_versions import StoredVersion, store_version
from shanhai.models.tables import utcnow
from shanhai.notifications.outbox import configured_channels, queue_once, sender_line, unit_code

CUT_MARK = "……（内容较多，全文见链接）"


@dataclass(frozen=True)
class Publication:
    report: Assessment
    stored: StoredVersion
    queued: int

    @property
    def summary(self) -> str:
        v = self.stored
        what = f"第{v.version}版" + ("（新版本）" if v.created else "（与已存版本相同，未新建）")
        return f"{self.report.year} 年度考核 {what}：{len(self.report.units)} 个单位，排队消息 {self.queued} 条"


def fit_text(title: str, body: str, limit_bytes: int | None) -> tuple[str, str]:
    """A prepared message for a channel that takes ``limit_bytes``: whole lines, then a pointer to the link
    (the link is the body's last line and always kept)."""
    if limit_bytes is None or len(body.encode()) <= limit_bytes:
        return title, body
    lines = body.split("\n")
    kept: list[str] = []
    tail = [CUT_MARK, lines[-1]]
    for line in lines[:-1]:
        if len("\n".join([*kept, line, *tail]).encode()) > limit_bytes:
            break
        kept.append(line)
    return title, "\n".join([*kept, *tail])


def _version_label(report: Assessment, stored: StoredVersion) -> str:
    return f"{report.year}年度考核结果（第{stored.version}版）"


def supervisor_text(report: Assessment, stored: StoredVersion, link: str) -> tuple[str, str]:
    lines = [f"{report.notice}", ""]
    if stored.version > 1:
        lines += ["与上一版相比的变化：", *[f"· {c}" for c in stored.changes], ""]
    for klass, members in report.classes().items():
        lines.append(f"【{klass}】")
        lines += [f"{u.rank or '—'}. {u.unit} {fmt(u.score)} 分 {u.band or '不参评'}" for u in members]
    lines += ["", f"逐项明细与佐证：{link}"]
    return f"【山海协作】{_version_label(report, stored)}", "\n".join(lines)


def unit_text(report: Assessment, stored: StoredVersion, u: UnitAssessment, link: str,
              titles: Mapping[str, str]) -> tuple[str, str]:
    # what cost points: a line short of its weight, or a penalty; never the line that bounds a score at 100
    lost = [line for line in u.lines if line.outcome != "bound" and (line.cents < line.max_cents or line.cents < 0)]
    title_of = line_titles(titles)
    lines = [
        f"{u.unit}：",
        f"本单位{report.year}年度考核得分 {fmt(u.score)} 分，档次：{u.band or '不参评'}"
        + (f"，{u.class_name}类内第 {u.rank} 名。" if u.rank else "。"),
        "分类得分：" + "；".join(f"{c.name} {fmt(c.cents / 100)}/{fmt(c.max_cents / 100)}" for c in u.categories),
    ]
    if lost:
        lines.append("失分项：" + "；".join(
            f"{title_of(line)}（{line.scope}）{fmt(line.points)}/{fmt(line.max_points)}" for line in lost))
    lines += [report.notice, f"本单位逐项明细：{link}"]
    return f"【山海协作】{_version_label(report, stored)}：本单位 {fmt(u.score)} 分", "\n".join(lines)


def _message(app, report, stored, *, recipient: str, role: str, title: str, body: str, as_of) -> dict[str, Any]:
    payload = {"recipient": recipient, "role": role, "text": {"title": title, "body": body},
               "items": [], "board_link": "", "sender": sender_line(app)}
    code = unit_code(app, recipient)
    return {
        "kind": "assessment", "dedup_key": f"assessment:{report.year}:v{stored.version}:{code}",
        "recipient": recipient, "recipient_code": code, "role": role, "stage": "assessment",
        "stage_label": f"{report.year}年度考核", "title": title[:255], "body": body,
        "payload": json.dumps(payload, ensure_ascii=False), "planned_at": as_of, "created_at": utcnow(),
    }


def _queue(app, session, report: Assessment, stored: StoredVersion) -> int:
    from shanhai.notifications.links import sign_unit_page_key

    base = app.settings.portal_url.rstrip("/")
    secret = app.signing_keys(session=session)[0]
    supervisor = app.catalogue.roles.supervisor
    titles = {ob_id: ob.title for ob_id, ob in app.catalogue.obligations.items()}
    title, body = supervisor_text(report, stored, f"{base}/assessment?year={report.year}")
    queued = int(queue_once(app, session, _message(app, report, stored, recipient=supervisor, role="supervisor",
                                                   title=title, body=body, as_of=report.as_of)))
    for u in report.units:
        code = unit_code(app, u.unit)
        key = sign_unit_page_key(unit_code=code, secret=secret, issued_at=app.clock())  # lives from queueing
        title, body = unit_text(report, stored, u, f"{base}/units/{code}?key={key}", titles)
        queued += int(queue_once(app, session, _message(app, report, stored, recipient=u.unit, role="lead",
                                                        title=title, body=body, as_of=report.as_of)))
    return queued


def publish_assessment(app, *, as_of: datetime, year: int | None = None) -> Publication:
    """Score a closed year (default: the latest closed at ``as_of``), store a version when its numbers
    changed, and queue its messages once per version. A year not closed yet is refused (ValueError)."""
    year = latest_closed_year(as_of) if year is None else year
    if not year_closed(year, as_of):
        raise ValueError(f"year：{year} 年度尚未关闭（{year + 1}-03-31 年度考核后关闭），不能发布正式结果")
    configured_channels(app)  # a missing or broken channel file fails before anything is stored
    with app.session() as session:
        run = run_assessment(app.catalogue, app.settings.catalogue_dir, session=session, as_of=as_of,
                             cal=app.calendar, year=year)
        stored = store_version(session=session, report=run.report, titles=run.titles(app.catalogue))
        queued = _queue(app, session, run.report, stored) if stored.created else 0
    return Publication(run.report, stored, queued)
