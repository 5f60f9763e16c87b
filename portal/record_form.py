"""The record form: which fields an obligation asks for, and reading them strictly.

Money is a number plus a unit chosen from 元/万元/亿元, joined into the text ``parse_amount`` reads, so
an amount always carries its unit and the form reads it as `record --amount` and an import cell do
(SPEC §9: the same text, the same answer). Counting duties take a count, not money. Every problem is an
``InputError`` naming the field, raised before anything is stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date

from shanhai.models.amounts import parse_amount, parse_count
from shanhai.models.catalogue_specs import ObligationSpec
from shanhai.models.errors import InputError
from shanhai.models.grammar import parse_date
from shanhai.models.progress import PLAN_KIND_LABELS
from shanhai.models.requirement import parse_requirement
from shanhai.models.tables import Occurrence

AMOUNT_UNITS = ("元", "万元", "亿元")
MAX_NOTE = 2000


@dataclass(frozen=True)
class FormSpec:
    amount: bool  # the form shows an amount
    amount_required: bool
    default_unit: str
    count: bool  # the form shows a count
    count_label: str
    categories: tuple[tuple[str, str], ...]  # (value, label)
    category_required: bool


@dataclass(frozen=True)
class RecordInput:
    """The form's fields as typed (shown again with an error)."""

    date: str
    amount_number: str
    amount_unit: str
    count: str
    category: str
    note: str

    @classmethod
    def defaults(cls, today: dt.date, spec: FormSpec | None) -> RecordInput:
        return cls(today.isoformat(), "", spec.default_unit if spec else "万元", "1", "", "")


@dataclass(frozen=True)
class ParsedRecord:
    on: date
    amount_fen: int | None
    count: int
    category: str | None
    note: str | None


def form_spec(ob: ObligationSpec, occ: Occurrence) -> FormSpec:
    req = parse_requirement(occ.requirement)
    categories: tuple[tuple[str, str], ...] = ()
    if req.plan is not None:
        categories = tuple((kind, PLAN_KIND_LABELS.get(kind, kind)) for kind in req.plan)
        return FormSpec(True, True, "万元", False, "", categories, True)
    if ob.categories:
        categories = tuple((c, c) for c in ob.categories)
    elif ob.shares:
        categories = tuple((s.category, s.category) for s in ob.shares)
    required = bool(ob.categories)
    if req.measures_money:
        unit = req.target.unit if req.target else "万元"
        return FormSpec(True, True, unit, False, "", categories, required)
    if req.target_quantity is not None:
        label = req.target.unit if req.target else "个"
        return FormSpec(False, False, "万元", True, f"数量（{label}）", categories, required)
    if ob.kind == "annual_count" or req.min_count not in (None, 1):
        return FormSpec(False, False, "万元", True, "次数（本条记录计几次）", categories, required)
    # a deadline: done or not, and the money in place where the duty is about money (帮扶资金, 注册资金)
    return FormSpec(True, False, "万元", False, "", categories, required)


def parse_record_form(values: RecordInput, spec: FormSpec) -> ParsedRecord:
    on = parse_date(values.date)
    amount_fen = _amount(values, spec)
    count = parse_count(values.count) if spec.count else 1
    category = values.category.strip() or None
    allowed = {v for v, _ in spec.categories}
    if category is not None and category not in allowed:
        raise InputError("category", f"未知类别“{category}”。")
    if category is None and spec.category_required:
        raise InputError("category", "请选择类别。")
    note = values.note.strip()
    if len(note) > MAX_NOTE:
        raise InputError("note", f"说明不超过 {MAX_NOTE} 字（现为 {len(note)} 字）。")
    return ParsedRecord(on, amount_fen, count, category, note or None)


def _amount(values: RecordInput, spec: FormSpec) -> int | None:
    number = values.amount_number.strip()
    if not number:
        if spec.amount_required:
            raise InputError("amount", "请填写金额（数字）并选择单位。")
        return None
    if not spec.amount:
        raise InputError("amount", "该事项按次数/数量计，不填金额。")
    if values.amount_unit not in (*AMOUNT_UNITS, ""):
        raise InputError("amount", "金额须注明单位：请在金额右侧选择 元、万元 或 亿元。")
    # no unit chosen: the number must carry its own ("5万"), as `record --amount` reads it
    return parse_amount(f"{values.amount_number}{values.amount_unit}")
