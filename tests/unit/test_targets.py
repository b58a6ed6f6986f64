"""Evaluation targets: KLT's strict ``<``/``>`` plus klt's comparison operators (KLT #1758)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.targets import EXPECTED, NotANumberError, TargetError, parse_go_float, parse_target


@pytest.mark.parametrize(
    ("target", "value", "met"),
    [
        (">4", "8", True),
        (">4", "4", False),
        ("<4", "3.99", True),
        ("<4", "4", False),
        ("<=4", "4", True),
        (">=4", "4", True),
        (">=4", "3", False),
        ("==4", "4.0", True),
        ("!=4", "4", False),
        ("!=4", "5", True),
        ("<-1", "-2", True),
        ("<0.01", "0.005", True),
        (">1e3", "1001", True),
        ("<+Inf", "1e300", True),
    ],
)
def test_targets_compare_like_their_operator(target: str, value: str, met: bool) -> None:
    assert parse_target(target).check(value)[0] is met


def test_messages_are_klts_and_keep_the_target_as_written() -> None:
    assert parse_target(">4").check("8") == (True, "value '8' met objective '>4'")
    assert parse_target(">4").check("2") == (False, "value '2' did not meet objective '>4'")
    assert parse_target(" >= 4 ").check("2") == (False, "value '2' did not meet objective ' >= 4 '")


def test_nan_never_meets_a_target() -> None:
    for target in (">4", "<4", "!=4", "==4", "<=4"):
        assert parse_target(target).check("NaN")[0] is False


def test_a_value_that_is_not_a_number_is_a_clear_miss() -> None:
    met, message = parse_target(">4").check("n/a")
    assert not met
    assert message == "value 'n/a' is not a number, so it did not meet objective '>4'"
    assert parse_target(">4").check("")[0] is False
    assert parse_target(">4").check(" 5")[0] is False  # Go's ParseFloat rejects spaces too


@pytest.mark.parametrize(
    "text", ["=>4", "=<4", "4", "", ">", "<=", "> x", ">4 apples", "~4", ">1_000", ">1e400"]
)
def test_bad_targets_name_the_accepted_forms(text: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(text)
    assert str(caught.value).startswith(f"expected {EXPECTED}, got {text!r}")
    assert caught.value.expected == EXPECTED


def test_the_error_text_matches_the_manifest_error_format() -> None:
    with pytest.raises(TargetError) as caught:
        parse_target("=>4")
    assert str(caught.value) == "expected '<N', '>N', '<=N', '>=N', '==N' or '!=N', got '=>4'"


def test_whitespace_is_accepted_since_klt_rejects_it() -> None:
    assert parse_target("> 5").threshold == 5
    assert parse_target(" <= 5 ").operator == "<="


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_every_target_klt_accepts_keeps_its_meaning(threshold: float, value: float) -> None:
    # KLT: first character is the operator, the rest is ParseFloat'ed; strict comparison.
    for op, expected in (("<", value < threshold), (">", value > threshold)):
        target = parse_target(f"{op}{threshold!r}")
        assert target.operator == op
        assert target.check(repr(value))[0] is expected


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1.0),
        ("-2.5", -2.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("1E-3", 0.001),
        ("0x1p-2", 0.25),
        ("+Inf", math.inf),
    ],
)
def test_go_float_syntax(text: str, number: float) -> None:
    assert parse_go_float(text) == number


@pytest.mark.parametrize("text", ["", " 1", "1 ", "1_0", "0x10", "1e", "abc", "1,5", "1e400"])
def test_go_float_rejects(text: str) -> None:
    with pytest.raises(NotANumberError):
        parse_go_float(text)
