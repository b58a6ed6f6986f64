"""KLT's Event fields from a klt LifecycleEvent (klt-facts §8.3), without I/O."""

from __future__ import annotations

import re

import msgspec

from services.watcher.kube.events_mapping import event_body, event_name, kube_time, recorder_of
from shared.keptn.states import Phase
from shared.messages import LifecycleEvent
from shared.phases.reporting import NORMAL, WARNING, lifecycle_event
from tests.unit import test_kube_projection_support as samples

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _started() -> LifecycleEvent:
    return lifecycle_event(
        samples.app_version(),
        Phase.APP_PRE_DEPLOY_TASKS,
        "Started",
        NORMAL,
        "has started",
        version="1.0",
        now="2025-01-01T10:00:00Z",
    )


def test_event_of_an_app_version_is_klts() -> None:
    body = event_body(
        _started(), namespace="demo", involved_uid="uid-av", involved_resource_version="42", now="x"
    )
    assert body["reason"] == "AppPreDeployTasksStarted"
    assert body["type"] == "Normal"
    assert body["message"] == (
        "App Pre-Deployment Tasks: has started / Namespace: demo, Name: shop-1.0-6b86b273, Version: 1.0"
    )
    assert body["involvedObject"] == {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnAppVersion",
        "name": "shop-1.0-6b86b273",
        "namespace": "demo",
        "uid": "uid-av",
        "resourceVersion": "42",
    }
    assert body["source"] == {"component": "keptnappversion-controller"}
    assert body["reportingComponent"] == "keptnappversion-controller"
    assert body["metadata"]["namespace"] == "demo"
    assert body["metadata"]["annotations"] == {
        "namespace": "demo",
        "name": "shop-1.0-6b86b273",
        "phase": "AppPreDeployTasks",
        "appName": "shop",
        "appVersion": "1.0",
        "appVersionName": "shop-1.0-6b86b273",
        "traceparent": samples.TRACEPARENT,
    }
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2025-01-01T10:00:00Z"
    assert body["eventTime"] is None
    assert body["count"] == 1


def test_warning_event_of_a_task_comes_from_the_task_recorder() -> None:
    event = lifecycle_event(
        samples.task(),
        Phase.RECONCILE_TASK,
        "Failed",
        WARNING,
        "task failed",
        version="1.0",
        now="2025-01-01T10:00:00Z",
    )
    body = event_body(event, namespace="demo", now="2025-01-01T10:00:01Z")
    assert body["type"] == "Warning"
    assert body["source"]["component"] == "keptntask-controller"
    assert "uid" not in body["involvedObject"]
    assert body["metadata"]["annotations"]["taskDefinitionName"] == "check"


def test_recorder_names_are_klts() -> None:
    assert recorder_of("KeptnWorkloadVersion") == "keptnworkloadversion-controller"
    assert recorder_of("KeptnEvaluation") == "keptnevaluation-controller"
    assert recorder_of("Pod") == "keptn/webhook"


def test_event_name_is_deterministic_valid_and_distinct() -> None:
    first = _started()
    again = msgspec.structs.replace(first, timestamp="2025-01-01T11:00:00Z")
    other = msgspec.structs.replace(first, id=first.id + ":x")
    assert event_name(first) == event_name(again)
    assert event_name(first) != event_name(other)
    name = event_name(first)
    assert name.startswith("shop-1.0-6b86b273.") and _SUBDOMAIN.match(name)
    long = msgspec.structs.replace(first, name="a" * 250 + "-b")
    assert len(event_name(long)) <= 253 and _SUBDOMAIN.match(event_name(long))


def test_timestamps_are_metav1_time() -> None:
    assert kube_time("2025-01-01T10:00:00.123456+00:00", "f") == "2025-01-01T10:00:00Z"
    assert kube_time("2025-01-01T12:00:00+02:00", "f") == "2025-01-01T10:00:00Z"
    assert kube_time("", "fallback") == "fallback"
    assert kube_time("yesterday", "fallback") == "fallback"
