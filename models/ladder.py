"""The reminder ladder: which reminder stage goes out on which working day.

Pure date logic: no clock, no I/O. Every function takes the due date, a working-day calendar
(anything with the :class:`WorkingDays` methods, normally
:class:`shanhai.models.working_days.WorkingCalendar`) and, where relevant, ``today``.

The default ladder, for an occurrence due on ``due``:

============  =========================================  ================================
stage         nominal day                                audience
============  =========================================  ================================
before_30d    ``due - 30`` calendar days                 lead units
before_7d     ``due - 7`` calendar days                  lead units
before_3wd    ``add_working_days(due, -3)``              lead units
before_1wd    ``add_working_days(due, -1)``              lead units
due           ``due``                                    lead units, co-responsible copied
overdue_1wd   ``add_working_days(due, 1)``               lead units + coordinator, co-responsible copied
overdue_5wd   ``add_working_days(due, 5)``               supervisors
repeat_k      last overdue stage's day + 7k calendar     lead units + coordinator
============  =========================================  ================================

Rules decided here:

* Nothing goes out on a non-working day: a stage whose nominal day is not a working day
  goes out on the next working day (:func:`may_send` says whether messages may leave at an
  instant).  Repeats are anchored on the last overdue stage's day (``anchor + k *
  repeat_every_days``), so holidays never make them drift.
* Before-stages are ranked by their nominal day for this due date (calendar-day and
  working-day lead times interleave correctly even for unusual ladders; on a tie the
  calendar-day stage ranks first).
* A stage that the move off a non-working day lands on or after the day of a *later*
  stage is superseded and dropped (e.g. due on Saturday 2026-10-31: the ``due`` stage would
  move to Monday 11-02, which is already ``overdue_1wd``; or ``before_7d`` falling inside
  a long holiday).  So along :meth:`Schedule.stages` both rank and day strictly increase.
* Ranks are spaced by phase so that they also compare sensibly across ladders:
  before-stages ``0..99``, ``due`` 100, the i-th overdue stage ``200 + i``, ``repeat_k``
  ``300 + k``.
* Overdue stages beyond the second go to the supervisor, like the second.
* The supervisors get an item once, when it escalates to them; from then on it is in their monthly
  digest, never in the weekly repeats.
* ``repeat_every_days = 0`` disables repeats; without overdue stages repeats are anchored
  on the due date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from shanhai.models.localtime import format_day, to_local

__all__ = [
    "DEFAULT_LADDER",
    "Audience",
    "LadderOverride",
    "ReminderLadder",
    "Schedule",
    "Stage",
    "StagePhase",
    "WorkingDays",
    "copy_label",
    "may_send",
    "rank_phase",
    "stage_label",
]


class Audience(StrEnum):
    LEAD = "lead"  # the units that owe the duty (牵头)
    COPIED = "copied"  # co-responsible units (配合), copied (抄送) at the due date and the first escalation
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"


class StagePhase(StrEnum):
    BEFORE = "before"
    DUE = "due"
    OVERDUE = "overdue"
    REPEAT = "repeat"


_TO_LEAD = frozenset({Audience.LEAD})
_TO_DUE = frozenset({Audience.LEAD, Audience.COPIED})
_TO_FIRST_OVERDUE = frozenset({Audience.LEAD, Audience.COPIED, Audience.COORDINATOR})
_TO_SUPERVISOR = frozenset({Audience.SUPERVISOR})
_TO_REPEAT = frozenset({Audience.LEAD, Audience.COORDINATOR})

_RANK_DUE = 100
_RANK_OVERDUE = 200
_RANK_REPEAT = 300
_MAX_STAGES_PER_PHASE = 99


class WorkingDays(Protocol):
    """The part of :class:`~shanhai.models.working_days.WorkingCalendar` the ladder and planner use."""

    def is_working_day(self, d: date) -> bool: ...

    def next_working_day(self, d: date, *, include_self: bool = False) -> date: ...

    def add_working_days(self, d: date, n: int) -> date: ...

    def working_days_between(self, start: date, end: date) -> int: ...


def may_send(as_of: datetime, cal: WorkingDays, send_hour: int) -> bool:
    """Messages leave only on working days (Asia/Shanghai) from the send hour on: reminders,
    retries and digests alike."""
    local = to_local(as_of)
    return local.hour >= send_hour and cal.is_working_day(local.date())


def next_send_day(as_of: datetime, cal: WorkingDays, send_hour: int) -> date:
    """The local date from whose send hour messages held at ``as_of`` leave: today on a working day
    (before the send hour, or already within it), else the next working day."""
    today = to_local(as_of).date()
    return today if cal.is_working_day(today) else cal.next_working_day(today)


def send_time_text(as_of: datetime, cal: WorkingDays, send_hour: int) -> str:
    """When messages held at ``as_of`` leave, in Chinese: ``今天北京时间 09:00`` or
    ``下一个工作日 2026-12-07（周一）北京时间 09:00``."""
    day = next_send_day(as_of, cal, send_hour)
    at = f"北京时间 {send_hour:02d}:00"
    return f"今天{at}" if day == to_local(as_of).date() else f"下一个工作日 {format_day(day)}{at}"


# --------------------------------------------------------------------------- the ladder

Days = tuple[Annotated[StrictInt, Field(ge=1)], ...]


class LadderOverride(BaseModel):
    """A catalogue's ``reminders:`` override; the keys given replace the defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    before_calendar_days: Days | None = None
    before_working_days: Days | None = None
    on_due_date: StrictBool | None = None
    overdue_working_days: Days | None = Field(default=None, max_length=_MAX_STAGES_PER_PHASE)
    repeat_every_days: Annotated[StrictInt, Field(ge=0)] | None = None  # 0 disables repeats

    @field_validator("before_calendar_days", "before_working_days", "overdue_working_days", mode="before")
    @classmethod
    def _list_of_days(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise ValueError("应为天数（整数）的列表，如 [30, 7] (must be a list of whole numbers of days)")
        if len(set(value)) != len(value):
            raise ValueError(f"有重复的天数：{list(value)} (lists a value more than once)")
        return value

    @model_validator(mode="after")
    def _not_too_many_stages(self) -> LadderOverride:
        before = len(self.before_calendar_days or ()) + len(self.before_working_days or ())
        if before > _MAX_STAGES_PER_PHASE:
            raise ValueError(f"到期前的提醒合计至多 {_MAX_STAGES_PER_PHASE} 次 (at most {_MAX_STAGES_PER_PHASE} before-stages in all)")
        return self

    def ladder(self) -> ReminderLadder:
        given = self.model_dump(exclude_none=True)
        return ReminderLadder(**given) if given else DEFAULT_LADDER


@dataclass(frozen=True)
class ReminderLadder:
    """When reminders go out, relative to the due date. Normalised on construction (lead times
    farthest first, overdue steps nearest first), so two equal ladders compare and hash equal."""

    before_calendar_days: tuple[int, ...] = (30, 7)
    before_working_days: tuple[int, ...] = (3, 1)
    on_due_date: bool = True
    overdue_working_days: tuple[int, ...] = (1, 5)  # 1st -> responsible + coordinator; 2nd+ -> supervisor
    repeat_every_days: int = 7  # then every N calendar days until resolved (0: never)

    def __post_init__(self) -> None:
        object.__setattr__(self, "before_calendar_days", tuple(sorted(self.before_calendar_days, reverse=True)))
        object.__setattr__(self, "before_working_days", tuple(sorted(self.before_working_days, reverse=True)))
        object.__setattr__(self, "overdue_working_days", tuple(sorted(self.overdue_working_days)))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> ReminderLadder:
        """A ladder from a catalogue override (``None`` or ``{}``: the default). A bad key or value
        raises a ValueError (pydantic's) naming it."""
        if data is None:
            return DEFAULT_LADDER
        return LadderOverride.model_validate(data).ladder()


DEFAULT_LADDER = ReminderLadder()


@dataclass(frozen=True, order=True)
class Stage:
    rank: int  # strictly increasing along the ladder; before-stages < due < overdue stages < repeats
    name: str  # stable ascii key: before_30d, before_3wd, due, overdue_1wd, repeat_1, ...
    label: str  # Chinese label: 到期前30天, 到期前3个工作日, 到期当日, 逾期1个工作日, 每周复报（第1次）
    on: date  # the working day it goes out
    audience: frozenset[Audience]

    @property
    def phase(self) -> StagePhase:
        return rank_phase(self.rank)


def rank_phase(rank: int) -> StagePhase:
    if rank >= _RANK_REPEAT:
        return StagePhase.REPEAT
    if rank > _RANK_OVERDUE:
        return StagePhase.OVERDUE
    return StagePhase.DUE if rank == _RANK_DUE else StagePhase.BEFORE


_LATE_LABELS = {
    StagePhase.BEFORE: "到期前提醒",
    StagePhase.DUE: "到期提醒",
    StagePhase.OVERDUE: "逾期提醒",
    StagePhase.REPEAT: "逾期提醒",
}


def copy_label(stage: Stage, ladder: ReminderLadder, *, on: date, overdue_before: int) -> str:
    """The label of one recipient's copy of ``stage`` sent on ``on``, true to what it was really sent:
    a repeat is numbered by the overdue messages this recipient was really sent before about the item
    (``overdue_before``: a fresh install or a catch-up starts at none, so never "第25次" out of
    nowhere; with none the repeat is the first overdue notice, ``逾期提醒``); a stage sent after its
    own day (a copy, a catch-up) is named by its phase, never by a lead time or age it no longer has."""
    if stage.phase is StagePhase.REPEAT:
        if overdue_before < 1:
            return _LATE_LABELS[StagePhase.REPEAT]
        return stage_label(f"repeat_{overdue_before}", ladder)
    if on > stage.on:
        return _LATE_LABELS[stage.phase]
    return stage.label


def stage_label(name: str, ladder: ReminderLadder = DEFAULT_LADDER) -> str:
    """The Chinese label of a stage name (before_30d -> 到期前30天, overdue_1wd -> 逾期1个工作日,
    repeat_2 -> 每周复报（第2次） on a weekly ladder, 逾期复报（第2次） otherwise: the k-th repeat after
    the last overdue stage, not the k-th week overdue); the one owner of these labels. A name of no stage shape is returned as it is."""
    import re

    if name == "due":
        return "到期当日"
    if m := re.fullmatch(r"before_([1-9][0-9]*)d", name):
        return f"到期前{m.group(1)}天"
    if m := re.fullmatch(r"before_([1-9][0-9]*)wd", name):
        return f"到期前{m.group(1)}个工作日"
    if m := re.fullmatch(r"overdue_([1-9][0-9]*)wd", name):
        return f"逾期{m.group(1)}个工作日"
    if m := re.fullmatch(r"repeat_([1-9][0-9]*)", name):
        return f"{'每周' if ladder.repeat_every_days == 7 else '逾期'}复报（第{m.group(1)}次）"
    return name


# --------------------------------------------------------------------------- the schedule


def _plain(d: date) -> date:
    """A plain ``datetime.date`` (pendulum Dates are subclasses; keep hashing/equality simple)."""
    if type(d) is date:
        return d
    return date(d.year, d.month, d.day)


class Schedule:
    """All stages of one ladder for one due date, on one calendar.

    The finite part (before, due and overdue stages) is computed once; repeats are
    computed on demand, so :meth:`current` costs O(1) calendar lookups whatever ``today``.
    Build one per (due, ladder) and reuse it (the planner does).
    """

    __slots__ = ("_anchor", "_cal", "_fixed", "_ranks", "due", "ladder", "n_overdue")

    def __init__(self, due: date, cal: WorkingDays, ladder: ReminderLadder = DEFAULT_LADDER):
        due = _plain(due)
        self.due = due
        self.ladder = ladder
        self._cal = cal
        roll = self._roll

        # Before-stages, ranked by nominal day (calendar-day stage first on a tie).
        before: list[tuple[date, int, int, str, str]] = []
        for n in ladder.before_calendar_days:
            before.append((due - timedelta(days=n), 0, -n, f"before_{n}d", stage_label(f"before_{n}d")))
        for n in ladder.before_working_days:
            before.append(
                (_plain(cal.add_working_days(due, -n)), 1, -n, f"before_{n}wd", stage_label(f"before_{n}wd"))
            )
        before.sort()
        candidates: list[Stage] = [
            Stage(rank, name, label, roll(nominal), _TO_LEAD)
            for rank, (nominal, _kind, _lead, name, label) in enumerate(before)
        ]
        if ladder.on_due_date:
            candidates.append(Stage(_RANK_DUE, "due", stage_label("due"), roll(due), _TO_DUE))
        anchor = due
        for i, n in enumerate(ladder.overdue_working_days, start=1):
            day = _plain(cal.add_working_days(due, n))
            audience = _TO_FIRST_OVERDUE if i == 1 else _TO_SUPERVISOR
            name = f"overdue_{n}wd"
            candidates.append(Stage(_RANK_OVERDUE + i, name, stage_label(name), day, audience))
            anchor = day
        self._anchor = anchor
        self.n_overdue = len(ladder.overdue_working_days)
        self._ranks = {s.name: s.rank for s in candidates}

        # Drop stages moved onto or past a later stage's day (walk backwards).  Against the
        # first repeat, comparing with its nominal day is equivalent (no working day lies
        # between a nominal day and its roll) and needs no look-ahead into the calendar.
        limit = self._nominal_repeat(1) or date.max
        kept: list[Stage] = []
        for stage in reversed(candidates):
            if stage.on < limit:
                kept.append(stage)
                limit = stage.on
        kept.reverse()
        self._fixed: tuple[Stage, ...] = tuple(kept)

    def _roll(self, d: date) -> date:
        return _plain(self._cal.next_working_day(d, include_self=True))

    def _nominal_repeat(self, k: int) -> date | None:
        step = self.ladder.repeat_every_days
        if step <= 0 or k < 1:
            return None
        return self._anchor + timedelta(days=k * step)

    def _repeat(self, k: int) -> Stage | None:
        nominal = self._nominal_repeat(k)
        if nominal is None:
            return None
        name = f"repeat_{k}"
        return Stage(_RANK_REPEAT + k, name, stage_label(name, self.ladder), self._roll(nominal), _TO_REPEAT)

    # ---- queries

    def rank_of(self, name: str) -> int | None:
        """The rank of a stage name on this ladder (superseded stages included), or None
        for a name the ladder does not have."""
        rank = self._ranks.get(name)
        if rank is not None:
            return rank
        if name.startswith("repeat_") and self.ladder.repeat_every_days > 0:
            digits = name[len("repeat_") :]
            if digits.isascii() and digits.isdigit() and not digits.startswith("0"):
                return _RANK_REPEAT + int(digits)
        return None

    def stages(self, until: date) -> list[Stage]:
        """Every stage that goes out on or before ``until``, in rank order."""
        until = _plain(until)
        out = [s for s in self._fixed if s.on <= until]
        if len(out) < len(self._fixed):
            return out
        k = 1
        while (nominal := self._nominal_repeat(k)) is not None and nominal <= until:
            current = self._repeat(k)
            assert current is not None
            if current.on > until:
                break
            # Superseded when a long holiday rolls it onto the next repeat's day, i.e. onto
            # or past the next repeat's nominal day.
            if current.on < self._nominal_repeat(k + 1):  # type: ignore[operator]
                out.append(current)
            k += 1
        return out

    @property
    def last_fixed_rank(self) -> int:
        """The rank of the last stage before the weekly repeats (-1 for an empty ladder)."""
        return self._fixed[-1].rank if self._fixed else -1

    def latest_for(self, audience: Audience, today: date) -> Stage | None:
        """The most advanced stage out by ``today`` that goes to ``audience``: after downtime each
        recipient gets the stage due for them, not silence because a later one was meant for others."""
        current = self.current(today)
        if current is not None and audience in current.audience:
            return current
        today = _plain(today)
        for stage in reversed(self._fixed):
            if stage.on <= today and audience in stage.audience:
                return stage
        return None

    def current(self, today: date) -> Stage | None:
        """The most advanced stage that has gone out by ``today`` (None before the first)."""
        today = _plain(today)
        step = self.ladder.repeat_every_days
        if step > 0:
            k = (today - self._anchor).days // step
            while k >= 1:
                repeat = self._repeat(k)
                assert repeat is not None
                if repeat.on <= today:
                    # The latest repeat out by today is never superseded: a superseding
                    # repeat would go out the same day and have a higher k.
                    return repeat
                k -= 1
        for stage in reversed(self._fixed):
            if stage.on <= today:
                return stage
        return None

    def escalation_level(self, today: date) -> int:
        """0 before the first overdue stage; i from the i-th overdue stage; then one more
        for each repeat interval (repeat_k gives ``n_overdue + k``)."""
        stage = self.current(today)
        if stage is None or stage.rank <= _RANK_OVERDUE:
            return 0
        if stage.rank > _RANK_REPEAT:
            return self.n_overdue + stage.rank - _RANK_REPEAT
        return stage.rank - _RANK_OVERDUE
