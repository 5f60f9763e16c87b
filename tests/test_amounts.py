"""Amounts carry their unit or are refused; counts are whole numbers; both have bounds no real record
exceeds. Pure functions: no database."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shanhai.models.amounts import (
    MAX_AMOUNT_FEN,
    MAX_COUNT,
    amount_unit,
    format_amount,
    parse_amount,
    parse_count,
    takes_amount,
)
from shanhai.models.catalogue_specs import ObligationSpec
from shanhai.models.errors import InputError
from tests.conftest import make_obligation

YI, WAN = 100_000_000 * 100, 10_000 * 100  # fen
UNITS = [("元", 100), ("万", WAN), ("万元", WAN), ("亿", YI), ("亿元", YI)]
FULL_WIDTH = str.maketrans("0123456789,.+-", "０１２３４５６７８９，．＋－")


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("500万", 500 * WAN),
        ("500万元", 500 * WAN),
        ("2.5亿", 25 * YI // 10),
        ("40亿元", 40 * YI),
        ("1,200,000元", 120_000_000),
        ("1200000 元", 120_000_000),
        ("12.34元", 1234),
        (" 0.5 万 ", 50 * WAN // 100),
        ("11900万", 11900 * WAN),
        ("１１９００万", 11900 * WAN),  # full-width digits, as a Chinese input method types them
        ("１，２００，０００．５０元", 120_000_050),
        ("+3万", 3 * WAN),
        ("1000亿元", MAX_AMOUNT_FEN),
    ],
)
def test_it_reads_an_amount_with_its_unit_exactly_in_fen(text, fen):
    assert parse_amount(text) == fen


@pytest.mark.parametrize("text", ["0元", "0万", "0.00亿元", "-0.0万元", "+0元", "０万"])
def test_a_zero_amount_is_refused_as_no_money_at_all(text):
    with pytest.raises(InputError) as caught:
        parse_amount(text)
    assert caught.value.message == "金额须大于 0（没有金额就不填）"
    with pytest.raises(InputError):
        parse_amount(text.rstrip("元万亿") or "0", unit="亿元")  # a header's unit: an xlsx -0.0 under 金额（亿元）


@pytest.mark.parametrize("text", ["12,34万", "1,2,3元", ",5万", "1,0000元", "1,000,00元", "12，34万"])
def test_thousands_separators_come_only_in_groups_of_three(text):
    with pytest.raises(InputError) as caught:
        parse_amount(text)
    assert caught.value.message.startswith("无法识别的金额")


@pytest.mark.parametrize("text", ["11900", "1,200,000", "12.34", "0", "１１９００", "+5"])
def test_it_refuses_a_bare_amount_and_asks_for_the_unit(text):
    with pytest.raises(InputError) as caught:
        parse_amount(text, field="amount")
    assert caught.value.field == "amount"
    assert caught.value.message.startswith("金额须注明单位：")
    assert "元" in caught.value.message and "万" in caught.value.message and "亿" in caught.value.message


def test_the_bare_amount_message_offers_the_three_readings():
    with pytest.raises(InputError) as caught:
        parse_amount("11900")
    assert caught.value.message == "金额须注明单位：11900 元、11900万 还是 11900亿？"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("-5万", "负数"),
        ("-5", "负数"),
        ("五百万", "无法识别"),
        ("500美元", "无法识别"),
        ("", "为空"),
        ("1e6元", "无法识别"),
        ("0.001元", "精确到分"),
        ("0.00000000001亿", "精确到分"),
        ("万", "无法识别"),
        ("1.2.3万", "无法识别"),
        ("1,5万", "无法识别"),  # a decimal comma would be off by a factor of ten: refused, not guessed
        ("12,34元", "无法识别"),
        ("1000.01亿元", "上限"),
        ("99999999999999999999999999亿", "上限"),
        ("٣元", "无法识别"),  # digits of another script
    ],
)
def test_it_refuses_an_unreadable_negative_or_impossible_amount_naming_the_field(text, says):
    with pytest.raises(InputError) as caught:
        parse_amount(text, field="amount")
    assert caught.value.field == "amount"
    assert says in caught.value.message


def test_a_column_unit_reads_bare_numbers_and_refuses_a_contradicting_cell():
    assert parse_amount("11900", unit="万元") == 11900 * WAN
    assert parse_amount("11900万", unit="万元") == 11900 * WAN
    assert parse_amount("1.19", unit="亿元") == 119 * YI // 100
    with pytest.raises(InputError) as caught:
        parse_amount("11900元", unit="万元")
    assert "不一致" in caught.value.message


amounts = st.integers(min_value=1, max_value=MAX_AMOUNT_FEN)


@given(amounts)
def test_an_amount_in_yuan_round_trips_with_and_without_thousands_separators(fen):
    assert parse_amount(f"{fen // 100}.{fen % 100:02d}元") == fen
    assert parse_amount(f"{fen // 100:,}.{fen % 100:02d} 元") == fen


@given(amounts, st.sampled_from(["元", "万元", "亿元"]))
def test_an_amount_formatted_in_any_unit_reads_back_exactly_or_says_it_rounded(fen, unit):
    """Two decimals in the unit shown, thousands separated; a value they round says 约 (or 不足 0.01)."""
    from shanhai.models.amounts import UNIT_YUAN

    text = format_amount(fen, unit)
    assert text.endswith(f" {unit}")
    hundredth = UNIT_YUAN[unit] * 100 // 100  # fen in 0.01 of the unit
    if text.startswith("不足 0.01 "):
        assert 0 < fen * 2 < hundredth
    elif text.startswith("约 "):
        assert abs(parse_amount(text.removeprefix("约 ")) - fen) * 2 <= hundredth
    else:
        assert parse_amount(text) == fen


@given(amounts, st.sampled_from(["元", "万", "亿元"]))
def test_full_width_digits_read_as_their_ascii_forms(fen, unit):
    text = f"{fen // 100:,}.{fen % 100:02d}元"
    assert parse_amount(text.translate(FULL_WIDTH)) == parse_amount(text) == fen


@given(
    st.decimals(min_value="0.01", max_value=1000, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from(UNITS),
)
def test_an_amount_with_a_unit_is_that_many_units_exactly(value, unit):
    suffix, fen_per_unit = unit
    assert parse_amount(f"{value}{suffix}") == int(value * fen_per_unit)


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(["", "元", "万", "亿元"]))
def test_a_negative_amount_is_always_refused(n, suffix):
    with pytest.raises(InputError) as caught:
        parse_amount(f"-{n}{suffix}")
    assert "负数" in caught.value.message


@given(st.from_regex(r"\A[+-]?[0-9]{1,20}(\.[0-9]{1,12})?\Z") | st.from_regex(r"\A[0-9]{1,3}(,[0-9]{3}){1,5}\Z"))
def test_a_number_without_a_unit_is_never_accepted(text):
    with pytest.raises(InputError) as caught:
        parse_amount(text)
    assert caught.value.field == "amount"
    assert "单位" in caught.value.message or "负数" in caught.value.message


@given(st.text(max_size=24) | st.from_regex(r"\A[ +\-0-9,.０-９]{0,14}(元|万|万元|亿|亿元)?\Z"))
def test_any_text_is_an_exact_bounded_amount_with_a_unit_or_a_clear_amount_error(text):
    try:
        fen = parse_amount(text)
    except InputError as exc:
        assert exc.field == "amount" and exc.message
    else:
        assert isinstance(fen, int) and 0 < fen <= MAX_AMOUNT_FEN
        assert re.search(r"[元万亿]", text), f"{text!r} was accepted without a unit"


@given(st.integers(min_value=MAX_AMOUNT_FEN + 1, max_value=10**30))
def test_an_amount_over_the_bound_is_refused(fen):
    with pytest.raises(InputError) as caught:
        parse_amount(f"{fen // 100}.{fen % 100:02d}元")
    assert "上限" in caught.value.message


@pytest.mark.parametrize(("fen", "unit", "text"), [
    (119 * YI // 100, "亿元", "1.19 亿元"),
    (11900 * WAN, "万元", "11,900 万元"),
    (1250, "元", "12.5 元"),
    (0, "万元", "0 万元"),
    (1, "亿元", "不足 0.01 亿元"),
    (5927014250 * WAN // 100000, "亿元", "约 5.93 亿元"),
    (YI // 200, "亿元", "约 0.01 亿元"),  # half up: 0.005 亿元
])
def test_an_amount_is_shown_in_a_unit_with_two_decimals_at_most(fen, unit, text):
    assert format_amount(fen, unit) == text


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize(("text", "n"), [("", 1), ("1", 1), ("2", 2), ("２", 2), ("100000", MAX_COUNT), (" 3 ", 3)])
def test_it_reads_a_count(text, n):
    assert parse_count(text) == n


@pytest.mark.parametrize("text", ["两次", "-1", "1.5", "0", "1e3", "2次", "100001", "9" * 5000])
def test_it_refuses_a_count_that_is_not_a_whole_number_in_bounds(text):
    with pytest.raises(InputError) as caught:
        parse_count(text)
    assert caught.value.field == "count"


@given(st.text(max_size=12))
def test_any_text_is_a_count_in_bounds_or_a_clear_count_error(text):
    try:
        n = parse_count(text)
    except InputError as exc:
        assert exc.field == "count" and exc.message
    else:
        assert 1 <= n <= MAX_COUNT


# --------------------------------------------------------------------------- which duties take amounts


def spec(kind: str, **fields) -> ObligationSpec:
    return ObligationSpec.model_validate(make_obligation("duty", kind, **fields))


@pytest.mark.parametrize(
    ("ob", "takes", "unit"),
    [
        (spec("annual_count"), False, "万元"),
        (spec("annual_quantity", target={"value": 6000, "unit": "人次"}), False, "万元"),
        (spec("cumulative_quantity", target={"value": 30, "unit": "个"}), False, "万元"),
        (spec("annual_quantity", target={"value": 40, "unit": "亿元"}), True, "亿元"),
        (spec("annual_quantity", min_count=20, target={"value": 1000, "unit": "万元"}), True, "万元"),
        (spec("plan_vs_actual"), True, "万元"),
        (spec("annual_deadline"), True, "万元"),
        (spec("one_off"), True, "万元"),
    ],
    ids=["count", "people", "things", "yi", "wan-with-count", "plan", "deadline", "one-off"],
)
def test_count_duties_take_no_amount_and_amount_duties_read_back_in_their_targets_unit(ob, takes, unit):
    assert takes_amount(ob) is takes
    assert amount_unit(ob) == unit
