"""The obligation catalogue: YAML files in calendar/, validated on load.

Every problem is reported with its file, line and field, and loading is all-or-nothing:
a catalogue with any error yields no Catalogue at all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shanhai.models.yaml_source import Problem, Source, YamlFileError, dotted, read_yaml, validate

# Sides of a pairing a duty can name instead of a unit (park: its pairing; county: the county and its
# partners; city: every pairing in force).
PAIRING_TOKEN = "结对双方"  # both sides
COUNTY_SIDE = "结对县"  # the county that is helped (加快发展县)
PARTNER_SIDE = "结对强区"  # the partner that helps (经济强县（市、区）)
SIDE_TOKENS = {PAIRING_TOKEN: ("county", "partner"), COUNTY_SIDE: ("county",), PARTNER_SIDE: ("partner",)}
DEFAULT_CLOSES = "03-31"  # the year's assessment (年度考核) closes a period
CITY_SCOPE = "全市"
MONTH_DAY = re.compile(r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def is_month_day(text: object) -> bool:
    """A quoted "MM-DD" that exists in every year (so not 02-30, nor 02-29)."""
    if not isinstance(text, str) or not MONTH_DAY.match(text):
        return False
    try:
        date(2001, int(text[:2]), int(text[3:]))
    except ValueError:
        return False
    return True


SLUG = r"^[a-z0-9][a-z0-9-]*$"

Kind = Literal[
    "one_off", "annual_deadline", "annual_count", "annual_quantity", "cumulative_quantity", "plan_vs_actual"
]
ScopeKind = Literal["pairing", "county", "park", "city"]
RECURRING_KINDS = {"annual_deadline", "annual_count", "annual_quantity", "plan_vs_actual"}
AMOUNT_UNITS = {"亿元": 100_000_000, "万元": 10_000}  # in 元
FEN_PER_YUAN = 100  # amounts are stored in fen (分), exactly
FEN_PER_WAN = AMOUNT_UNITS["万元"] * FEN_PER_YUAN
FEN_PER_YI = AMOUNT_UNITS["亿元"] * FEN_PER_YUAN


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Strict):
    value: float = Field(gt=0)
    unit: Literal["亿元", "万元", "人次", "个"]


class Share(_Strict):
    category: str
    min: float = Field(gt=0, le=1)


class PaceMilestone(_Strict):
    by: str
    count: int | None = Field(default=None, ge=1)
    share: float | None = Field(default=None, gt=0, le=1)

    @field_validator("by")
    @classmethod
    def _month_day(cls, v: str) -> str:
        if not is_month_day(v):
            raise ValueError(f"'{v}' is not a MM-DD date that exists every year")
        return v

    @model_validator(mode="after")
    def _one_measure(self) -> PaceMilestone:
        if (self.count is None) == (self.share is None):
            raise ValueError("a pace milestone needs exactly one of count or share")
        return self


class Responsible(_Strict):
    lead: list[str] = Field(min_length=1)
    co: list[str] = Field(default_factory=list)


class ObligationSpec(_Strict):
    id: str = Field(pattern=SLUG, max_length=64)
    title: str = Field(min_length=1, max_length=64)
    description: str | None = None
    clause: str = Field(min_length=1)
    kind: Kind
    scope: ScopeKind
    scopes: list[str] | None = None
    due: str | date | None = None
    roll: Literal["none", "forward", "backward"] = "forward"  # a due date on a day off moves (顺延)
    closes: str | None = None  # MM-DD of the assessment that closes a period (default 03-31)
    window_from: str | None = None  # MM-DD: records before it in the year do not count (a window)
    unverified: bool = False  # figures the source garbles: tracked and flagged, never sent to supervisors
    min_count: int | None = Field(default=None, ge=1)
    target: Target | None = None
    shares: list[Share] | None = None
    categories: list[str] | None = None
    pace: list[PaceMilestone] | Literal["monthly"] | None = None
    plan: Literal["attachment1"] | None = None
    valid_from: int = Field(ge=2000, le=2100)
    valid_until: int | None = Field(default=None, ge=2000, le=2100)
    responsible: Responsible
    evidence: str | None = None
    notes: str | None = None
    reminders: dict[str, Any] | None = None

    @field_validator("closes", "window_from")
    @classmethod
    def _month_day_field(cls, v: str | None) -> str | None:
        if v is not None and not is_month_day(v):
            raise ValueError(f'a quoted "MM-DD" that exists every year, not {v!r}')
        return v

    @model_validator(mode="after")
    def _kind_rules(self) -> ObligationSpec:
        k = self.kind
        if self.window_from is not None and (k not in RECURRING_KINDS or not isinstance(self.due, str)
                                             or self.window_from > self.due):
            raise ValueError("window_from: a window needs a recurring duty whose due date is on or after it")
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        if k in RECURRING_KINDS:
            if not is_month_day(self.due):
                raise ValueError(f'due: {k} needs a quoted "MM-DD" due date, got {self.due!r}')
        elif k in ("one_off", "cumulative_quantity") and not isinstance(self.due, date):
            raise ValueError(f"due: {k} needs an ISO date (YYYY-MM-DD), got {self.due!r}")
        if k == "annual_count" and self.min_count is None:
            raise ValueError("min_count: annual_count needs min_count")
        if k in ("annual_quantity", "cumulative_quantity") and self.target is None and self.min_count is None:
            raise ValueError(f"target: {k} needs a target or a min_count")
        if k == "plan_vs_actual" and self.plan != "attachment1":
            raise ValueError("plan: plan_vs_actual needs plan: attachment1")
        if k == "plan_vs_actual" and self.scope != "park":
            raise ValueError("scope: plan_vs_actual is per park")
        if self.shares and k not in ("annual_quantity", "cumulative_quantity"):
            raise ValueError("shares: only quantity kinds have shares")
        if self.pace == "monthly" and self.target is None:
            raise ValueError("pace: monthly pace needs a target")
        return self

    def due_date(self, year: int | None = None) -> date:
        if isinstance(self.due, date):
            return self.due
        assert year is not None and isinstance(self.due, str)
        month, day = map(int, self.due.split("-"))
        return date(year, month, day)


class DocumentSpec(_Strict):
    id: str = Field(pattern=SLUG)
    number: str
    title: str
    issued: date


class PlanRow(_Strict):
    park: str
    year: int
    kind: Literal["government", "attraction"]
    projects: int = Field(ge=0)
    planned_total: int = Field(ge=0)
    planned_completion: int = Field(ge=0)


class Plans(_Strict):
    stated_total_yi: float = Field(gt=0)
    note: str | None = None  # how the stated total was chosen where the document disagrees with itself
    rows: list[PlanRow]


class UnitSpec(_Strict):
    name: str
    code: str = Field(pattern=SLUG, max_length=64)
    short: str | None = None
    kind: Literal["county", "partner", "department", "coordinator", "supervisor"]
    aliases: list[str] = Field(default_factory=list)


class Roles(_Strict):
    coordinator: str
    supervisor: str


class PairingSpec(_Strict):
    name: str
    county: str
    partner: str
    valid_from: int
    valid_until: int | None = None


class ParkSpec(_Strict):
    name: str
    short: str | None = None
    pairing: str
    host: str
    kind: Literal["eco_park", "enclave"]
    core_area_km2: float | None = None


class CatalogueFile(_Strict):
    document: DocumentSpec | None = None
    obligations: list[ObligationSpec] = Field(default_factory=list)
    plans: Plans | None = None
    units: list[UnitSpec] = Field(default_factory=list)
    roles: Roles | None = None
    pairings: list[PairingSpec] = Field(default_factory=list)
    parks: list[ParkSpec] = Field(default_factory=list)
    holidays: Any = None  # read by models.working_days

    @model_validator(mode="after")
    def _document_owns_obligations(self) -> CatalogueFile:
        if (self.obligations or self.plans) and self.document is None:
            raise ValueError("document: a file with obligations or plans needs a document header")
        return self


class CatalogueError(YamlFileError):
    """The catalogue has problems (each with file, line and field); nothing from it is used."""


@dataclass
class Catalogue:
    units: dict[str, UnitSpec]  # by canonical name
    roles: Roles
    pairings: dict[str, PairingSpec]
    parks: dict[str, ParkSpec]
    documents: dict[str, DocumentSpec]
    obligations: dict[str, ObligationSpec]
    obligation_document: dict[str, str]
    plans: list[PlanRow]
    plan_totals: list[Plans] = field(default_factory=list)  # each document's stated 附件1 total
    aliases: dict[str, str] = field(default_factory=dict)  # any spelling -> canonical unit name

    def unit(self, name: str) -> UnitSpec | None:
        canonical = self.aliases.get(name)
        return self.units.get(canonical) if canonical else None

    def pairings_in(self, year: int) -> list[PairingSpec]:
        return [
            p
            for p in self.pairings.values()
            if p.valid_from <= year and (p.valid_until is None or year <= p.valid_until)
        ]

    def definition_json(self, obligation_id: str) -> str:
        spec = self.obligations[obligation_id]
        return json.dumps(spec.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


def _read(path: Path, problems: list[Problem]) -> tuple[CatalogueFile, Source] | None:
    source = read_yaml(path, problems)
    if source is None:
        return None
    if source.data is None:
        source.data = {}
    if not isinstance(source.data, dict):
        problems.append(Problem(source.file, 1, "(file)", "a catalogue file must be a mapping"))
        return None
    parsed = validate(CatalogueFile, source, problems)
    return (parsed, source) if parsed is not None else None


def load_catalogue(path: Path) -> Catalogue:
    """Load a catalogue directory (every *.yaml in it) or a single file. Raises CatalogueError."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.yaml") if p.is_file())
    elif path.exists():
        files = [path]
        sibling_dir = path.parent
        # a single document file still needs the units and pairings it refers to
        files += sorted(p for p in sibling_dir.glob("*.yaml") if p != path and _declares_units(p))
    else:
        raise CatalogueError([Problem(str(path), None, "(file)", "no such file or directory")])
    problems: list[Problem] = []
    parsed = [r for f in files if (r := _read(f, problems))]
    if problems:
        raise CatalogueError(problems)
    return _assemble(parsed)


