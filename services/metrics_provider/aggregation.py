"""Aggregating the values of a step query, and writing floats the way KLT's Go code prints them (§6.1).

KLT aggregates with its own small functions, and one of them is surprising on purpose of compatibility:
percentiles take the values **in the order received, without sorting** (klt-facts §12). The result is
printed with Go's ``%v``, so a user comparing klt with KLT sees the same strings (``4``, not ``4.0``;
``1.5e+06``, not ``1500000.0``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from shared.targets import NotANumberError, parse_go_float

AGGREGATIONS = ("max", "min", "avg", "median", "p90", "p95", "p99")
"""The values KLT's validating webhook allows for ``spec.range.aggregation`` (§1.12)."""


class AggregationError(ValueError):
    """The aggregation is not one KLT knows, or a value is not a number."""


def _maximum(values: Sequence[float]) -> float:
    # A plain loop, as KLT's: a leading NaN stays the result, a later NaN is never "greater".
    best = values[0]
    for value in values:
        if value > best:
            best = value
    return best


def _minimum(values: Sequence[float]) -> float:
    best = values[0]
    for value in values:
        if value < best:
            best = value
    return best


def _average(values: Sequence[float]) -> float:
    total = 0.0
    for value in values:
        total += value
    return total / len(values)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2 == 0:
        return (ordered[middle - 1] + ordered[middle]) / 2
    return ordered[middle]


def percentile(values: Sequence[float], pct: float) -> float:
    """KLT's percentile: ``values[ceil(len * pct / 100) - 1]`` on the values as received (no sorting)."""
    if not values:
        return 0.0
    index = math.ceil(float(len(values)) * pct / 100)
    return values[int(index - 1)]


def aggregate(values: Sequence[float], how: str) -> float:
    """Aggregate ``values`` with one of ``AGGREGATIONS``; an empty list gives 0 (as KLT)."""
    if how not in AGGREGATIONS:
        raise AggregationError(f"aggregation '{how}' is not supported (use one of {', '.join(AGGREGATIONS)})")
    if not values:
        return 0.0
    if how == "max":
        return _maximum(values)
    if how == "min":
        return _minimum(values)
    if how == "avg":
        return _average(values)
    if how == "median":
        return _median(values)
    return percentile(values, float(how[1:]))


def parse_value(text: str) -> float:
    """Parse a provider value as Go's ``strconv.ParseFloat`` does (KLT's ``stringSliceToFloatSlice``)."""
    try:
        return parse_go_float(text)
    except NotANumberError as exc:
        raise AggregationError(f"value '{text}' is not a number") from exc


def aggregate_strings(values: Sequence[str], how: str) -> str:
    """Parse, aggregate and print with Go's ``%v`` — the whole of KLT's ``aggregateValues``."""
    return go_float(aggregate([parse_value(v) for v in values], how))


def go_float(value: float) -> str:
    """Format ``value`` as Go's ``fmt.Sprintf("%v", float64)``: shortest digits that round-trip, plain
    notation for decimal exponents -4..5 and ``d.ddde±XX`` otherwise (``1e+06``, ``1.5e-05``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # position of the decimal point relative to the digits
    prefix = "-" if sign else ""
    decimal_exponent = point - 1
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        sign_char = "-" if decimal_exponent < 0 else "+"
        return f"{prefix}{mantissa}e{sign_char}{abs(decimal_exponent):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{prefix}{digits}{'0' * (point - len(digits))}"
    return f"{prefix}{digits[:point]}.{digits[point:]}"
