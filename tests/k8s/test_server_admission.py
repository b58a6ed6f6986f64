"""Mutating admission over HTTPS: the webhook's JSONPatch is applied, denials and unreachable webhooks
behave as on a real API server, and gated pods stay Pending until their gates are removed."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import kubernetes_asyncio
import pytest
from aiohttp import web
from kubernetes_asyncio.client import ApiException

from tests.k8s.certs import TestPKI
from tests.k8s.helpers import deployment, pod
from tests.k8s.server import ApiServer

#: The generated client, untyped here: its stubs reject dict bodies and ``_content_type``, both valid.
client: Any = kubernetes_asyncio.client

GATE = "keptn-prechecks-gate"
Answer = Callable[[dict[str, Any]], dict[str, Any]]


def gate_pods(request: dict[str, Any]) -> dict[str, Any]:
    """What KLT's webhook does, reduced: gate every pod not yet released."""
    annotations = request["object"]["metadata"].get("annotations") or {}
    response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
    if request["operation"] == "CREATE" and "keptn.sh/scheduling-gate-removed" not in annotations:
        ops = [{"op": "add", "path": "/spec/schedulingGates", "value": [{"name": GATE}]}]
        response.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(ops).encode()).decode())
    return response


class Webhook:
    """An HTTPS admission webhook run by the test; ``answer`` decides each response."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.reviews: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        review = await request.json()
        self.reviews.append(review)
        return web.json_response(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": self.answer(review["request"]),
            }
        )

    async def start(self, pki_context: Any) -> None:
        app = web.Application()
        app.router.add_post("/mutate-v1-pod", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=pki_context).start()
        self.url = f"https://127.0.0.1:{self._runner.addresses[0][1]}/mutate-v1-pod"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def webhook(k8s_api_server: ApiServer) -> AsyncIterator[Webhook]:
    hook = Webhook(gate_pods)
    await hook.start(k8s_api_server.server_ssl_context())
    k8s_api_server.set_mutating_webhook(hook.url, k8s_api_server.ca_pem, "Fail")
    yield hook
    await hook.stop()


async def test_webhook_patch_gates_the_pod_until_the_gate_is_removed(
    k8s_api_server: ApiServer, k8s_api: Any, webhook: Webhook
) -> None:
    core = client.CoreV1Api(k8s_api)
    created = await core.create_namespaced_pod("default", pod("p"))
    assert [g.name for g in created.spec.scheduling_gates] == [GATE]
    request = webhook.reviews[0]["request"]
    assert webhook.reviews[0]["apiVersion"] == "admission.k8s.io/v1"
    assert (request["operation"], request["kind"]["kind"], request["namespace"], request["name"]) == (
        "CREATE",
        "Pod",
        "default",
        "p",
    )
    assert "uid" not in request["object"]["metadata"], (
        "the webhook sees the object before the server fills it in"
    )
    await k8s_api_server.controllers.settle()
    gated = await core.read_namespaced_pod("p", "default")
    scheduled = next(c for c in gated.status.conditions if c.type == "PodScheduled")
    assert (gated.status.phase, scheduled.status, scheduled.reason) == ("Pending", "False", "SchedulingGated")
    await core.patch_namespaced_pod(
        "p",
        "default",
        {
            "metadata": {"annotations": {"keptn.sh/scheduling-gate-removed": "true"}},
            "spec": {"schedulingGates": None},
        },
    )
    assert webhook.reviews[-1]["request"]["operation"] == "UPDATE"
    assert webhook.reviews[-1]["request"]["oldObject"]["spec"]["schedulingGates"] == [{"name": GATE}]
    await k8s_api_server.controllers.settle()
    running = await core.read_namespaced_pod("p", "default")
    ready = next(c for c in running.status.conditions if c.type == "Ready")
    assert (running.status.phase, ready.status, running.spec.node_name) == ("Running", "True", "node-1")


async def test_pods_made_by_a_replicaset_pass_the_webhook_without_a_name(
    k8s_api_server: ApiServer, k8s_api: Any, webhook: Webhook
) -> None:
    await client.AppsV1Api(k8s_api).create_namespaced_deployment("default", deployment("web"))
    await k8s_api_server.controllers.settle()
    request = webhook.reviews[-1]["request"]
    assert request["name"] == "" and request["object"]["metadata"]["generateName"].startswith("web-")
    assert request["object"]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert request["userInfo"]["username"].endswith("replicaset-controller")
    pods = (await client.CoreV1Api(k8s_api).list_namespaced_pod("default", label_selector="app=web")).items
    assert [p.status.phase for p in pods] == ["Pending"]


async def test_a_denial_is_403_with_the_webhook_message(
    k8s_api_server: ApiServer, k8s_api: Any, webhook: Webhook
) -> None:
    webhook.answer = lambda r: {"uid": r["uid"], "allowed": False, "status": {"message": "no pods today"}}
    with pytest.raises(ApiException) as denied:
        await client.CoreV1Api(k8s_api).create_namespaced_pod("default", pod("p"))
    body = json.loads(denied.value.body or b"")
    assert (denied.value.status, body["reason"]) == (403, "Forbidden")
    assert (
        body["message"]
        == 'pods "p" is forbidden: admission webhook "mpod.keptn.sh" denied the request: no pods today'
    )


@pytest.mark.parametrize(("policy", "created"), [("Fail", False), ("Ignore", True)])
async def test_an_unreachable_webhook_follows_the_failure_policy(
    k8s_api_server: ApiServer, k8s_api: Any, policy: str, created: bool
) -> None:
    k8s_api_server.set_mutating_webhook("https://127.0.0.1:9/mutate-v1-pod", k8s_api_server.ca_pem, policy)
    core = client.CoreV1Api(k8s_api)
    if created:
        answer = await core.create_namespaced_pod("default", pod("p"))
        assert answer.spec.scheduling_gates is None
        return
    with pytest.raises(ApiException) as failed:
        await core.create_namespaced_pod("default", pod("p"))
    body = json.loads(failed.value.body or b"")
    assert (failed.value.status, body["reason"]) == (500, "InternalError")
    assert 'failed calling webhook "mpod.keptn.sh"' in body["message"]


async def test_a_webhook_with_an_untrusted_certificate_is_not_called(
    k8s_api_server: ApiServer, k8s_api: Any, webhook: Webhook
) -> None:
    k8s_api_server.set_mutating_webhook(webhook.url, TestPKI().ca_pem, "Fail")
    with pytest.raises(ApiException) as failed:
        await client.CoreV1Api(k8s_api).create_namespaced_pod("default", pod("p"))
    assert (
        failed.value.status == 500
        and "certificate" in json.loads(failed.value.body or b"")["message"].lower()
    )
    assert webhook.reviews == []


async def test_namespace_selector_limits_the_webhook(
    k8s_api_server: ApiServer, k8s_api: Any, webhook: Webhook
) -> None:
    k8s_api_server.set_mutating_webhook(
        webhook.url,
        None,
        "Fail",
        namespace_selector={
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
            ]
        },
    )
    core = client.CoreV1Api(k8s_api)
    skipped = await core.create_namespaced_pod("kube-system", pod("p"))
    gated = await core.create_namespaced_pod("default", pod("p"))
    assert skipped.spec.scheduling_gates is None and gated.spec.scheduling_gates is not None
