"""The pod webhook's decisions (klt-facts §2.2): namespace opt-in, supported owners, copying the parent's
Keptn keys, the scheduling gate, the single-service app key, and the AdmissionReview answer."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from services.watcher.kube.admission import (
    NOT_ENABLED_MESSAGE,
    UNSUPPORTED_OWNER_MESSAGE,
    AdmissionError,
    AdmissionRequest,
    Decision,
    Parent,
    escape_pointer,
    mutate,
    needs_parent,
    parse_review,
    review_response,
    supported_owner,
)

ENABLED = {"keptn.sh/lifecycle-toolkit": "enabled"}
RS_OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs-uid"}


def pod(
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
    gates: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "generateName": "web-1-",
        "ownerReferences": [RS_OWNER] if owners is None else owners,
    }
    if annotations is not None:
        meta["annotations"] = annotations
    if labels is not None:
        meta["labels"] = labels
    spec: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
    if gates is not None:
        spec["schedulingGates"] = gates
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def request(the_pod: dict[str, Any], operation: str = "CREATE") -> AdmissionRequest:
    return AdmissionRequest(uid="u-1", operation=operation, namespace="shop", pod=the_pod)


def apply(patch: tuple[dict[str, Any], ...], doc: dict[str, Any]) -> dict[str, Any]:
    """A small JSON-patch applier (add only, which is all the webhook emits), unescaping pointers."""
    doc = json.loads(json.dumps(doc))
    for op in patch:
        assert op["op"] == "add"
        *parents, last = [t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]]
        target: Any = doc
        for token in parents:
            target = target[token]
        if last == "-":
            target.append(op["value"])
        else:
            target[last] = op["value"]
    return doc


def test_a_namespace_that_is_not_opted_in_is_left_alone() -> None:
    decision = mutate(request(pod({"keptn.sh/workload": "web"})), {"keptn.sh/lifecycle-toolkit": "yes"}, None)
    assert decision == Decision(message=NOT_ENABLED_MESSAGE)


@pytest.mark.parametrize(
    "owners",
    [[], [{"kind": "Job", "name": "j", "uid": "1"}], [{"kind": "Node", "name": "n", "uid": "1"}]],
    ids=["bare pod", "job", "other"],
)
def test_pods_without_a_supported_owner_are_left_alone(owners: list[dict[str, Any]]) -> None:
    decision = mutate(request(pod({"keptn.sh/workload": "web"}, owners=owners)), ENABLED, None)
    assert decision == Decision(message=UNSUPPORTED_OWNER_MESSAGE)


def test_the_last_supported_owner_reference_counts() -> None:
    meta = {
        "ownerReferences": [
            {"kind": "StatefulSet", "name": "a", "uid": "1"},
            {"kind": "Job", "name": "b", "uid": "2"},
            {"kind": "DaemonSet", "name": "c", "uid": "3"},
            {"kind": "Custom", "name": "d", "uid": "4"},
        ]
    }
    owner = supported_owner(meta)
    assert owner is not None and (owner.kind, owner.name, owner.uid) == ("DaemonSet", "c", "3")


def test_an_annotated_pod_is_gated_and_gets_its_workload_as_app() -> None:
    the_pod = pod({"keptn.sh/workload": "web", "keptn.sh/version": "1.0"})
    decision = mutate(request(the_pod), ENABLED, None)
    patched = apply(decision.patch, the_pod)
    assert patched["spec"]["schedulingGates"] == [{"name": "keptn-prechecks-gate"}]
    assert patched["metadata"]["annotations"] == {
        "keptn.sh/workload": "web",
        "keptn.sh/version": "1.0",
        "keptn.sh/app": "web",
    }
    assert not needs_parent(the_pod)


def test_a_pod_labelled_with_the_recommended_keys_keeps_its_app() -> None:
    the_pod = pod(labels={"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop"})
    decision = mutate(request(the_pod), ENABLED, None)
    patched = apply(decision.patch, the_pod)
    assert "annotations" not in patched["metadata"], "nothing to add: the app key is a label"
    assert patched["spec"]["schedulingGates"] == [{"name": "keptn-prechecks-gate"}]


def test_the_parents_keys_are_copied_under_their_primary_names() -> None:
    the_pod = pod(labels={"app": "web"})
    assert needs_parent(the_pod)
    parent = Parent(
        kind="Deployment",
        name="web",
        labels={"app.kubernetes.io/name": "web", "app.kubernetes.io/version": "2.1", "team": "a"},
        annotations={
            "keptn.sh/app": "shop",
            "keptn.sh/pre-deployment-tasks": "notify,check",
            "keptn.sh/post-deployment-evaluations": "slo",
            "keptn.sh/metadata": "owner=team-a",
            "deployment.kubernetes.io/revision": "3",
        },
    )
    decision = mutate(request(the_pod), ENABLED, parent)
    patched = apply(decision.patch, the_pod)
    assert patched["metadata"]["annotations"] == {
        "keptn.sh/workload": "web",
        "keptn.sh/version": "2.1",
        "keptn.sh/app": "shop",
        "keptn.sh/pre-deployment-tasks": "notify,check",
        "keptn.sh/post-deployment-evaluations": "slo",
        "keptn.sh/metadata": "owner=team-a",
    }
    assert patched["spec"]["schedulingGates"] == [{"name": "keptn-prechecks-gate"}]
    assert decision.patch[0] == {
        "op": "add",
        "path": "/metadata/annotations",
        "value": patched["metadata"]["annotations"],
    }


def test_a_parent_without_a_workload_key_copies_nothing() -> None:
    the_pod = pod({"other": "x"})
    parent = Parent(kind="StatefulSet", name="db", annotations={"keptn.sh/version": "1"})
    assert mutate(request(the_pod), ENABLED, parent) == Decision()


def test_annotation_keys_are_escaped_as_json_pointers() -> None:
    the_pod = pod({"keptn.sh/workload": "web", "x": "y"})
    decision = mutate(request(the_pod), ENABLED, None)
    assert {"op": "add", "path": "/metadata/annotations/keptn.sh~1app", "value": "web"} in decision.patch
    assert escape_pointer("a~b/c") == "a~0b~1c"


def test_a_released_pod_is_not_gated_again() -> None:
    the_pod = pod({"keptn.sh/workload": "web", "keptn.sh/scheduling-gate-removed": "true"})
    assert mutate(request(the_pod), ENABLED, None) == Decision()


def test_other_gates_are_kept_and_the_gate_is_added_once() -> None:
    the_pod = pod({"keptn.sh/workload": "web", "keptn.sh/app": "web"}, gates=[{"name": "quota"}])
    decision = mutate(request(the_pod), ENABLED, None)
    assert apply(decision.patch, the_pod)["spec"]["schedulingGates"] == [
        {"name": "quota"},
        {"name": "keptn-prechecks-gate"},
    ]
    already = pod(
        {"keptn.sh/workload": "web", "keptn.sh/app": "web"}, gates=[{"name": "keptn-prechecks-gate"}]
    )
    assert mutate(request(already), ENABLED, None) == Decision()


def test_an_update_never_adds_the_gate() -> None:
    the_pod = pod({"keptn.sh/workload": "web", "keptn.sh/app": "web"})
    assert mutate(request(the_pod, "UPDATE"), ENABLED, None) == Decision()


def test_the_review_answer_echoes_the_uid_and_carries_a_base64_json_patch() -> None:
    decision = Decision(patch=({"op": "add", "path": "/spec/schedulingGates", "value": []},))
    answer = review_response("abc", decision)
    assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert (response["uid"], response["allowed"], response["patchType"]) == ("abc", True, "JSONPatch")
    assert json.loads(base64.b64decode(response["patch"])) == list(decision.patch)
    plain = review_response("abc", Decision(message=NOT_ENABLED_MESSAGE))["response"]
    assert plain == {"uid": "abc", "allowed": True, "status": {"code": 200, "message": NOT_ENABLED_MESSAGE}}


def review(**request_fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"uid": "u", "operation": "CREATE", "namespace": "shop", "object": pod()}
    base.update(request_fields)
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": base}


def test_a_review_is_parsed() -> None:
    parsed = parse_review(review(dryRun=True))
    assert (parsed.uid, parsed.operation, parsed.namespace, parsed.dry_run) == ("u", "CREATE", "shop", True)
    assert parsed.pod_name == "web-1-"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "not a JSON object"),
        (
            {"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"},
            "expected an AdmissionReview",
        ),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "has no request"),
        (review(uid=""), "request.uid is missing"),
        (review(operation=None), "request.operation is missing"),
        (review(object="x"), "request.object of the CREATE request is not an object"),
        (review(object={"kind": "Service", "metadata": {}}), "is a Service, not a Pod"),
    ],
)
def test_malformed_reviews_are_refused_with_the_reason(body: object, message: str) -> None:
    with pytest.raises(AdmissionError, match=message):
        parse_review(body)
