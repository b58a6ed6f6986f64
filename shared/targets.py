"""Evaluation targets: KLT's ``<N`` / ``>N`` and klt's ``<=N``, ``>=N``, ``==N``, ``!=N`` (klt-facts §5,
DESIGN §6, KLT issue #1758).

KLT reads the first character as the operator and parses the rest with Go's ``strconv.ParseFloat``;
every target KLT accepts means the same here. klt adds the two-character operators and, because KLT
rejects them, whitespace around the operator and the number (``"> 5"``, ``" >5 "``): accepting
something KLT refuses cannot change the meaning of a manifest that works with KLT.

Messages on a check are KLT's: ``value '<v>' met objective '<target>'`` and
``value '<v>' did not meet objective '<target>'``, with the target as the user wrote it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

EXPECTED = "'<N', '>N', '<=N', '>=N', '==N' or '!=N'"

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:_\d+)*\.?(?:\d+(?:_\d+)*)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+(?:_\d+)*)?")
_HEX = re.compile(r"[+-]?0[xX](?:_?[0-9a-fA-F])*(?:\.(?:[0-9a-fA-F]_?)*)?[pP][+-]?\d+")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


class TargetError(ValueError):
    """An ``evaluationTarget`` that is none of the accepted forms."""

    def __init__(self, text: str, reason: str = "") -> None:
        self.text = text
        self.expected = EXPECTED
        detail = f" ({reason})" if reason else ""
        super().__init__(f"expected {EXPECTED}, got {text!r}{detail}")


class NotANumberError(ValueError):
    """Text that Go's ``strconv.ParseFloat`` would not parse."""


def parse_go_float(text: str) -> float:
    """A float exactly where Go's ``strconv.ParseFloat(text, 64)`` gives one without error.

    Python's ``float()`` is laxer (surrounding whitespace, ``1_0``) so the syntax is checked first;
    a finite literal beyond float64 range is an error, as Go reports ``ErrRange``."""
    if _SPECIAL.fullmatch(text):
        return float(text)
    if _HEX.fullmatch(text):
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("+-").replace("_", "")
        try:
            return sign * float.fromhex(body)
        except OverflowError as exc:
            raise NotANumberError(f"{text!r} is out of range") from exc
    if _DECIMAL.fullmatch(text) and "_" not in text:
        value = float(text)
        if math.isinf(value):
            raise NotANumberError(f"{text!r} is out of range")
        return value
    raise NotANumberError(f"{text!r} is not a number")


@dataclass(frozen=True)
class Target:
    """A parsed ``evaluationTarget``: ``text`` as written, its operator and threshold."""

    text: str
    operator: str
    threshold: float
    _compare: Callable[[float, float], bool] = field(repr=False, compare=False)

    def check(self, value: str) -> tuple[bool, str]:
        """Does the metric ``value`` (a KeptnMetric ``status.value`` string) meet this target?

        A NaN value never meets it (as in KLT, where every comparison with NaN is false); a value
        that is not a number is a miss with a message saying so."""
        try:
            number = parse_go_float(value)
        except NotANumberError:
            return False, f"value '{value}' is not a number, so it did not meet objective '{self.text}'"
        if self._compare(number, self.threshold) and not math.isnan(number):
            return True, f"value '{value}' met objective '{self.text}'"
        return False, f"value '{value}' did not meet objective '{self.text}'"


def parse_target(text: str) -> Target:
    """Parse an ``evaluationTarget``; raises ``TargetError`` naming the accepted forms."""
    if not isinstance(text, str):
        raise TargetError(str(text))
    stripped = text.strip()
    for symbol, compare in _OPERATORS.items():  # two-character operators are tried first
        if stripped.startswith(symbol):
            operand = stripped[len(symbol) :].strip()
            if not operand:
                raise TargetError(text, "no number after the operator")
            try:
                threshold = parse_go_float(operand)
            except NotANumberError as exc:
                raise TargetError(text, str(exc)) from None
            return Target(text=text, operator=symbol, threshold=threshold, _compare=compare)
    raise TargetError(text)
