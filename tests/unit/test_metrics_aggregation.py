"""Aggregation of step-query values and Go-style float printing, as KLT does them (§6.1, §12)."""

from __future__ import annotations

import math

import pytest

from services.metrics_provider.aggregation import (
    AggregationError,
    aggregate,
    aggregate_strings,
    go_float,
    percentile,
)


def test_percentiles_take_values_in_received_order_without_sorting() -> None:
    values = [9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0, 10.0]
    # ceil(10 * 90 / 100) - 1 = index 8 of the unsorted list; sorted data would give 9.
    assert aggregate(values, "p90") == 5.0
    assert aggregate(values, "p95") == 10.0  # ceil(9.5) - 1 = 9
    assert aggregate(values, "p99") == 10.0
    assert percentile([3.0], 90) == 3.0
    assert percentile([5.0, 1.0], 50) == 5.0  # ceil(1.0) - 1 = 0


def test_percentile_index_matches_go_float_arithmetic() -> None:
    # len * pct / 100 evaluated left to right in float64, as KLT's math.Ceil(float64(len)*perc/100).
    values = [float(i) for i in range(20)]
    assert aggregate(values, "p95") == 18.0  # ceil(19.0) - 1
    values = [float(i) for i in range(7)]
    assert aggregate(values, "p90") == 6.0  # ceil(6.3) - 1


def test_max_min_avg_median() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert aggregate(values, "max") == 4.0
    assert aggregate(values, "min") == 1.0
    assert aggregate(values, "avg") == 2.5
    assert aggregate(values, "median") == 2.5  # the mean of the two middle values (sorted)
    assert aggregate([5.0, 1.0, 3.0], "median") == 3.0


def test_empty_list_gives_zero_and_unknown_aggregation_is_an_error() -> None:
    for how in ("max", "min", "avg", "median", "p90"):
        assert aggregate([], how) == 0.0
    with pytest.raises(AggregationError, match="aggregation 'p50' is not supported"):
        aggregate([1.0], "p50")


def test_nan_follows_the_plain_loop_semantics() -> None:
    assert math.isnan(aggregate([math.nan, 1.0, 2.0], "max"))
    assert aggregate([1.0, math.nan, 2.0], "max") == 2.0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (2.5, "2.5"),
        (-3.25, "-3.25"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-5, "1.5e-05"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e100, "1e+100"),
        (0.0, "0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_go_float_prints_like_go_percent_v(value: float, text: str) -> None:
    assert go_float(value) == text


def test_aggregate_strings_parses_like_go_and_prints_like_go() -> None:
    assert aggregate_strings(["1", "4", "2.5"], "max") == "4"
    assert aggregate_strings(["1", "2"], "avg") == "1.5"
    with pytest.raises(AggregationError, match="value ' 1' is not a number"):
        aggregate_strings([" 1"], "max")
