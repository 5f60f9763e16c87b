"""The obligation catalogue: YAML files in calendar/, validated on load.

Every problem is reported with its file, line and field, and loading is all-or-nothing:
a catalogue with any error yields no Catalogue at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from shanhai.models.catalogue_overrides import (
    Amendment,
    Override,
    in_force,
    last_year_in_force,
    override_items,
    read_overrides,
    sources_in_year,
    spec_in_year,
)
from shanhai.models.catalogue_specs import (
    ASSESSMENT_FILE_NAME,
    CITY_SCOPE,
    SIDE_TOKENS,
    CatalogueFile,
    DocumentSpec,
    ObligationSpec,
    PairingSpec,
    ParkSpec,
    PlanRow,
    Plans,
    Roles,
    UnitSpec,
)
from shanhai.models.unit_history import check_successions, unit_on
from shanhai.models.yaml_source import Problem, Source, YamlFileError, dotted, read_yaml, validate


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
    amendments: dict[str, tuple[Amendment, ...]] = field(default_factory=dict)  # overrides.yaml, by duty

    def unit(self, name: str) -> UnitSpec | None:
        canonical = self.aliases.get(name)
        return self.units.get(canonical) if canonical else None

    def unit_on(self, name: str, day: date) -> str:
        """The canonical name of the unit that carries ``name``'s duties on ``day`` (its successor after a
        rename or merger, followed to the end; the unit itself before)."""
        return unit_on(self.units, self.aliases.get(name, name), day)

    def in_force(self, obligation_id: str, year: int) -> bool:
        """Whether the duty is in force in ``year``: the document's years as changed by overrides.yaml."""
        return in_force(self.obligations[obligation_id], self.amendments.get(obligation_id, ()), year)

    def spec_in(self, obligation_id: str, year: int) -> ObligationSpec:
        """The duty as it reads in ``year`` (an override's replacement from its year on)."""
        return spec_in_year(self.obligations[obligation_id], self.amendments.get(obligation_id, ()), year)

    def overrides_of(self, obligation_id: str) -> list[Override]:
        return [a.override for a in self.amendments.get(obligation_id, ())]

    def override_fields(self, obligation_id: str) -> dict:
        """What `obligations` shows of the overrides: ``in_force_until`` (the last year once they apply,
        null: no end), ``overrides`` (each with its source) and ``source`` (the document and the decisions)."""
        amendments = self.amendments.get(obligation_id, ())
        return {
            "in_force_until": last_year_in_force(self.obligations[obligation_id], amendments),
            "overrides": override_items(amendments),
            "source": self.citation(obligation_id, 9999, ended_too=True),
        }

    def citation(self, obligation_id: str, year: int, *, ended_too: bool = False) -> str:
        """What a duty in ``year`` rests on: the document's number, then each override's source in force
        (``温政发〔2018〕26号、市领导小组2027年工作要点``) — for messages and pages that cite it."""
        document = self.documents.get(self.obligation_document.get(obligation_id, ""))
        parts = [document.number] if document else []
        amendments = self.amendments.get(obligation_id, ())
        overrides = ([a.override for a in amendments if a.override.from_ <= year] if ended_too
                     else sources_in_year(amendments, year))
        parts += [o.source for o in overrides]
        return "、".join(dict.fromkeys(parts))

    def require_obligation(self, obligation_id: str) -> ObligationSpec:
        """The obligation, or a ValueError that names it and lists the ones there are (every interface
        that takes an obligation id: status, records, remind, the check flow)."""
        found = self.obligations.get(obligation_id)
        if found is None:
            known = "、".join(sorted(self.obligations))
            raise ValueError(f"--obligation：未知的事项编号“{obligation_id}”（可用：{known}；见 shanhai obligations）")
        return found

    def unit_by_code(self, code: str) -> UnitSpec | None:
        """The unit with this code (the key of links, channels and unit pages), or None."""
        return next((u for u in self.units.values() if u.code == code), None)

    def pairings_in(self, year: int) -> list[PairingSpec]:
        return [
            p
            for p in self.pairings.values()
            if p.valid_from <= year and (p.valid_until is None or year <= p.valid_until)
        ]

    def definition_json(self, obligation_id: str) -> str:
        """The duty's definition, its overrides included (so that an override is audited as a change)."""
        data = self.obligations[obligation_id].model_dump(mode="json")
        overrides = self.overrides_of(obligation_id)
        if overrides:
            data["overrides"] = [o.model_dump(mode="json", by_alias=True, exclude_none=True) for o in overrides]
        return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _read(path: Path, problems: list[Problem]) -> tuple[CatalogueFile, Source] | None:
    source = read_yaml(path, problems)
    if source is None:
        return None
    if source.data is None:
        source.data = {}
    if not isinstance(source.data, dict):
        problems.append(Problem(source.file, 1, "(file)", "事项目录文件的顶层须为键值映射 (a catalogue file must be a mapping)"))
        return None
    parsed = validate(CatalogueFile, source, problems)
    return (parsed, source) if parsed is not None else None


