"""What the metrics-provider stores per KeptnMetric: KLT's ``status`` (§1.12) and how a fetch updates it.

The value in the metrics bucket is shaped like KLT's KeptnMetric status, so ``klt get`` and the evaluator
read the same fields a KLT user knows, plus the name of the provider that produced it. The update rules
are KLT's (§6.1 step 5): with ``range.storedResults > 0`` each fetch is appended to ``intervalResults``
(a FIFO of at most ``storedResults`` entries) and ``value`` is left alone; otherwise an error sets
``errMsg`` and keeps the last good value, and a success replaces value and raw value and clears ``errMsg``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import msgspec

from shared.keptn.resources import MetricRange

RAW_VALUE_MAX_BYTES = 1 << 20
"""KLT cuts ``rawValue`` at 1 MiB (its ``cupSize``)."""


class IntervalResult(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """One fetch kept in ``storedResults`` mode: a value with the range that produced it, or an error."""

    value: str = ""
    range: MetricRange | None = None
    last_updated: str = ""
    err_msg: str = ""


class MetricStatus(msgspec.Struct, kw_only=True, rename="camel"):
    """KLT's KeptnMetric ``status`` (``rawValue`` is base64 in JSON, as Kubernetes writes ``[]byte``)."""

    value: str = ""
    raw_value: bytes = b""
    last_updated: str = ""
    err_msg: str = ""
    interval_results: list[IntervalResult] = msgspec.field(default_factory=list)
    provider: str = ""
    """klt addition: the KeptnMetricsProvider the value came from."""


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """The result of asking a provider once: a value and its raw form, or an error message."""

    value: str = ""
    raw: bytes = b""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def cap_raw(raw: bytes, limit: int = RAW_VALUE_MAX_BYTES) -> bytes:
    """Keep at most ``limit`` bytes of a raw provider answer."""
    return raw[:limit]


def apply_outcome(
    previous: MetricStatus | None,
    outcome: FetchOutcome,
    metric_range: MetricRange | None,
    provider: str,
    now: str,
) -> MetricStatus:
    """The status after one fetch (§6.1 step 5 and 6): pure, so the FIFO and error rules are unit-tested."""
    status = msgspec.structs.replace(previous) if previous is not None else MetricStatus()
    status.interval_results = list(status.interval_results)
    if metric_range is not None and metric_range.stored_results > 0:
        if outcome.ok:
            entry = IntervalResult(value=outcome.value, range=metric_range, last_updated=now)
        else:
            entry = IntervalResult(err_msg=outcome.error, last_updated=now)
        status.interval_results.append(entry)
        del status.interval_results[: max(0, len(status.interval_results) - metric_range.stored_results)]
    elif outcome.ok:
        status.value = outcome.value
        status.raw_value = cap_raw(outcome.raw)
        status.err_msg = ""
    else:
        status.err_msg = outcome.error
    status.last_updated = now
    status.provider = provider
    return status


status_encoder = msgspec.json.Encoder()
status_decoder = msgspec.json.Decoder(MetricStatus)


def encode_for_storage(status: MetricStatus, max_bytes: int) -> bytes:
    """Encode ``status`` so it fits a KV value of ``max_bytes``: base64 makes a 1 MiB raw value ~1.4 MiB,
    so when needed the raw value is cut further (the value and error are never cut)."""
    encoded = status_encoder.encode(status)
    if len(encoded) <= max_bytes:
        return encoded
    without_raw = len(encoded) - len(base64.b64encode(status.raw_value))
    budget = max(0, (max_bytes - without_raw - 16) * 3 // 4)
    return status_encoder.encode(msgspec.structs.replace(status, raw_value=status.raw_value[:budget]))


def decode_status(data: bytes) -> MetricStatus:
    """Decode a stored status; raises ``msgspec.DecodeError`` on a corrupt entry."""
    return status_decoder.decode(data)
