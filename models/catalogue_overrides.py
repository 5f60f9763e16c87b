"""The coordinator's overrides (``calendar/overrides.yaml``): effective-dated changes to a document's duties
without editing the document's file, each with the decision it rests on (e.g. 市领导小组 2027 年工作要点).

* ``end`` — from the year ``from`` on the duty is no longer in force (no occurrences);
* ``extend`` — the duty is in force again (or still) from ``from`` through ``until`` (null: no end);
* ``replace`` — from the year ``from`` on, the fields in ``changes`` replace the document's.

What a duty is in a given year is a pure function of the document's entry and these overrides
(:func:`spec_in_year`); history is untouched because stored occurrences up to the real clock are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from shanhai.models.catalogue_specs import ObligationSpec, _Strict
from shanhai.models.yaml_source import Problem, Source, validate, validation_problems

# Fields a replacement may change: what the duty asks and who owes it, never what it is (id, kind, scope).
REPLACEABLE = frozenset(
    {"description", "due", "roll", "closes", "window_from", "min_count", "target", "shares", "pace",
     "responsible", "evidence", "reminders", "notes"}
)


class Override(_Strict):
    obligation: str = Field(min_length=1)
    action: Literal["end", "extend", "replace"]
    from_: int = Field(alias="from", ge=2000, le=2100)
    until: int | None = Field(default=None, ge=2000, le=2100)  # extend only; null = no end
    changes: dict[str, Any] | None = None  # replace only
    source: str = Field(min_length=2, max_length=120)  # the decision: 市领导小组 2027 年工作要点
    issued: date | None = None  # the decision's date, when known
    note: str | None = None

    @model_validator(mode="after")
    def _action_fields(self) -> Override:
        if self.action == "replace":
            if not self.changes:
                raise ValueError("changes: 调整（replace）须写 changes (replace needs changes)")
            unknown = sorted(set(self.changes) - REPLACEABLE)
            if unknown:
                raise ValueError(f"changes: 不能调整的字段 {unknown}（可调整：{sorted(REPLACEABLE)}）"
                                 f"(fields a replacement cannot change)")
        elif self.changes is not None:
            raise ValueError("changes: 只有调整（replace）才写 changes (only replace takes changes)")
        if self.action != "extend" and "until" in self.model_fields_set:
            raise ValueError("until: 只有延续（extend）才写 until (only extend takes until)")
        if self.action == "extend" and self.until is not None and self.until < self.from_:
            raise ValueError("until: 早于 from (until is before from)")
        return self

    @property
    def summary(self) -> str:
        """``自2028年起终止`` / ``2027年起延续至2030年`` / ``自2027年起调整：due、min_count``."""
        if self.action == "end":
            return f"自{self.from_}年起终止"
        if self.action == "extend":
            return f"自{self.from_}年起延续" + (f"至{self.until}年" if self.until else "（不设截止年份）")
        return f"自{self.from_}年起调整：" + "、".join(sorted(self.changes or {}))


class OverridesFile(_Strict):
    overrides: list[Override] = Field(default_factory=list)


@dataclass(frozen=True)
class Amendment:
    """One validated override and the duty as it reads once the override applies."""

    override: Override
    replaced: ObligationSpec | None  # replace: the document's entry with the changes applied


def in_force(base: ObligationSpec, amendments: tuple[Amendment, ...], year: int) -> bool:
    """Whether the duty is in force in ``year``: the document's years, then each override in ``from`` order."""
    force = base.valid_from <= year and (base.valid_until is None or year <= base.valid_until)
    for a in amendments:
        o = a.override
        if o.action == "end" and year >= o.from_:
            force = False
        elif o.action == "extend" and o.from_ <= year and (o.until is None or year <= o.until):
            force = True
    return force


LAST_YEAR = 2100  # the schema's bound on years


def last_year_in_force(base: ObligationSpec, amendments: tuple[Amendment, ...]) -> int | None:
    """The duty's last year in force once the overrides apply (None: no end), as ``valid_until`` reads."""
    if not amendments:
        return base.valid_until
    if in_force(base, amendments, LAST_YEAR):
        return None
    years = [y for y in range(base.valid_from, LAST_YEAR) if in_force(base, amendments, y)]
    return max(years) if years else None


def override_items(amendments: tuple[Amendment, ...]) -> list[dict[str, Any]]:
    """The overrides as `obligations --json` shows them (the file's own keys) plus a Chinese ``summary``."""
    return [
        {**a.override.model_dump(mode="json", by_alias=True, exclude_none=True), "summary": a.override.summary}
        for a in amendments
    ]


def spec_in_year(base: ObligationSpec, amendments: tuple[Amendment, ...], year: int) -> ObligationSpec:
    """The duty as it reads in ``year``: the latest replacement whose ``from`` has come, else the document's."""
    spec = base
    for a in amendments:
        if a.replaced is not None and a.override.from_ <= year:
            spec = a.replaced
    return spec


def sources_in_year(amendments: tuple[Amendment, ...], year: int) -> list[Override]:
    """The overrides that shape the duty in ``year`` (shown beside it with their source)."""
    return [a.override for a in amendments if a.override.from_ <= year and a.override.action != "end"]


def read_overrides(
    source: Source, obligations: dict[str, ObligationSpec], problems: list[Problem]
) -> dict[str, tuple[Amendment, ...]]:
    """Validate an override file against the catalogue's duties; every problem located (file:line)."""
    data = source.data if isinstance(source.data, dict) else {}
    parsed = validate(OverridesFile, source, problems, data={"overrides": data.get("overrides") or []})
    if parsed is None:
        return {}
    found: dict[str, list[Amendment]] = {}
    for i, o in enumerate(parsed.overrides):
        loc = ("overrides", i)
        base = obligations.get(o.obligation)
        if base is None:
            known = "、".join(sorted(obligations))
            problems.append(source.problem((*loc, "obligation"),
                                           f"未知的事项编号“{o.obligation}”（可用：{known}）(unknown obligation)"))
            continue
        amendment = _amendment(base, o, source, loc, problems)
        if amendment is not None:
            found.setdefault(o.obligation, []).append(amendment)
    return {k: tuple(sorted(v, key=lambda a: a.override.from_)) for k, v in found.items()}


def _amendment(base: ObligationSpec, o: Override, source: Source, loc: tuple, problems: list[Problem]
               ) -> Amendment | None:
    if o.from_ < base.valid_from:
        problems.append(source.problem((*loc, "from"),
                                       f"{o.from_} 早于该事项的起始年份 {base.valid_from} (before the duty's first year)"))
        return None
    if o.action == "extend" and base.dated_once:
        problems.append(source.problem((*loc, "action"), "只到期一次的事项不能延续，请用 replace 改写 due "
                                                         "(a one-off cannot be extended: replace its due date)"))
        return None
    if o.action != "replace":
        return Amendment(o, None)
    merged = {**base.model_dump(exclude_none=True), **(o.changes or {})}
    try:
        return Amendment(o, ObligationSpec.model_validate(merged))
    except ValidationError as exc:
        problems += validation_problems(exc, source, prefix=(*loc, "changes"))
        return None
