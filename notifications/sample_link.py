"""A clerk's link to try: what `shanhai up` prints on a fresh home so a newcomer can open the report page
of a real open duty from the demo history, as the unit that owes it would from a reminder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shanhai.models.queries import ordered_evaluations, title_and_clause
from shanhai.models.statuses import Status
from shanhai.notifications.links import sign_report_link
from shanhai.notifications.outbox import unit_code

# a duty a clerk would act on today, most urgent first
ACTIONABLE = (Status.OVERDUE, Status.DUE_SOON, Status.BEHIND_PACE, Status.ON_TRACK)


@dataclass(frozen=True)
class SampleLink:
    unit: str
    title: str
    scope: str
    url: str


def sample_report_link(app, *, as_of: datetime) -> SampleLink | None:
    """The signed report link of the most urgent open occurrence, for its first lead unit; None when
    nothing is open. Issued on the real clock, like a reminder's."""
    open_ones = [(occ, ev) for occ, ev in ordered_evaluations(app, as_of=as_of)
                 if ev.status in ACTIONABLE and occ.requirement.leads]
    if not open_ones:
        return None
    # a county office's duty first (that is who receives report links), the most urgent of them
    paired = {u for p in app.catalogue.pairings.values() for u in (p.county, p.partner)}
    occ, _ev = min(open_ones, key=lambda pair: pair[0].requirement.leads[0] not in paired)
    unit = occ.requirement.leads[0]
    with app.read_session() as session:
        secret = app.signing_keys(session=session)[0]
    url = sign_report_link(
        base_url=app.settings.portal_url,
        occurrence_id=occ.id,
        unit_code=unit_code(app, unit),
        secret=secret,
        issued_at=app.clock(),
    )
    return SampleLink(unit=unit, title=title_and_clause(app.catalogue, occ.obligation_id)[0], scope=occ.scope, url=url)
