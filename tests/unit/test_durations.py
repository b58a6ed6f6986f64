"""Go ``time.ParseDuration`` semantics for KLT's duration fields."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.durations import DurationError, format_seconds, parse_duration, parse_duration_ns


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("300ms", 0.3),
        ("1.5s", 1.5),
        ("0", 0.0),
        ("0s", 0.0),
        ("10us", 10e-6),
        ("10µs", 10e-6),
        ("10μs", 10e-6),
        ("7ns", 7e-9),
        (".5s", 0.5),
        ("2.h", 7200.0),
        ("1h1m1s1ms", 3661.001),
        ("-1.5m", -90.0),
        ("+5s", 5.0),
    ],
)
def test_go_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["5mins", "1mins", "", "5", "1d", "s", ".s", "5 m", " 5m", "5m ", "1h 30m", "--5s", "0x", "1e3s"]
)
def test_what_go_rejects_is_rejected(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


def test_the_error_says_what_is_expected() -> None:
    with pytest.raises(DurationError, match=r"unknown unit 'mins'.*units ns, us, µs, ms, s, m, h"):
        parse_duration("5mins")
    with pytest.raises(DurationError, match="missing unit"):
        parse_duration("5")


def test_fractions_are_exact_in_nanoseconds() -> None:
    assert parse_duration_ns("1.000000001s") == 1_000_000_001
    assert parse_duration_ns("0.1ns") == 0  # Go truncates below a nanosecond


def test_overflow_is_an_error() -> None:
    with pytest.raises(DurationError, match="too long"):
        parse_duration("3000000h")


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=59))
def test_compound_durations_add_up(minutes: int, seconds: int) -> None:
    assert parse_duration(f"{minutes}m{seconds}s") == minutes * 60 + seconds


def test_format_seconds_renders_go_style() -> None:
    assert format_seconds(90) == "1m30s"
    assert format_seconds(0) == "0s"
    assert format_seconds(3600.5) == "1h0.5s"
