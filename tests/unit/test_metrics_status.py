"""How one fetch changes a KeptnMetric's stored status (§6.1 step 5), including the storedResults FIFO."""

from __future__ import annotations

import msgspec

from services.metrics_provider.status import (
    RAW_VALUE_MAX_BYTES,
    FetchOutcome,
    MetricStatus,
    apply_outcome,
    decode_status,
    encode_for_storage,
)
from shared.keptn.resources import MetricRange


def test_success_sets_value_and_raw_and_clears_the_error() -> None:
    before = MetricStatus(value="1", raw_value=b'"1"', err_msg="old failure", last_updated="t0")
    after = apply_outcome(before, FetchOutcome(value="2", raw=b'"2"'), None, "prom", "t1")
    assert (after.value, after.raw_value, after.err_msg, after.last_updated) == ("2", b'"2"', "", "t1")
    assert after.provider == "prom"
    assert before.value == "1"  # the previous status is not modified


def test_error_keeps_the_last_good_value() -> None:
    before = MetricStatus(value="2", raw_value=b'"2"', last_updated="t0")
    after = apply_outcome(before, FetchOutcome(error="no values in query result"), None, "prom", "t1")
    assert (after.value, after.raw_value) == ("2", b'"2"')
    assert after.err_msg == "no values in query result"
    assert after.last_updated == "t1"


def test_first_fetch_failing_leaves_an_empty_value() -> None:
    after = apply_outcome(None, FetchOutcome(error="provider x not supported"), None, "x", "t1")
    assert after.value == ""
    assert after.err_msg == "provider x not supported"


def test_raw_value_is_capped_at_one_mebibyte() -> None:
    raw = b"x" * (RAW_VALUE_MAX_BYTES + 10)
    after = apply_outcome(None, FetchOutcome(value="1", raw=raw), None, "p", "t")
    assert len(after.raw_value) == RAW_VALUE_MAX_BYTES


def test_stored_results_is_a_fifo_and_leaves_value_alone() -> None:
    metric_range = MetricRange(interval="5m", step="1m", aggregation="max", stored_results=2)
    status = MetricStatus(value="keep", raw_value=b"r")
    status = apply_outcome(status, FetchOutcome(value="1"), metric_range, "p", "t1")
    status = apply_outcome(status, FetchOutcome(error="boom"), metric_range, "p", "t2")
    status = apply_outcome(status, FetchOutcome(value="3"), metric_range, "p", "t3")
    assert status.value == "keep"
    assert status.raw_value == b"r"
    assert [(r.value, r.err_msg, r.last_updated) for r in status.interval_results] == [
        ("", "boom", "t2"),
        ("3", "", "t3"),
    ]
    assert status.interval_results[1].range == metric_range
    assert status.interval_results[0].range is None  # an error entry carries no range, as KLT's


def test_status_json_has_klt_field_names_and_base64_raw() -> None:
    status = MetricStatus(value="2", raw_value=b'"2"', last_updated="2024-01-01T00:00:00Z", provider="p")
    body = msgspec.json.decode(msgspec.json.encode(status))
    assert body["value"] == "2"
    assert body["rawValue"] == "IjIi"
    assert set(body) == {"value", "rawValue", "lastUpdated", "errMsg", "intervalResults", "provider"}


def test_encode_for_storage_trims_raw_to_fit_the_bucket() -> None:
    status = MetricStatus(value="1", raw_value=b"y" * RAW_VALUE_MAX_BYTES)
    encoded = encode_for_storage(status, 1024 * 1024)
    assert len(encoded) <= 1024 * 1024
    decoded = decode_status(encoded)
    assert decoded.value == "1"
    assert 0 < len(decoded.raw_value) < RAW_VALUE_MAX_BYTES
