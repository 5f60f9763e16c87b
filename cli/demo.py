"""A realistic, deterministic demo history: several years of records, most on time, some late, some missing."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from shanhai.models.audit import audit
from shanhai.models.installation import set_tracking_from
from shanhai.models.localtime import local_date
from shanhai.models.requirement import Requirement, parse_requirement
from shanhai.models.tables import AuditEntry, CompletionRecord, Occurrence, Waiver

DEMO_ACTOR = "demo"


def _day_between(rng: random.Random, start: date, end: date) -> date:
    if end <= start:
        return start
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _plan_records(
    occ: Occurrence, req: Requirement, today: date, rng: random.Random, out_waive: list[int]
) -> list[dict]:
    window_end = req.closes_on(occ.due)
    last = min(today, window_end)
    if req.counts_from(occ.period_start) > last:
        return []
    past = occ.due < today
    fate = rng.random()
    # past periods: 72% on time, 16% late, 12% missed; the current period: progress so far
    late = past and 0.72 <= fate < 0.88
    missed = past and fate >= 0.88
    if missed and occ.due.year < today.year - 1:
        # long-past misses were mostly caught up late where the period allows it, or waived
        can_catch_up = window_end > occ.due
        if can_catch_up and rng.random() < 0.6:
            missed, late = False, True
        elif rng.random() < 0.7 and occ.id is not None:
            out_waive.append(occ.id)
    elapsed = (
        1.0 if past else max(0.0, (today - occ.period_start).days / max(1, (occ.due - occ.period_start).days))
    )
    if not past and rng.random() < 0.25:
        elapsed *= 0.4  # some units fall behind pace
    before_due = min(occ.due, last)

    def when(i: int, n: int) -> date:
        if late and i == n - 1:
            late_end = min(last, occ.due + timedelta(days=45))
            return (
                _day_between(rng, occ.due + timedelta(days=3), late_end)
                if late_end > occ.due + timedelta(days=3)
                else before_due
            )
        return _day_between(rng, req.counts_from(occ.period_start), before_due)

    out: list[dict] = []
    if req.plan:
        for kind, fen in req.plan.items():
            factor = 0.8 if missed else rng.uniform(1.0, 1.15)
            amount = int(fen * factor * (elapsed if not past else 1)) // 100 * 100
            if amount:
                out.append({"date": when(0, 1), "amount_fen": amount, "category": kind, "count": 1})
        return out
    if req.full_measure:
        n = max(req.min_count or 0, rng.randint(4, 8))
        goal = req.full_measure * (0.7 if missed else rng.uniform(1.0, 1.2))
        goal *= elapsed if not past else 1
        n_done = max(1, round(n * (0.7 if missed else 1.0) * (elapsed if not past else 1)))
        if req.min_count:
            n_done = max(n_done, req.min_count) if not missed and past else n_done
        share_cat = req.shares[0].category if req.shares else None
        for i in range(n_done):
            part = goal / n_done
            rec = {"date": when(i, n_done), "count": 1, "amount_fen": None, "category": None}
            if req.measures_money:
                rec["amount_fen"] = int(part) // 100 * 100
            else:
                rec["count"] = max(1, round(part))
            if share_cat and rng.random() < 0.75:
                rec["category"] = share_cat
            out.append(rec)
        return out
    need = req.min_count or 1
    done = need - 1 if missed else need
    if not past:
        done = min(need, int(need * elapsed + rng.random()))
    return [{"date": when(i, done), "count": 1, "amount_fen": None, "category": None} for i in range(done)]


def load_demo_history(app, *, as_of: datetime, seed: int = 26) -> int:
    """Insert the demo records once (a marker in the audit log makes it idempotent)."""
    today = local_date(as_of)
    with app.session() as session:
        marker = session.execute(
            select(col(AuditEntry.id)).where(col(AuditEntry.action) == "demo.loaded")
        ).first()
        if marker:
            return 0
        # the demo's history reaches back to the document's first year: track from there
        first_year = min(ob.valid_from for ob in app.catalogue.obligations.values())
        set_tracking_from(session=session, tracking_from=date(first_year, 1, 1), actor=DEMO_ACTOR)
        occs = (
            session.execute(
                select(Occurrence).where(col(Occurrence.period_start) <= today).order_by(col(Occurrence.id))
            )
            .scalars()
            .all()
        )
        rows: list = []
        waive: list[int] = []
        for occ in occs:
            rng = random.Random(f"{seed}|{occ.obligation_id}|{occ.scope}|{occ.period}")
            for rec in _plan_records(occ, parse_requirement(occ.requirement), today, rng, waive):
                verified = rec["date"] < today - timedelta(days=30)
                rows.append(
                    CompletionRecord(
                        occurrence_id=occ.id,
                        date=rec["date"],
                        count=rec["count"],
                        amount_fen=rec["amount_fen"],
                        category=rec["category"],
                        note="演示数据",
                        state="verified" if verified else "submitted",
                        submitted_by=DEMO_ACTOR,
                        reviewed_by="市招商局（经合办）" if verified else None,
                    )
                )
        rows += [
            Waiver(
                occurrence_id=occ_id,
                reason="年度已结束，经领导小组同意不再追补（演示）",
                waived_by="市招商局（经合办）",
            )
            for occ_id in waive
        ]
        session.add_all(rows)
        audit(
            session=session,
            actor=DEMO_ACTOR,
            action="demo.loaded",
            entity="demo",
            entity_id=str(seed),
            records=len(rows),
            as_of=as_of.isoformat(),
        )
    return len(rows)
