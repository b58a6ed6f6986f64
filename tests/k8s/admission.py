"""Mutating admission: the API server's calls to webhooks named by MutatingWebhookConfigurations.

The configurations are ordinary objects in the store (``admissionregistration.k8s.io/v1``), so a test can
create one through the API or with ``ApiServer.set_mutating_webhook``. For each matching webhook the
server POSTs an ``admission.k8s.io/v1`` AdmissionReview over HTTPS, trusting only the configuration's
``caBundle``, applies the base64 JSONPatch it returns, and turns ``allowed: false`` into a 403 with the
API server's wording. A webhook that cannot be called (refused, timed out, bad answer) fails the request
with a 500 under ``failurePolicy: Fail`` and is skipped under ``Ignore``.

As on a real cluster the webhook sees the object before the server fills in its system fields: a pod
created with ``generateName`` has no name yet (``request.name`` is empty), no uid, no creationTimestamp.
Only ``clientConfig.url`` is supported (there is no Service network to resolve ``clientConfig.service``).
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from typing import Any

import aiohttp

from tests.k8s.errors import ApiError, internal
from tests.k8s.patching import json_patch
from tests.k8s.resources import ResourceType
from tests.k8s.selectors import labels_match, selector_from_spec
from tests.k8s.store import Obj, Store

MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io"


class WebhookCallError(Exception):
    """The webhook could not be called or answered nonsense; the message says which."""


def _ca_pem(bundle: str | bytes | None) -> str | None:
    if not bundle:
        return None
    text = bundle.decode() if isinstance(bundle, bytes) else bundle
    return text if "BEGIN CERTIFICATE" in text else base64.b64decode(text).decode()


def _rule_matches(rule: dict[str, Any], operation: str, res: ResourceType, subresource: str | None) -> bool:
    def has(values: list[str] | None, value: str) -> bool:
        return bool(values) and ("*" in (values or []) or value in (values or []))

    name = f"{res.plural}/{subresource}" if subresource else res.plural
    resources = rule.get("resources") or []
    resource_ok = name in resources or "*/*" in resources or (not subresource and "*" in resources)
    scope = rule.get("scope", "*")
    scope_ok = scope == "*" or (scope == "Namespaced") == res.namespaced
    return (
        has(rule.get("operations"), operation)
        and has(rule.get("apiGroups"), res.group)
        and has(rule.get("apiVersions"), res.version)
        and resource_ok
        and scope_ok
    )


class Admission:
    """Runs the mutating webhooks configured in the store on a write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[dict[str, Any]] = []  # every AdmissionReview request sent, for tests to inspect

    def _webhooks(
        self,
        operation: str,
        res: ResourceType,
        subresource: str | None,
        namespace: str,
        obj: Obj,
        old: Obj | None,
    ) -> list[dict[str, Any]]:
        out = []
        ns_labels: dict[str, str] = {}
        if res.namespaced:
            ns_obj = self.store.find("namespaces", None, namespace)
            ns_labels = ((ns_obj or {}).get("metadata") or {}).get("labels") or {}
        for config in self.store.list(MWC):
            for hook in config.get("webhooks") or []:
                if not any(_rule_matches(r, operation, res, subresource) for r in hook.get("rules") or []):
                    continue
                if res.namespaced and not labels_match(
                    selector_from_spec(hook.get("namespaceSelector")), {"metadata": {"labels": ns_labels}}
                ):
                    continue
                object_selector = selector_from_spec(hook.get("objectSelector"))
                if object_selector and not any(labels_match(object_selector, o) for o in (obj, old) if o):
                    continue
                out.append(hook)
        return out

    async def admit(
        self,
        operation: str,
        res: ResourceType,
        namespace: str,
        obj: Obj,
        old: Obj | None = None,
        *,
        subresource: str | None = None,
        user: str = "kubernetes-admin",
        dry_run: bool = False,
    ) -> Obj:
        """Return the object as mutated by every matching webhook, or raise the API server's error."""
        for hook in self._webhooks(operation, res, subresource, namespace, obj, old):
            review = self._review(operation, res, namespace, obj, old, subresource, user, dry_run)
            try:
                response = await self._call(hook, review)
            except WebhookCallError as exc:
                if hook.get("failurePolicy", "Fail") == "Ignore":
                    continue
                raise internal(f'failed calling webhook "{hook.get("name")}": {exc}') from None
            name = obj.get("metadata", {}).get("name") or "Unknown"
            if not response.get("allowed"):
                result = response.get("status") or {}
                message = result.get("message") or result.get("reason")
                denied = f'admission webhook "{hook.get("name")}" denied the request'
                denied = f"{denied}: {message}" if message else f"{denied} without explanation"
                code = int(result.get("code") or 403)
                raise ApiError(
                    code,
                    result.get("reason") or "Forbidden",
                    f'{res.group_resource} "{name}" is forbidden: {denied}',
                    {"name": name, "group": res.group, "kind": res.plural},
                )
            if response.get("patch"):
                if response.get("patchType") != "JSONPatch":
                    raise internal(
                        f'webhook "{hook.get("name")}" returned patchType '
                        f"{response.get('patchType')!r}; only JSONPatch is allowed"
                    )
                operations = json.loads(base64.b64decode(response["patch"]))
                try:
                    obj = json_patch(obj, operations)
                except ApiError as exc:
                    raise internal(
                        f'webhook "{hook.get("name")}" returned a patch that does not apply: {exc.message}'
                    ) from None
        return obj

    def _review(
        self,
        operation: str,
        res: ResourceType,
        namespace: str,
        obj: Obj,
        old: Obj | None,
        subresource: str | None,
        user: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        gvk = {"group": res.group, "version": res.version, "kind": res.kind}
        gvr = {"group": res.group, "version": res.version, "resource": res.plural}
        options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions"}.get(operation, "DeleteOptions")
        request: dict[str, Any] = {
            "uid": str(uuid.uuid4()),
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": (obj.get("metadata") or {}).get("name") or "",
            "namespace": namespace if res.namespaced else "",
            "operation": operation,
            "userInfo": {"username": user, "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": old,
            "dryRun": dry_run,
            "options": {"kind": options_kind, "apiVersion": "meta.k8s.io/v1"},
        }
        if subresource:
            request["subResource"] = subresource
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}

    async def _call(self, hook: dict[str, Any], review: dict[str, Any]) -> dict[str, Any]:
        client_config = hook.get("clientConfig") or {}
        url = client_config.get("url")
        if not url:
            raise WebhookCallError(
                "failed to call webhook: only clientConfig.url is supported by the test "
                "server (it has no Service network)"
            )
        context: ssl.SSLContext | bool = True
        if url.startswith("https://"):
            context = ssl.create_default_context(cadata=_ca_pem(client_config.get("caBundle")))
        self.calls.append(review["request"])
        timeout = aiohttp.ClientTimeout(total=float(hook.get("timeoutSeconds") or 10))
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=review, ssl=context) as reply,
            ):
                if reply.status != 200:
                    body = (await reply.text())[:200]
                    raise WebhookCallError(
                        f"failed to call webhook: the server responded with the status "
                        f"code {reply.status}: {body}"
                    )
                answer = await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, ValueError) as exc:
            raise WebhookCallError(
                f'failed to call webhook: Post "{url}": {exc or type(exc).__name__}'
            ) from None
        response = answer.get("response") if isinstance(answer, dict) else None
        if not isinstance(response, dict):
            raise WebhookCallError("received invalid webhook response: the AdmissionReview has no response")
        if response.get("uid") != review["request"]["uid"]:
            raise WebhookCallError(
                f"expected response.uid={review['request']['uid']!r}, got {response.get('uid')!r}"
            )
        return response
