"""Money as the document writes it (元, 万元, 亿元), stored exactly in fen (分)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from shanhai.models.errors import InputError

_AMOUNT = re.compile(r"^\s*(?P<num>[+-]?[\d,]*\.?\d+)\s*(?P<unit>亿元|亿|万元|万|元)?\s*$")
_UNIT_YUAN = {"亿元": 100_000_000, "亿": 100_000_000, "万元": 10_000, "万": 10_000, "元": 1, None: 1}


def parse_amount(text: str, *, field: str = "amount") -> int:
    """An amount in 元 unless it carries a unit ('500万', '2.5亿'); returns fen."""
    m = _AMOUNT.match(str(text))
    if not m:
        raise InputError(field, f"无法识别的金额 '{text}'（例：1200000、500万、2.5亿）")
    try:
        value = Decimal(m["num"].replace(",", "")) * _UNIT_YUAN[m["unit"]] * 100
    except InvalidOperation as exc:
        raise InputError(field, f"无法识别的金额 '{text}'") from exc
    if value < 0:
        raise InputError(field, f"金额不能为负数：{text}")
    if value != value.to_integral_value():
        raise InputError(field, f"金额精确到分：{text}")
    return int(value)
