"""Which occurrences the catalogue implies: pure, from the catalogue, the working calendar and a horizon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shanhai.models.catalogue import (
    AMOUNT_UNITS,
    CITY_SCOPE,
    FEN_PER_WAN,
    FEN_PER_YUAN,
    PAIRING_TOKEN,
    Catalogue,
    ObligationSpec,
)
from shanhai.models.requirement import PaceStep, Requirement
from shanhai.models.working_days import WorkingCalendar

COUNTED_PER_YEAR = frozenset({"annual_count", "annual_quantity", "plan_vs_actual"})


@dataclass(frozen=True)
class OccurrenceSpec:
    obligation_id: str
    scope: str
    period: str
    period_start: date
    due: date
    requirement: Requirement

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.obligation_id, self.scope, self.period)


def scopes_for(cat: Catalogue, ob: ObligationSpec, year: int) -> list[str]:
    """The scopes an obligation applies to in a year (pairings in force that year)."""
    pairings = cat.pairings_in(year)
    if ob.scope == "city":
        names = [CITY_SCOPE]
    elif ob.scope == "pairing":
        names = [p.name for p in pairings]
    elif ob.scope == "county":
        names = list(dict.fromkeys(p.county for p in pairings))
    else:
        active = {p.name for p in pairings}
        names = [
            pk.name
            for pk in cat.parks.values()
            if pk.pairing in active and (ob.scopes is not None or pk.kind == "eco_park")
        ]
    if ob.scopes is not None:
        wanted = {cat.aliases.get(s, s) for s in ob.scopes}
        names = [n for n in names if n in wanted]
    return names


def responsible_units(cat: Catalogue, ob: ObligationSpec, scope: str, year: int) -> list[str]:
    """Canonical unit names, lead first; the pairing token expands to the scope's own units."""
    if ob.scope == "pairing":
        pairing = cat.pairings[scope]
        scope_units = [pairing.county, pairing.partner]
    elif ob.scope == "park":
        pairing = cat.pairings[cat.parks[scope].pairing]
        scope_units = [pairing.county, pairing.partner]
    elif ob.scope == "county":
        scope_units = [scope] + [p.partner for p in cat.pairings_in(year) if p.county == scope]
    else:
        scope_units = [u for p in cat.pairings_in(year) for u in (p.county, p.partner)]
    out: list[str] = []
    for name in [*ob.responsible.lead, *ob.responsible.co]:
        out += scope_units if name == PAIRING_TOKEN else [cat.aliases[name]]
    return list(dict.fromkeys(cat.aliases.get(n, n) for n in out))


def _requirement(cat: Catalogue, ob: ObligationSpec, scope: str, year: int) -> Requirement:
    target_fen = target_quantity = None
    if ob.target is not None and ob.target.unit in AMOUNT_UNITS:
        target_fen = round(ob.target.value * AMOUNT_UNITS[ob.target.unit] * FEN_PER_YUAN)
    elif ob.target is not None:
        target_quantity = ob.target.value
    pace: list[PaceStep] = []
    if ob.pace == "monthly":
        pace = [PaceStep(by=_month_end(year, m), share=round(m / 12, 6)) for m in range(1, 12)]
    elif ob.pace:
        pace = [
            PaceStep(by=date(year, *map(int, p.by.split("-"))), count=p.count, share=p.share) for p in ob.pace
        ]
    plan = None
    min_count = ob.min_count if ob.min_count is not None else (1 if ob.target is None else None)
    if ob.kind == "plan_vs_actual":
        rows = [r for r in cat.plans if r.park == scope and r.year == year]
        plan = {r.kind: r.planned_completion * FEN_PER_WAN for r in rows}
        min_count = None
    return Requirement(
        kind=ob.kind,
        min_count=min_count,
        target=ob.target,
        target_fen=target_fen,
        target_quantity=target_quantity,
        shares=tuple(ob.shares or ()),
        responsible=tuple(responsible_units(cat, ob, scope, year)),
        ladder=ob.reminders,
        # counts and sums are per calendar year: what happens after 12-31 belongs to the next year
        window_end=date(year, 12, 31) if ob.kind in COUNTED_PER_YEAR else None,
        pace=tuple(pace),
        plan=plan,
    )


def _month_end(year: int, month: int) -> date:
    first_of_next = date(year + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(first_of_next.toordinal() - 1)


def expected_occurrences(cat: Catalogue, cal: WorkingCalendar, *, through_year: int) -> list[OccurrenceSpec]:
    """Every occurrence from each obligation's first year up to through_year (inclusive)."""
    out: list[OccurrenceSpec] = []
    for ob in cat.obligations.values():
        if ob.kind in ("one_off", "cumulative_quantity"):
            due = ob.due_date()
            year = due.year
            if year > through_year + 1:
                continue
            start = date(ob.valid_from, 1, 1)
            effective = cal.roll(due, ob.roll)
            for scope in scopes_for(cat, ob, year):
                req = _requirement(cat, ob, scope, year)
                out.append(OccurrenceSpec(ob.id, scope, due.isoformat(), start, effective, req))
            continue
        last = through_year if ob.valid_until is None else min(ob.valid_until, through_year)
        for year in range(ob.valid_from, last + 1):
            effective = cal.roll(ob.due_date(year), ob.roll)
            for scope in scopes_for(cat, ob, year):
                if ob.kind == "plan_vs_actual" and not any(
                    r.park == scope and r.year == year for r in cat.plans
                ):
                    continue
                req = _requirement(cat, ob, scope, year)
                out.append(OccurrenceSpec(ob.id, scope, str(year), date(year, 1, 1), effective, req))
    return out