def _declares_units(p: Path) -> bool:
    source = read_yaml(p, [])  # bounded and safe, like every read of a catalogue file
    if source is None:
        return True  # let _read report it
    data = source.data
    return isinstance(data, dict) and bool({"units", "pairings", "parks", "roles"} & data.keys())


def _assemble(parsed: list[tuple[CatalogueFile, Source]]) -> Catalogue:
    problems: list[Problem] = []

    def bad(src: Source, loc: tuple, message: str) -> None:
        problems.append(Problem(src.file, src.line(loc), dotted(loc), message))

    units: dict[str, UnitSpec] = {}
    aliases: dict[str, str] = {}
    codes: set[str] = set()
    roles: Roles | None = None
    pairings: dict[str, PairingSpec] = {}
    parks: dict[str, ParkSpec] = {}
    documents: dict[str, DocumentSpec] = {}
    obligations: dict[str, ObligationSpec] = {}
    obligation_document: dict[str, str] = {}
    where: dict[str, tuple[Source, tuple]] = {}
    plans: list[tuple[PlanRow, Source, tuple]] = []
    stated: list[tuple[Plans, Source]] = []

    for cf, src in parsed:
        for i, u in enumerate(cf.units):
            for spelling in [u.name, *(u.aliases), *([u.short] if u.short else [])]:
                if spelling in aliases and aliases[spelling] != u.name:
                    bad(src, ("units", i, "name"), f"'{spelling}' already names unit {aliases[spelling]}")
                aliases.setdefault(spelling, u.name)
            if u.name in units:
                bad(src, ("units", i, "name"), f"duplicate unit '{u.name}'")
            if u.code in codes:
                bad(src, ("units", i, "code"), f"duplicate unit code '{u.code}'")
            units[u.name] = u
            codes.add(u.code)
        if cf.roles:
            if roles is not None:
                bad(src, ("roles",), "roles are declared twice")
            roles = cf.roles
        for i, p in enumerate(cf.pairings):
            if p.name in pairings:
                bad(src, ("pairings", i, "name"), f"duplicate pairing '{p.name}'")
            pairings[p.name] = p
            where[f"pairing:{p.name}"] = (src, ("pairings", i))
        for i, pk in enumerate(cf.parks):
            if pk.name in parks:
                bad(src, ("parks", i, "name"), f"duplicate park '{pk.name}'")
            parks[pk.name] = pk
            where[f"park:{pk.name}"] = (src, ("parks", i))
        if cf.document:
            if cf.document.id in documents:
                bad(src, ("document", "id"), f"duplicate document id '{cf.document.id}'")
            documents[cf.document.id] = cf.document
        for i, ob in enumerate(cf.obligations):
            if ob.id in obligations:
                bad(src, ("obligations", i, "id"), f"duplicate obligation id '{ob.id}'")
            obligations[ob.id] = ob
            obligation_document[ob.id] = cf.document.id  # type: ignore[union-attr]
            where[f"obligation:{ob.id}"] = (src, ("obligations", i))
        if cf.plans:
            stated.append((cf.plans, src))
            plans += [(row, src, ("plans", "rows", i)) for i, row in enumerate(cf.plans.rows)]

    anchor = parsed[0][1] if parsed else Source("(catalogue)", None)
    if not units:
        bad(anchor, (), "no units declared (units.yaml)")
    if roles is None:
        bad(anchor, (), "no roles declared (roles: coordinator, supervisor)")
    else:
        for role in ("coordinator", "supervisor"):
            if getattr(roles, role) not in aliases:
                bad(anchor, ("roles", role), f"unknown unit '{getattr(roles, role)}'")
    for key, (src, loc) in where.items():
        kind, name = key.split(":", 1)
        if kind == "pairing":
            p = pairings[name]
            for side, want in (("county", "county"), ("partner", "partner")):
                unit = units.get(aliases.get(getattr(p, side), ""))
                if unit is None:
                    bad(src, (*loc, side), f"unknown unit '{getattr(p, side)}'")
                elif unit.kind != want:
                    bad(src, (*loc, side), f"'{unit.name}' is a {unit.kind}, not a {want}")
        elif kind == "park":
            pk = parks[name]
            if pk.pairing not in pairings:
                bad(src, (*loc, "pairing"), f"unknown pairing '{pk.pairing}'")
            if pk.host not in aliases:
                bad(src, (*loc, "host"), f"unknown unit '{pk.host}'")
            if pk.name in pairings or pk.name in aliases:
                bad(src, (*loc, "name"), f"park name '{pk.name}' is also a pairing or unit name")
        elif kind == "obligation":
            ob = obligations[name]
            for part in ("lead", "co"):
                for j, unit_name in enumerate(getattr(ob.responsible, part)):
                    if unit_name not in SIDE_TOKENS and unit_name not in aliases:
                        bad(src, (*loc, "responsible", part, j), f"unknown unit '{unit_name}'")
            if ob.scope == "park" and not parks:
                bad(src, (*loc, "scope"), "scope park but no parks declared")
            for j, scope_name in enumerate(ob.scopes or []):
                known = {
                    "pairing": pairings.keys(),
                    "park": parks.keys(),
                    "county": aliases.keys(),
                    "city": {CITY_SCOPE},
                }[ob.scope]
                if scope_name not in known:
                    bad(src, (*loc, "scopes", j), f"unknown {ob.scope} '{scope_name}'")
            if ob.reminders is not None:
                try:
                    from shanhai.models.ladder import ReminderLadder

                    ReminderLadder.from_mapping(ob.reminders)
                except ValueError as exc:
                    bad(src, (*loc, "reminders"), str(exc))
            if ob.plan == "attachment1" and not plans:
                bad(src, (*loc, "plan"), "plan: attachment1 but no plans rows are declared")
    seen_rows: set[tuple] = set()
    for row, src, loc in plans:
        if row.park not in parks:
            bad(src, (*loc, "park"), f"unknown park '{row.park}'")
        row_key = (row.park, row.year, row.kind)
        if row_key in seen_rows:
            bad(src, loc, f"duplicate plan row {row_key}")
        seen_rows.add(row_key)
        if row.planned_completion > row.planned_total:
            bad(src, (*loc, "planned_completion"), "planned completion exceeds planned total investment")
    for pl, src in stated:
        total_wan = sum(r.planned_total for r in pl.rows)
        if round(total_wan / 10_000, 1) != round(pl.stated_total_yi, 1):
            bad(
                src,
                ("plans", "stated_total_yi"),
                f"附件1 rows add up to {total_wan / 10_000:.4f}亿元, not the stated {pl.stated_total_yi}亿元",
            )
    if problems:
        raise CatalogueError(problems)
    assert roles is not None
    return Catalogue(
        units=units,
        roles=roles,
        pairings=pairings,
        parks=parks,
        documents=documents,
        obligations=obligations,
        obligation_document=obligation_document,
        plans=[r for r, _, _ in plans],
        plan_totals=[pl for pl, _ in stated],
        aliases=aliases,
    )
