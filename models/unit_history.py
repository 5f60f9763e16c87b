"""Units' effective-dated history (units.yaml ``succeeded_by``): a body renamed or merged into another.

From the succession's date on, a unit's duties and messages go to its successor, under the successor's
current name; two merged predecessors become one recipient. Occurrences due before the date keep the name
of their day (stored history is never rewritten).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from shanhai.models.catalogue_specs import UnitSpec
from shanhai.models.yaml_source import Problem, Source

HOW_LABELS = {"renamed": "更名为", "merged": "并入"}


def unit_on(units: Mapping[str, UnitSpec], name: str, day: date) -> str:
    """The canonical unit that carries ``name``'s duties on ``day``: successors followed while their date
    has come (the chain is checked acyclic on load)."""
    seen: set[str] = set()
    while name in units and name not in seen:
        seen.add(name)
        succession = units[name].succeeded_by
        if succession is None or day < succession.from_:
            break
        name = succession.unit
    return name


def predecessors(units: Mapping[str, UnitSpec], name: str) -> list[UnitSpec]:
    """The units whose duties passed to ``name`` directly (renamed to it or merged into it)."""
    return [u for u in units.values() if u.succeeded_by is not None and u.succeeded_by.unit == name]


def is_current(unit: UnitSpec, day: date) -> bool:
    """Whether the unit still exists under its own name on ``day``."""
    return unit.succeeded_by is None or day < unit.succeeded_by.from_


def _loops(units: Mapping[str, UnitSpec], start: str) -> bool:
    name: str | None = start
    seen: set[str] = set()
    while name is not None and name in units:
        if name in seen:
            return True
        seen.add(name)
        s = units[name].succeeded_by
        name = s.unit if s else None
    return False


def check_successions(units: Mapping[str, UnitSpec], aliases: Mapping[str, str], sources: list[Source]
                      ) -> list[Problem]:
    """Every successor is a declared unit (by its canonical name), not the unit itself, and no chain
    loops; each problem located in the units file."""
    problems: list[Problem] = []
    located = {
        (u.get("name") if isinstance(u, dict) else None): (src, ("units", i))
        for src in sources
        for i, u in enumerate((src.data or {}).get("units") or [])
    }
    for name, unit in units.items():
        s = unit.succeeded_by
        if s is None:
            continue
        src, loc = located.get(name, (sources[0], ("units",))) if sources else (Source("units.yaml", None), ())
        where = (*loc, "succeeded_by", "unit")
        if s.unit not in units:
            hint = f"（应写其正式名称“{aliases[s.unit]}”）" if s.unit in aliases else ""
            problems.append(src.problem(where, f"未知的单位 '{s.unit}'{hint} (unknown unit)"))
        elif _loops(units, name):
            problems.append(src.problem(where, f"单位沿革成环：'{name}' → '{s.unit}' (the succession loops)"))
        elif units[s.unit].kind != unit.kind:
            problems.append(src.problem(where, f"继任单位 '{s.unit}' 的类别是 {units[s.unit].kind}，不是 {unit.kind} "
                                               f"(a successor has the same kind)"))
    return problems


def _succession_item(s) -> dict:
    return {"how": s.how, "unit": s.unit, "from": s.from_.isoformat(), "source": s.source, "note": s.note}


def unit_items(units: Mapping[str, UnitSpec], day: date, channels: Mapping[str, list[str]]) -> list[dict]:
    """Each unit with its history on ``day`` (`shanhai units --json`): ``current`` (still under its own
    name), ``succeeded_by`` (renamed/merged into whom, from when, on what source), ``predecessors`` (the
    bodies whose duties passed to it), ``carried_by`` (who receives its duties and messages on ``day``)
    and ``channels`` (the unit's own, masked; a unit that is not current receives nothing)."""
    return [
        {
            "name": u.name,
            "code": u.code,
            "kind": u.kind,
            "aliases": list(u.aliases),
            "current": is_current(u, day),
            "succeeded_by": _succession_item(u.succeeded_by) if u.succeeded_by else None,
            "predecessors": [
                {"name": p.name, **_succession_item(p.succeeded_by)} for p in predecessors(units, u.name)
                if p.succeeded_by is not None
            ],
            "carried_by": unit_on(units, u.name, day),
            "channels": list(channels.get(u.code, [])),
        }
        for u in units.values()
    ]


def history_text(item: dict) -> str:
    """One unit's history in Chinese: ``2019-03-01起由市国土资源局、市规划局合并组建（《温州市机构改革方案》（2019年））``
    or ``2019-03-01起并入市自然资源和规划局（…）``."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for p in item["predecessors"]:
        groups.setdefault((p["from"], p["how"], p["source"]), []).append(p["name"])
    parts = [
        f"{day}起由{'、'.join(names)}{'更名' if how == 'renamed' else '合并组建'}（{source}）"
        for (day, how, source), names in groups.items()
    ]
    s = item["succeeded_by"]
    if s:
        parts.append(f"{s['from']}起{HOW_LABELS[s['how']]}{s['unit']}（{s['source']}）")
    return "；".join(parts) or "—"
