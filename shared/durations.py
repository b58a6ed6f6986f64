"""Go ``time.ParseDuration`` for the duration strings KLT accepts (klt-facts §1.7, §1.9, §1.11, §1.12).

KLT validates ``timeout``, ``retryInterval``, ``observabilityTimeout`` and a KeptnMetric's
``range.interval``/``range.step`` with Go's parser, so ``"5mins"`` is an error there and must be one
here: klt accepts exactly the strings Go accepts and gives the same length of time.
"""

from __future__ import annotations

import re

_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # µ MICRO SIGN
    "\u03bcs": 1_000,  # μ GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_NS = (1 << 63) - 1
_ELEMENT = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")
EXPECTED = "a Go duration such as '300ms', '5s', '1.5m' or '1h30m' (units ns, us, µs, ms, s, m, h)"


class DurationError(ValueError):
    """Text that Go's ``time.ParseDuration`` would reject."""


def parse_duration_ns(text: str) -> int:
    """The duration in integer nanoseconds, exactly as Go computes it (sign allowed, as in Go)."""
    if not isinstance(text, str):
        raise DurationError(f"expected {EXPECTED}, got {text!r}")
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise DurationError(f"expected {EXPECTED}, got {text!r}")
    total = 0
    pos = 0
    while pos < len(rest):
        match = _ELEMENT.match(rest, pos)
        assert match is not None  # the pattern matches the empty string
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise DurationError(f"expected {EXPECTED}, got {text!r}")
        if not unit:
            raise DurationError(f"missing unit in duration {text!r}; expected {EXPECTED}")
        if unit not in _UNITS_NS:
            raise DurationError(f"unknown unit {unit!r} in duration {text!r}; expected {EXPECTED}")
        scale = _UNITS_NS[unit]
        value = int(whole or "0") * scale
        if fraction:
            # Go scales the fraction with integer arithmetic and truncates; so do we.
            value += int(fraction) * scale // 10 ** len(fraction)
        total += value
        if total > _MAX_NS:
            raise DurationError(f"duration {text!r} is too long (Go durations end at about 292 years)")
        pos = match.end()
    return -total if negative else total


def parse_duration(text: str) -> float:
    """The duration in seconds; raises ``DurationError`` for anything Go would reject."""
    return parse_duration_ns(text) / 1e9


def format_seconds(seconds: float) -> str:
    """A short Go-style rendering (``90.0`` → ``1m30s``) for messages."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    hours, ns = divmod(ns, 3600 * 10**9)
    minutes, ns = divmod(ns, 60 * 10**9)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if ns:
        parts.append(f"{ns / 1e9:g}s")
    return sign + "".join(parts)
