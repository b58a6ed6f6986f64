"""The pure half of the projection: stored object → CR parts, owners, and the smallest patches."""

from __future__ import annotations

import aiohttp
import msgspec
import pytest
from kubernetes_asyncio.client import ApiException

from services.watcher.kube.projection import key_of_entry
from services.watcher.kube.projection_api import (
    KubeConflict,
    KubeNotFound,
    KubeRejected,
    KubeUnavailable,
    wrapped,
)
from services.watcher.kube.projection_mapping import (
    OwnerLink,
    create_body,
    is_projected,
    merge_patch,
    metadata_patch,
    project,
    spec_patch,
    status_patch,
)
from shared.keptn.states import KeptnState
from shared.subjects import object_key
from tests.unit import test_kube_projection_support as samples


def test_app_version_spec_and_status_go_to_their_parts() -> None:
    p = project(samples.app_version())
    assert (p.kind, p.plural, p.namespace, p.name) == (
        "KeptnAppVersion",
        "keptnappversions",
        "demo",
        "shop-1.0-6b86b273",
    )
    assert p.spec is not None
    assert p.spec["appName"] == "shop"
    assert p.spec["workloads"] == [{"name": "web", "version": "0.4"}]
    assert "status" not in p.spec and "currentPhase" not in p.spec
    assert p.status["currentPhase"] == "AppPreDeployTasks"
    assert p.status["status"] == "Progressing"
    assert p.status["preDeploymentTaskStatus"][0]["name"] == "pre-deployment-check-12345"
    assert p.annotations == {"traceparent": samples.TRACEPARENT}


