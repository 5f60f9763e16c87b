"""Scope names as people type them: a pairing as 附件1 writes it (泰顺-鹿城), a unit by name, alias or
short name, a park by name or short name, or 全市. One owner for reading them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shanhai.models.catalogue import Catalogue
from shanhai.models.catalogue_specs import CITY_SCOPE
from shanhai.models.errors import InputError


@dataclass(frozen=True)
class ScopeRef:
    kind: Literal["pairing", "park", "unit", "city"]
    name: str  # canonical: the stored scope name, or the unit's canonical name


def parse_scope_name(cat: Catalogue, text: str) -> ScopeRef | None:
    name = text.strip()
    if name in (CITY_SCOPE, "city"):
        return ScopeRef("city", CITY_SCOPE)
    if name in cat.pairings:
        return ScopeRef("pairing", name)
    for park in cat.parks.values():
        if name in (park.name, park.short):
            return ScopeRef("park", park.name)
    unit = cat.unit(name)
    if unit is not None:
        return ScopeRef("unit", unit.name)
    return None


def resolve_scope(cat: Catalogue, scope_kind: str, name: str, year: int) -> str:
    """The stored scope an obligation of ``scope_kind`` means by ``name`` in ``year``: a county or
    district stands for its pairing when it has exactly one that year."""
    ref = parse_scope_name(cat, name)
    name = name.strip()
    if scope_kind == "city":
        if ref is None or ref.kind != "city":
            raise InputError("scope", f"该事项为全市事项，范围应为“{CITY_SCOPE}”，而不是“{name}”")
        return CITY_SCOPE
    if scope_kind == "pairing":
        if ref is not None and ref.kind == "pairing":
            return ref.name
        if ref is not None and ref.kind == "unit":
            mine = [p.name for p in cat.pairings_in(year) if ref.name in (p.county, p.partner)]
            if len(mine) == 1:
                return mine[0]
            if mine:
                raise InputError(
                    "scope", f"{ref.name}在{year}年有多个结对关系（{'、'.join(mine)}），请写明结对名称"
                )
        raise InputError("scope", f"未知的结对“{name}”（可选：{'、'.join(cat.pairings)}）")
    if scope_kind == "park":
        if ref is not None and ref.kind == "park":
            return ref.name
        raise InputError("scope", f"未知的产业园“{name}”（可选：{'、'.join(cat.parks)}）")
    if ref is None or ref.kind != "unit":
        raise InputError("scope", f"未知的县（市、区）“{name}”")
    return ref.name
