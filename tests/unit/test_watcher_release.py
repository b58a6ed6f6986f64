"""The release step's deadline counts from the deploy phase's start, also after a watcher restart."""

from __future__ import annotations

import datetime as dt

import pytest

from services.watcher.deploying import Release
from shared.keptn.lifecycle import KeptnWorkloadVersion, KeptnWorkloadVersionSpec, ResourceReference
from shared.keptn.meta import ObjectMeta


def _kwv(started_seconds_ago: float | None) -> KeptnWorkloadVersion:
    kwv = KeptnWorkloadVersion(
        metadata=ObjectMeta(name="shop-web-1.0", namespace="demo"),
        spec=KeptnWorkloadVersionSpec(
            app="shop",
            version="1.0",
            workload_name="shop-web",
            resource_reference=ResourceReference(kind="Deployment", name="web"),
        ),
    )
    if started_seconds_ago is not None:
        started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=started_seconds_ago)
        kwv.status.deployment_start_time = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    return kwv


def test_a_fresh_release_gets_the_whole_observability_timeout() -> None:
    release = Release.of(_kwv(None), 300.0)
    assert release.timeout_s == 300.0
    assert release.workload == "web"


def test_a_restarted_release_keeps_the_original_deadline() -> None:
    assert Release.of(_kwv(100), 300.0).timeout_s == pytest.approx(200.0, abs=2.0)


def test_a_release_past_its_deadline_has_no_time_left() -> None:
    assert Release.of(_kwv(400), 300.0).timeout_s == 0.0