def test_create_body_has_no_status_and_carries_owners() -> None:
    p = project(samples.task())
    ref = p.owners[0].reference("cluster-uid-1")
    body = create_body(p, [ref])
    assert body["apiVersion"] == "lifecycle.keptn.sh/v1"
    assert body["kind"] == "KeptnTask"
    assert "status" not in body
    assert body["metadata"] == {
        "name": "pre-deployment-check-12345",
        "namespace": "demo",
        "labels": {"team": "shop"},
        "ownerReferences": [
            {
                "apiVersion": "lifecycle.keptn.sh/v1",
                "kind": "KeptnAppVersion",
                "name": "shop-1.0-6b86b273",
                "uid": "cluster-uid-1",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    assert body["spec"]["taskDefinition"] == "check"
    assert body["spec"]["context"]["objectType"] == "App"


@pytest.mark.parametrize(
    ("obj", "owner_kind"),
    [
        (samples.app_version(), "KeptnApp"),
        (samples.workload_version(), "KeptnWorkload"),
        (samples.task(), "KeptnAppVersion"),
        (samples.evaluation(), "KeptnWorkloadVersion"),
    ],
)
def test_lifecycle_owners_are_controller_references_by_name(obj: object, owner_kind: str) -> None:
    (link,) = project(obj).owners  # type: ignore[arg-type]
    assert link.kind == owner_kind
    assert link.controller
    assert link.api_version == "lifecycle.keptn.sh/v1"


def test_workload_is_owned_by_its_resource_reference_not_as_controller() -> None:
    (link,) = project(samples.workload(rs_uid="rs-uid")).owners
    assert link == OwnerLink("apps/v1", "ReplicaSet", "web-5d8f", controller=False, uid_hint="rs-uid")
    assert link.plural == "replicasets"
    assert link.group_version == ("apps", "v1")
    assert link.reference("rs-uid") == {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-5d8f",
        "uid": "rs-uid",
    }


def test_auto_created_app_is_managed_and_user_app_only_gets_its_status() -> None:
    auto = project(samples.app())
    assert auto.managed
    assert auto.spec == {"version": "1.0", "revision": 1, "workloads": [{"name": "web", "version": "0.4"}]}
    assert auto.labels == {"app.kubernetes.io/managed-by": "keptn"}
    assert auto.status == {"currentVersion": "1.0"}
    user = project(samples.app(managed=False, version="2.0"))
    assert not user.managed
    assert user.spec is None
    live = {"metadata": {"name": "shop", "labels": {"team": "x"}}, "spec": {"version": "9"}}
    assert spec_patch(user, live) is None
    assert metadata_patch(user, live, []) is None
    assert status_patch(user, live) == {"currentVersion": "2.0"}


def test_merge_patch_sets_changes_and_removes_what_is_gone() -> None:
    live = {"a": 1, "b": {"c": 1, "d": 2}, "l": [1, 2], "gone": "x", "n": None}
    desired = {"a": 1, "b": {"c": 3}, "l": [1], "new": {"k": "v"}, "n": None, "z": None}
    assert merge_patch(live, desired) == {"b": {"c": 3, "d": None}, "l": [1], "new": {"k": "v"}, "gone": None}
    assert merge_patch(desired, desired) == {}


def test_server_defaults_and_unknown_fields_are_no_difference() -> None:
    p = project(samples.task())
    assert p.spec is not None
    live = {"spec": {**p.spec, "retries": 10, "timeout": "5m", "parameters": {}, "fieldKltDoesNotKnow": 1}}
    assert spec_patch(p, live) is None
    live["spec"]["retries"] = 3
    assert spec_patch(p, live) == {"retries": 10, "parameters": None, "fieldKltDoesNotKnow": None}


def test_spec_writes_valued_defaults_and_leaves_out_empty_ones() -> None:
    spec = project(samples.task()).spec
    assert spec is not None
    assert spec["retries"] == 10
    assert spec["timeout"] == "5m"
    assert "parameters" not in spec and "secureParameters" not in spec
    # KEPTN_CONTEXT's first six fields are always written, even when empty (§1.8).
    assert list(spec["context"]) == [
        "workloadName",
        "appName",
        "appVersion",
        "workloadVersion",
        "taskType",
        "objectType",
    ]
    app_spec = project(samples.app()).spec
    assert app_spec is not None and app_spec["revision"] == 1
    av_spec = project(samples.app_version()).spec
    assert av_spec is not None
    assert (
        "previousVersion" not in av_spec and "traceId" not in av_spec and "postDeploymentTasks" not in av_spec
    )


def test_status_patch_only_when_different() -> None:
    p = project(samples.app_version())
    live_status = msgspec.to_builtins(samples.app_version().status)
    live_status = {k: v for k, v in live_status.items() if v is not None}  # the server drops nulls
    assert status_patch(p, {"status": live_status}) is None
    newer = project(samples.app_version(status=KeptnState.SUCCEEDED))
    patch = status_patch(newer, {"status": live_status})
    assert patch is not None
    assert patch["status"] == "Succeeded"
    assert patch["preDeploymentStatus"] == "Succeeded"
    assert patch["preDeploymentTaskStatus"][0]["status"] == "Succeeded"
    assert "currentPhase" not in patch


def test_metadata_patch_adds_klt_labels_keeps_others_and_fixes_owners() -> None:
    p = project(samples.task())
    ref = p.owners[0].reference("uid-1")
    live = {"metadata": {"labels": {"team": "shop", "mine": "yes"}, "ownerReferences": [ref]}}
    assert metadata_patch(p, live, [ref]) is None
    live = {"metadata": {"labels": {"team": "other"}}}
    assert metadata_patch(p, live, [ref]) == {"labels": {"team": "shop"}, "ownerReferences": [ref]}


def test_only_crs_klt_writes_are_orphans() -> None:
    owned = {"metadata": {"ownerReferences": [{"kind": "KeptnWorkloadVersion", "name": "x", "uid": "u"}]}}
    assert is_projected("KeptnTask", owned)
    assert is_projected("KeptnEvaluation", owned)
    assert not is_projected("KeptnTask", {"metadata": {"name": "standalone"}})
    assert is_projected("KeptnApp", {"metadata": {"labels": {"app.kubernetes.io/managed-by": "keptn"}}})
    assert not is_projected("KeptnApp", {"metadata": {"labels": {}}})
    assert is_projected("KeptnAppVersion", {"metadata": {}})
    assert not is_projected("KeptnTaskDefinition", {"metadata": {}})


def test_state_keys_map_back_to_objects() -> None:
    assert key_of_entry(object_key("KeptnWorkloadVersion", "demo", "shop-web-0.4")) == (
        "KeptnWorkloadVersion",
        "demo",
        "shop-web-0.4",
    )
    assert key_of_entry("keptntaskdefinition.demo.x") is None
    assert key_of_entry("garbage") is None


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ApiException(status=404, reason="Not Found"), KubeNotFound),
        (ApiException(status=409, reason="Conflict"), KubeConflict),
        (ApiException(status=503, reason="Service Unavailable"), KubeUnavailable),
        (ApiException(status=429, reason="Too Many Requests"), KubeUnavailable),
        (ApiException(status=422, reason="Unprocessable Entity"), KubeRejected),
        (aiohttp.ClientConnectionError("refused"), KubeUnavailable),
        (TimeoutError(), KubeUnavailable),
    ],
)
def test_client_errors_are_wrapped_with_the_object_named(
    raised: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected, match="KeptnTask demo/x"), wrapped("KeptnTask demo/x"):
        raise raised
