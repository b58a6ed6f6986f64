"""KLT's CloudEvents (klt-facts §8.4) from lifecycle facts: headers, data, and which endpoint is current."""

from __future__ import annotations

import json

from services.watcher.cloudevents import Endpoints, reported_version, to_cloudevent
from shared.keptn.lifecycle import KeptnAppVersion, KeptnAppVersionSpec, KeptnTask, KeptnTaskSpec
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnConfig, KeptnConfigSpec
from shared.keptn.states import CheckType, Phase
from shared.phases.reporting import NORMAL, WARNING, lifecycle_event

NOW = "2026-01-02T03:04:05Z"


def _app_version() -> KeptnAppVersion:
    return KeptnAppVersion(
        metadata=ObjectMeta(name="shop-1.0-6b86b273", namespace="demo", uid="u-1"),
        spec=KeptnAppVersionSpec(app_name="shop", version="1.0"),
    )


def test_binary_mode_headers_and_data_of_an_app_phase_start() -> None:
    fact = lifecycle_event(
        _app_version(), Phase.APP_PRE_DEPLOY_TASKS, "Started", NORMAL, "has started", version="1.0", now=NOW
    )

    request = to_cloudevent(fact)

    assert request.headers == {
        "ce-specversion": "1.0",
        "ce-id": "u-1:AppPreDeployTasksStarted",
        "ce-source": "keptn.sh",
        "ce-type": "App Pre-Deployment Tasks.Started",
        "ce-time": NOW,
        "content-type": "application/json",
    }
    assert json.loads(request.body) == {
        "message": (
            "App Pre-Deployment Tasks: has started / Namespace: demo, Name: shop-1.0-6b86b273, Version: 1.0"
        ),
        "type": "Normal",
        "version": "1.0",
        "resource": {
            "group": "lifecycle.keptn.sh",
            "kind": "KeptnAppVersion",
            "version": "v1",
            "name": "shop-1.0-6b86b273",
            "namespace": "demo",
        },
    }


def test_a_warning_about_a_task_names_the_task_and_its_parents_version() -> None:
    task = KeptnTask(
        metadata=ObjectMeta(name="pre-check-1", namespace="demo", uid="t-1"),
        spec=KeptnTaskSpec(task_definition="check", check_type=CheckType.PRE),
    )
    fact = lifecycle_event(
        task, Phase.APP_PRE_DEPLOY_TASKS, "Failed", WARNING, "task failed", version="2.1", now=NOW, detail="x"
    )

    request = to_cloudevent(fact)
    data = json.loads(request.body)

    assert request.headers["ce-type"] == "App Pre-Deployment Tasks.Failed"
    assert request.headers["ce-id"] == "t-1:AppPreDeployTasksFailed:x"
    assert data["type"] == "Warning"
    assert data["version"] == "2.1"
    assert data["resource"]["kind"] == "KeptnTask"
    assert data["resource"]["name"] == "pre-check-1"


def test_no_version_when_klt_passes_none() -> None:
    fact = lifecycle_event(
        _app_version(), Phase.APP_DEPLOY, "Succeeded", NORMAL, "has succeeded", version="", now=""
    )

    request = to_cloudevent(fact)

    assert json.loads(request.body)["version"] == ""
    assert reported_version(fact) == ""
    assert "ce-time" not in request.headers


def _config(endpoint: str) -> KeptnConfig:
    return KeptnConfig(
        metadata=ObjectMeta(name="c", namespace="keptn"), spec=KeptnConfigSpec(cloud_events_endpoint=endpoint)
    )


def test_the_keptnconfig_changed_last_gives_the_endpoint() -> None:
    endpoints = Endpoints()
    assert endpoints.current == ""

    endpoints.put("keptnconfig.keptn.a", _config("http://a/"))
    endpoints.put("keptnconfig.keptn.b", _config("http://b/"))
    assert endpoints.current == "http://b/"

    endpoints.put("keptnconfig.keptn.a", _config("http://a2/"))
    assert endpoints.current == "http://a2/"

    endpoints.delete("keptnconfig.keptn.a")
    assert endpoints.current == "http://b/"

    endpoints.put("keptnconfig.keptn.b", _config(""))
    assert endpoints.current == ""  # the current config turned CloudEvents off
