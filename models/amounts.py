"""Money as the document writes it (元, 万元, 亿元), stored exactly in fen (分); counts of things.

An amount always carries its unit: the document's targets are in 万元 and 亿元, so a bare 11900 is
ambiguous by a factor of 10,000 and is refused rather than guessed.

Bounds (per record) that no real record comes near, so that one typo cannot swamp a year's total and
no sum can overflow a BIGINT:
- an amount is at most 1,000亿元 (10**13 fen): 25 times the city's largest yearly target (40亿元) and
  200 times 附件1's largest row; a BIGINT (9.2 * 10**18) would overflow only after 922,337 such
  records in one occurrence, which holds tens;
- a count is at most 100,000: 16 times the largest count target (培训就业 6000人次 a year, city-wide);
  the INTEGER column and its sums stay far from 2**31.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from shanhai.models.catalogue_specs import AMOUNT_UNITS, FEN_PER_YUAN
from shanhai.models.errors import InputError
from shanhai.models.grammar import normal_text, shown_text

if TYPE_CHECKING:
    from shanhai.models.catalogue_specs import ObligationSpec

# every unit an amount may be written in, in 元: the catalogue's target units, their short forms, and 元
UNIT_YUAN = {**AMOUNT_UNITS, "亿": AMOUNT_UNITS["亿元"], "万": AMOUNT_UNITS["万元"], "元": 1}
MAX_AMOUNT_FEN = 1000 * 100_000_000 * FEN_PER_YUAN  # 1,000亿元
MAX_AMOUNT_TEXT = "1000亿元"
MAX_COUNT = 100_000

# ASCII digits only (after NFKC has turned full-width ones into ASCII): other scripts' digits are not
# what a clerk types, and \d would let them through
_NUMBER = r"(?P<sign>[+-]?)(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<frac>[0-9]+))?"
_AMOUNT = re.compile(rf"^{_NUMBER}\s*(?P<unit>亿元|亿|万元|万|元)?$")
_COUNT = re.compile(r"^[+]?[0-9]+$")


def parse_amount(text: str, *, field: str = "amount", unit: str | None = None) -> int:
    """An amount with its unit ('11900元', '500万', '2.5亿元', '1,200,000 元') in fen.

    `unit` is the unit stated once for a whole column (an import header such as 金额（万元）): a bare
    number then means that unit, and a cell that names another unit is refused as contradictory.
    """
    raw, shown = normal_text(text), shown_text(text)
    if not raw:
        raise InputError(field, "金额为空")
    m = _AMOUNT.match(raw)
    if not m:
        raise InputError(
            field, f"无法识别的金额“{shown}”（须为数字加单位，例：1200000元、500万、2.5亿；千分位用逗号）"
        )
    number = f"{m['sign'].lstrip('+')}{m['int']}" + (f".{m['frac']}" if m["frac"] else "")
    given = m["unit"]
    if m["sign"] == "-" and (m["int"].strip("0,") or (m["frac"] or "").strip("0")):
        raise InputError(field, f"金额不能为负数：{shown}")
    if given is None and unit is None:
        bare = number.lstrip("-")
        raise InputError(field, f"金额须注明单位：{bare} 元、{bare}万 还是 {bare}亿？")
    if given is not None and unit is not None and UNIT_YUAN[given] != UNIT_YUAN[unit]:
        raise InputError(field, f"金额“{shown}”的单位与表头所注单位“{unit}”不一致")
    yuan_per_unit = UNIT_YUAN[given or unit]  # type: ignore[index]
    whole = m["int"].replace(",", "").lstrip("0")
    frac = (m["frac"] or "").rstrip("0")
    # longer than any amount under the bound: refuse before building huge integers from it
    if len(whole) > 16:
        raise InputError(field, f"金额超过单条记录上限 {MAX_AMOUNT_TEXT}：{shown}")
    if len(frac) > 10:  # 亿 has ten decimal places down to the fen; nothing has more
        raise InputError(field, f"金额精确到分：{shown}")
    numerator = int(whole + frac or "0") * yuan_per_unit * FEN_PER_YUAN
    fen, rest = divmod(numerator, 10 ** len(frac))
    if rest:
        raise InputError(field, f"金额精确到分：{shown}")
    check_amount(fen, field=field)
    return fen


def check_amount(fen: int, *, field: str = "amount") -> None:
    """A stored amount is money that moved: a zero one is a mistake (no amount is stated by leaving it out)."""
    if fen < 0:
        raise InputError(field, "金额不能为负数")
    if fen == 0:
        raise InputError(field, "金额须大于 0（没有金额就不填）")
    if fen > MAX_AMOUNT_FEN:
        raise InputError(
            field, f"金额 {format_amount(fen, '亿元')} 超过单条记录上限 {MAX_AMOUNT_TEXT}（请核对单位）"
        )


def parse_count(text: object, *, field: str = "count") -> int:
    """A count of things (次, 个, 人次): a whole number from 1 to MAX_COUNT; empty means 1."""
    raw, shown = normal_text(text), shown_text(text)
    if not raw:
        return 1
    if not _COUNT.match(raw):
        raise InputError(field, f"数量须为正整数（阿拉伯数字，如 2），而不是“{shown}”")
    if len(raw.lstrip("+0")) > 7:
        raise InputError(field, f"数量 {raw} 超过单条记录上限 {MAX_COUNT}")
    n = int(raw)
    check_count(n, field=field)
    return n


def check_count(n: int, *, field: str = "count") -> None:
    if n < 1:
        raise InputError(field, f"数量必须至少为 1，而不是 {n}")
    if n > MAX_COUNT:
        raise InputError(field, f"数量 {n} 超过单条记录上限 {MAX_COUNT}（请核对）")


def format_amount(fen: int, unit: str) -> str:
    """Money as every page, message, listing and export shows it: in ``unit`` (the target's), thousands
    separated, at most two decimals, no trailing zeros ('5.93 亿元', '11,900 万元', '12.5 元'); a value
    the two decimals round is marked 约 ('约 5.93 亿元' for 59,270.1425 万元). Integer arithmetic: exact."""
    per = UNIT_YUAN[unit] * FEN_PER_YUAN
    hundredths, rest = divmod(abs(fen) * 100, per)
    if rest * 2 >= per:  # half up
        hundredths += 1
    if hundredths == 0 and fen:
        return f"不足 0.01 {unit}"
    whole, cents = divmod(hundredths, 100)
    text = f"{whole:,}" + (f".{cents:02d}".rstrip("0") if cents else "")
    return f"{'约 ' if rest else ''}{'-' if fen < 0 else ''}{text} {unit}"


def takes_amount(ob: ObligationSpec) -> bool:
    """Count duties (annual_count; quantities counted in 人次/个 or by number of projects alone) take no
    amount. Amount duties (a target in 万元/亿元, 附件1's plan vs actual) do; so do deadlines, whose
    record may state the money in place (帮扶资金, 注册资金)."""
    if ob.kind == "annual_count":
        return False
    if ob.kind in ("annual_quantity", "cumulative_quantity"):
        return ob.target is not None and ob.target.unit in AMOUNT_UNITS
    return True


def amount_unit(ob: ObligationSpec) -> str:
    """The unit an obligation's amounts are read back in: its target's, else 万元 (附件1's unit)."""
    if ob.target is not None and ob.target.unit in AMOUNT_UNITS:
        return ob.target.unit
    return "万元"
