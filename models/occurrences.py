"""Which occurrences the catalogue implies: pure, from the catalogue, the working calendar and a horizon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shanhai.models.catalogue import Catalogue
from shanhai.models.catalogue_specs import (
    AMOUNT_UNITS,
    CITY_SCOPE,
    DEFAULT_CLOSES,
    FEN_PER_WAN,
    FEN_PER_YUAN,
    PAIRING_TOKEN,
    SIDE_TOKENS,
    ObligationSpec,
    month_day,
)
from shanhai.models.requirement import PaceStep, Requirement, closing_day
from shanhai.models.working_days import WorkingCalendar


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


@dataclass(frozen=True)
class Responsible:
    """Canonical unit names: who leads (reminded and escalated) and who is co-responsible (配合)."""

    lead: tuple[str, ...]
    co: tuple[str, ...]
    copied: tuple[str, ...]  # the co-responsible units that messages copy (抄送)


def _sides(cat: Catalogue, ob: ObligationSpec, scope: str, year: int) -> dict[str, list[str]]:
    """The units on each side of the pairing(s) a scope belongs to."""
    if ob.scope == "pairing":
        pairings = [cat.pairings[scope]]
    elif ob.scope == "park":
        pairings = [cat.pairings[cat.parks[scope].pairing]]
    elif ob.scope == "county":
        pairings = [p for p in cat.pairings_in(year) if p.county == scope] or []
        if not pairings:
            return {"county": [scope], "partner": []}
    else:
        pairings = cat.pairings_in(year)
    return {
        "county": list(dict.fromkeys(p.county for p in pairings)),
        "partner": list(dict.fromkeys(p.partner for p in pairings)),
    }


def responsible_units(
    cat: Catalogue, ob: ObligationSpec, scope: str, year: int, *, on: date | None = None
) -> Responsible:
    """A side token (结对双方, 结对县, 结对强区) expands to the scope's own units on that side. A city-wide
    duty's paired units are co-responsible but not copied: it reaches a county only when a county leads.
    Each unit is the one that carries its duties ``on`` the due date (a renamed or merged body's
    successor, once), so history keeps the name of its day."""
    sides = _sides(cat, ob, scope, year)
    day = on or date(year, 12, 31)

    def expand(names: list[str]) -> list[str]:
        out: list[str] = []
        for name in names:
            if name in SIDE_TOKENS:
                out += [u for side in SIDE_TOKENS[name] for u in sides[side]]
            else:
                out.append(name)
        return list(dict.fromkeys(cat.unit_on(u, day) for u in out))

    lead = expand(ob.responsible.lead)
    co = [u for u in expand(ob.responsible.co) if u not in lead]
    if ob.scope == "city":
        from_sides = set(expand([t for t in ob.responsible.co if t in SIDE_TOKENS]))
        copied = [u for u in co if u not in from_sides]
    else:
        copied = co
    return Responsible(tuple(lead), tuple(co), tuple(copied))


def _requirement(
    cat: Catalogue, ob: ObligationSpec, scope: str, year: int, *, nominal: date, due: date
) -> Requirement:
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
            PaceStep(by=month_day(p.by, year), count=p.count, share=p.share) for p in ob.pace
        ]
    plan = None
    min_count = ob.min_count if ob.min_count is not None else (1 if ob.target is None else None)
    if ob.kind == "plan_vs_actual":
        rows = [r for r in cat.plans if r.park == scope and r.year == year]
        plan = {r.kind: r.planned_completion * FEN_PER_WAN for r in rows}
        min_count = None
    who = responsible_units(cat, ob, scope, year, on=due)
    document = cat.documents.get(cat.obligation_document.get(ob.id, ""))
    return Requirement(
        kind=ob.kind,
        min_count=min_count,
        target=ob.target,
        target_fen=target_fen,
        target_quantity=target_quantity,
        shares=tuple(ob.shares or ()),
        responsible=(*who.lead, *who.co),
        lead=who.lead,
        copied=who.copied,
        ladder=ob.reminders.model_dump(exclude_none=True) if ob.reminders else None,
        window_start=month_day(ob.window_from, year) if ob.window_from else None,
        due_nominal=nominal if nominal != due else None,
        closes=closing_day(due, ob.closes or DEFAULT_CLOSES),
        unverified=ob.unverified,
        pace=tuple(pace),
        plan=plan,
        document_from=document.in_force_from if document else None,
        joint=ob.scope != "city" and PAIRING_TOKEN in ob.responsible.lead,
    )


def _month_end(year: int, month: int) -> date:
    first_of_next = date(year + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(first_of_next.toordinal() - 1)


def expected_occurrences(cat: Catalogue, cal: WorkingCalendar, *, through_year: int) -> list[OccurrenceSpec]:
    """Every occurrence from each obligation's first year up to through_year (inclusive), each year's
    duty as the document and the coordinator's overrides (overrides.yaml) have it in force."""
    out: list[OccurrenceSpec] = []
    for base in cat.obligations.values():
        if base.dated_once:
            out += _dated_once(cat, cal, base, through_year)
            continue
        for year in range(base.valid_from, through_year + 1):
            if not cat.in_force(base.id, year):
                continue
            ob = cat.spec_in(base.id, year)
            nominal = ob.due_date(year)
            effective = cal.roll(nominal, ob.roll)
            for scope in scopes_for(cat, ob, year):
                if ob.kind == "plan_vs_actual" and not any(
                    r.park == scope and r.year == year for r in cat.plans
                ):
                    continue
                req = _requirement(cat, ob, scope, year, nominal=nominal, due=effective)
                out.append(OccurrenceSpec(ob.id, scope, str(year), date(year, 1, 1), effective, req))
    return out


def _dated_once(cat: Catalogue, cal: WorkingCalendar, base: ObligationSpec, through_year: int) -> list[OccurrenceSpec]:
    """A one-off or cumulative duty's single occurrence (per scope): every replacement applies (a new due
    date, say), and an ``end`` from its due year or earlier removes it."""
    ob = cat.spec_in(base.id, 9999)
    due = ob.due_date()
    year = due.year
    ended = any(o.action == "end" and o.from_ <= year for o in cat.overrides_of(base.id))
    if year > through_year + 1 or ended:
        return []
    effective = cal.roll(due, ob.roll)
    start = date(ob.valid_from, 1, 1)
    return [
        OccurrenceSpec(ob.id, scope, due.isoformat(), start, effective,
                       _requirement(cat, ob, scope, year, nominal=due, due=effective))
        for scope in scopes_for(cat, ob, year)
    ]