def load_catalogue(path: Path) -> Catalogue:
    """Load a catalogue directory (every *.yaml in it) or a single file. Raises CatalogueError."""
    path = Path(path)
    if path.is_dir():
        # the assessment method shares the folder; shanhai.models.assessment_method reads it
        files = sorted(p for p in path.glob("*.yaml") if p.is_file() and p.name != ASSESSMENT_FILE_NAME)
    elif path.exists():
        files = [path]
        sibling_dir = path.parent
        # a single document file still needs the units and pairings it refers to
        files += sorted(
            p for p in sibling_dir.glob("*.yaml")
            if p != path and p.name != ASSESSMENT_FILE_NAME and _declares_units(p)
        )
    else:
        raise CatalogueError([Problem(str(path), None, "(file)", "文件或目录不存在 (no such file or directory)")])
    problems: list[Problem] = []
    parsed = [r for f in files if (r := _read(f, problems))]
    if problems:
        raise CatalogueError(problems)
    cat = _assemble(parsed)
    problems += check_successions(cat.units, cat.aliases, [src for cf, src in parsed if cf.units])
    for cf, src in parsed:
        if cf.overrides is not None:
            for ob_id, found in read_overrides(src, cat.obligations, problems).items():
                cat.amendments[ob_id] = tuple(sorted((*cat.amendments.get(ob_id, ()), *found),
                                                     key=lambda a: a.override.from_))
    if problems:
        raise CatalogueError(problems)
    return cat


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
                    bad(src, ("units", i, "name"), f"'{spelling}' 已是单位“{aliases[spelling]}”的名称 ('{spelling}' already names unit {aliases[spelling]})")
                aliases.setdefault(spelling, u.name)
            if u.name in units:
                bad(src, ("units", i, "name"), f"单位重复：'{u.name}' (duplicate unit '{u.name}')")
            if u.code in codes:
                bad(src, ("units", i, "code"), f"单位代码重复：'{u.code}' (duplicate unit code '{u.code}')")
            units[u.name] = u
            codes.add(u.code)
        if cf.roles:
            if roles is not None:
                bad(src, ("roles",), "roles 写了两次 (roles are declared twice)")
            roles = cf.roles
        for i, p in enumerate(cf.pairings):
            if p.name in pairings:
                bad(src, ("pairings", i, "name"), f"结对重复：'{p.name}' (duplicate pairing '{p.name}')")
            pairings[p.name] = p
            where[f"pairing:{p.name}"] = (src, ("pairings", i))
        for i, pk in enumerate(cf.parks):
            if pk.name in parks:
                bad(src, ("parks", i, "name"), f"产业园重复：'{pk.name}' (duplicate park '{pk.name}')")
            parks[pk.name] = pk
            where[f"park:{pk.name}"] = (src, ("parks", i))
        if cf.document:
            if cf.document.id in documents:
                bad(src, ("document", "id"), f"文件编号重复：'{cf.document.id}' (duplicate document id '{cf.document.id}')")
            documents[cf.document.id] = cf.document
        for i, ob in enumerate(cf.obligations):
            if ob.id in obligations:
                bad(src, ("obligations", i, "id"), f"事项编号重复：'{ob.id}' (duplicate obligation id '{ob.id}')")
            obligations[ob.id] = ob
            obligation_document[ob.id] = cf.document.id  # type: ignore[union-attr]
            where[f"obligation:{ob.id}"] = (src, ("obligations", i))
        if cf.plans:
            stated.append((cf.plans, src))
            plans += [(row, src, ("plans", "rows", i)) for i, row in enumerate(cf.plans.rows)]

    anchor = parsed[0][1] if parsed else Source("(catalogue)", None)
    if not units:
        bad(anchor, (), "没有声明任何单位（units.yaml）(no units declared)")
    if roles is None:
        bad(anchor, (), "没有声明 roles（coordinator、supervisor）(no roles declared)")
    else:
        for role in ("coordinator", "supervisor"):
            if getattr(roles, role) not in aliases:
                bad(anchor, ("roles", role), f"未知的单位 '{getattr(roles, role)}' (unknown unit)")
    for key, (src, loc) in where.items():
        kind, name = key.split(":", 1)
        if kind == "pairing":
            p = pairings[name]
            for side, want in (("county", "county"), ("partner", "partner")):
                unit = units.get(aliases.get(getattr(p, side), ""))
                if unit is None:
                    bad(src, (*loc, side), f"未知的单位 '{getattr(p, side)}' (unknown unit)")
                elif unit.kind != want:
                    bad(src, (*loc, side), f"'{unit.name}' 的类别是 {unit.kind}，不是 {want} ('{unit.name}' is a {unit.kind}, not a {want})")
        elif kind == "park":
            pk = parks[name]
            if pk.pairing not in pairings:
                bad(src, (*loc, "pairing"), f"未知的结对 '{pk.pairing}' (unknown pairing)")
            if pk.host not in aliases:
                bad(src, (*loc, "host"), f"未知的单位 '{pk.host}' (unknown unit)")
            if pk.name in pairings or pk.name in aliases:
                bad(src, (*loc, "name"), f"产业园名称 '{pk.name}' 与结对或单位重名 (park name '{pk.name}' is also a pairing or unit name)")
        elif kind == "obligation":
            ob = obligations[name]
            for part in ("lead", "co"):
                for j, unit_name in enumerate(getattr(ob.responsible, part)):
                    if unit_name not in SIDE_TOKENS and unit_name not in aliases:
                        bad(src, (*loc, "responsible", part, j), f"未知的单位 '{unit_name}' (unknown unit)")
            if ob.scope == "park" and not parks:
                bad(src, (*loc, "scope"), "scope 为 park，但没有声明任何产业园 (scope park but no parks declared)")
            for j, scope_name in enumerate(ob.scopes or []):
                known = {
                    "pairing": pairings.keys(),
                    "park": parks.keys(),
                    "county": aliases.keys(),
                    "city": {CITY_SCOPE},
                }[ob.scope]
                if scope_name not in known:
                    bad(src, (*loc, "scopes", j), f"未知的 {ob.scope} '{scope_name}' (unknown {ob.scope})")
            for j, message in ob.pace_overshoots():
                bad(src, (*loc, "pace", j, "count"), message)
            if ob.plan == "attachment1" and not plans:
                bad(src, (*loc, "plan"), "plan 为 attachment1，但没有声明 plans 行 (plan: attachment1 but no plans rows are declared)")
    seen_rows: set[tuple] = set()
    for row, src, loc in plans:
        if row.park not in parks:
            bad(src, (*loc, "park"), f"未知的产业园 '{row.park}' (unknown park)")
        row_key = (row.park, row.year, row.kind)
        if row_key in seen_rows:
            bad(src, loc, f"计划行重复：{row_key} (duplicate plan row)")
        seen_rows.add(row_key)
        if row.planned_completion > row.planned_total:
            bad(src, (*loc, "planned_completion"), "计划完成投资超过计划总投资 (planned completion exceeds planned total investment)")
    for pl, src in stated:
        total_wan = sum(r.planned_total for r in pl.rows)
        if round(total_wan / 10_000, 1) != round(pl.stated_total_yi, 1):
            bad(
                src,
                ("plans", "stated_total_yi"),
                f"附件1 各行合计 {total_wan / 10_000:.4f}亿元，与所写的 {pl.stated_total_yi}亿元 不符 "
                f"(附件1 rows add up to {total_wan / 10_000:.4f}亿元, not the stated {pl.stated_total_yi}亿元)",
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
