"""The pod mutating webhook over HTTPS: ``POST /mutate-v1-pod`` (AdmissionReview v1) and ``GET /healthz``
(klt-facts §2.2; port 9443 and the certificate directory are the manifests', see deploy/README.md).

This module only does I/O: it reads the request, looks up what the decision needs through the API (the
namespace's annotations, and, for a pod without Keptn keys of its own, the ReplicaSet and its Deployment
or Argo Rollout, the StatefulSet or the DaemonSet), and sends back what ``admission.mutate`` decided.

Failure handling, on purpose:
- A malformed request (not JSON, not an AdmissionReview v1, no uid) gets HTTP 400 with the reason.
- When a lookup fails for any reason other than "not found" (the API server is unreachable, RBAC is
  missing), the webhook answers HTTP 500 instead of guessing: the API server then applies the webhook's
  ``failurePolicy`` (``Fail`` refuses the pod so it is retried by its controller and never runs ungated;
  ``Ignore`` lets it run ungated). A parent that no longer exists is not an error: the pod is then
  treated as having no parent keys.

Namespace annotations are cached for a few seconds (``namespace_ttl_s``), since a scale-up admits many
pods of one namespace at once; opting a namespace in therefore takes effect within that time. The
certificate files are re-read when they change (cert-manager renews them in place), without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient, ApiException

from services.watcher.kube.admission import (
    AdmissionError,
    AdmissionRequest,
    OwnerRef,
    Parent,
    mutate,
    namespace_enabled,
    needs_parent,
    parse_review,
    review_response,
    supported_owner,
)

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/mutate-v1-pod"
HEALTH_PATH = "/healthz"
NAMESPACE_TTL_S = 5.0
"""Seconds a namespace's annotations are reused: long enough for a burst of pods, short enough that
opting a namespace in or out is seen almost at once."""
CERT_CHECK_S = 30.0
"""Seconds between checks of the certificate files for a renewal."""
_ROLLOUTS = ("argoproj.io", "v1alpha1", "rollouts")


class WebhookError(Exception):
    """The webhook cannot start (certificate, port); the message says which file or address."""


class LookupFailed(Exception):
    """An object the decision needs could not be read (not a 404); the request is answered with 500."""


class ClusterFacts:
    """Reads what a decision needs from the API; kubernetes-asyncio's exceptions stop here."""

    def __init__(self, api: ApiClient, namespace_ttl_s: float = NAMESPACE_TTL_S) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.namespace_ttl_s = namespace_ttl_s
        self._namespaces: dict[str, tuple[float, dict[str, str]]] = {}

    async def namespace_annotations(self, namespace: str) -> dict[str, str]:
        cached = self._namespaces.get(namespace)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._read("Namespace", "", namespace, self.core.read_namespace(namespace))
        annotations = dict(((found or {}).get("metadata") or {}).get("annotations") or {})
        self._namespaces[namespace] = (now + self.namespace_ttl_s, annotations)
        return annotations

    async def parent(self, namespace: str, owner: OwnerRef) -> Parent | None:
        """The workload object whose keys the pod inherits (§2.2 step 3), or None."""
        obj: dict[str, Any] | None = None
        if owner.kind == "ReplicaSet":
            rs = await self._read(
                "ReplicaSet",
                namespace,
                owner.name,
                self.apps.read_namespaced_replica_set(owner.name, namespace),
            )
            rs_owner = supported_owner((rs or {}).get("metadata"))
            if rs_owner is None:
                return None
            if rs_owner.kind == "Rollout":
                call = self.custom.get_namespaced_custom_object(
                    *_ROLLOUTS[:2], namespace, _ROLLOUTS[2], rs_owner.name
                )
                obj = await self._read("Rollout", namespace, rs_owner.name, call)
            elif rs_owner.kind == "Deployment":
                call = self.apps.read_namespaced_deployment(rs_owner.name, namespace)
                obj = await self._read("Deployment", namespace, rs_owner.name, call)
        elif owner.kind == "StatefulSet":
            call = self.apps.read_namespaced_stateful_set(owner.name, namespace)
            obj = await self._read("StatefulSet", namespace, owner.name, call)
        elif owner.kind == "DaemonSet":
            call = self.apps.read_namespaced_daemon_set(owner.name, namespace)
            obj = await self._read("DaemonSet", namespace, owner.name, call)
        if obj is None:
            return None
        meta = obj.get("metadata") or {}
        return Parent(
            kind=str(obj.get("kind") or ""),
            name=str(meta.get("name") or ""),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
        )

    async def _read(self, kind: str, namespace: str, name: str, call: Any) -> dict[str, Any] | None:
        """Await one read; the object as a plain dict, None when it does not exist."""
        where = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
        try:
            found = await call
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise LookupFailed(f"cannot read {where}: HTTP {exc.status} {exc.reason}") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise LookupFailed(f"cannot read {where}: {type(exc).__name__}: {exc}") from None
        data = found if isinstance(found, dict) else self.api.sanitize_for_serialization(found)
        return data if isinstance(data, dict) else None


async def answer(facts: ClusterFacts, request: AdmissionRequest) -> dict[str, Any]:
    """The AdmissionReview to send back for ``request``; raises ``LookupFailed``."""
    namespace_annotations: dict[str, str] = {}
    parent: Parent | None = None
    if request.operation in ("CREATE", "UPDATE"):
        namespace_annotations = await facts.namespace_annotations(request.namespace)
        owner = supported_owner(request.pod.get("metadata"))
        if namespace_enabled(namespace_annotations) and owner is not None and needs_parent(request.pod):
            parent = await facts.parent(request.namespace, owner)
    decision = mutate(request, namespace_annotations, parent)
    if decision.patch:
        log.debug(
            "Pod %s/%s admitted with %d change(s)", request.namespace, request.pod_name, len(decision.patch)
        )
    return review_response(request.uid, decision)


def _app(facts: ClusterFacts) -> web.Application:
    async def mutate_pod(http: web.Request) -> web.Response:
        try:
            body = json.loads(await http.read())
        except ValueError:
            return web.Response(status=400, text="the request body is not JSON\n")
        try:
            request = parse_review(body)
        except AdmissionError as exc:
            return web.Response(status=400, text=f"not an AdmissionReview this webhook can answer: {exc}\n")
        try:
            return web.json_response(await answer(facts, request))
        except LookupFailed as exc:
            log.warning("Cannot decide on pod %s/%s: %s", request.namespace, request.pod_name, exc)
            return web.Response(status=500, text=f"klt cannot decide on this pod: {exc}\n")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, mutate_pod)
    app.router.add_get(HEALTH_PATH, healthz)
    return app


def _load_certificates(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebhookError(
            f"cannot load the webhook certificate {cert_file} with key {key_file}: {exc}"
        ) from None


def _mtimes(*paths: str) -> tuple[float, ...]:
    stamps = []
    for path in paths:
        try:
            stamps.append(Path(path).stat().st_mtime)
        except OSError:
            stamps.append(0.0)
    return tuple(stamps)


async def _reload_certificates(
    context: ssl.SSLContext, cert_file: str, key_file: str, interval_s: float
) -> None:
    """Load renewed certificate files into the live context (new connections use them)."""
    seen = _mtimes(cert_file, key_file)
    while True:
        await asyncio.sleep(interval_s)
        now = _mtimes(cert_file, key_file)
        if now == seen:
            continue
        try:
            _load_certificates(context, cert_file, key_file)
        except WebhookError as exc:  # half-written renewal: keep the old pair, try again later
            log.warning("%s; keeping the previous certificate", exc)
            continue
        seen = now
        log.info("Webhook certificate %s reloaded", cert_file)


async def serve_webhook(
    api: ApiClient,
    *,
    host: str,
    port: int,
    cert_file: str,
    key_file: str,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    namespace_ttl_s: float = NAMESPACE_TTL_S,
    cert_check_s: float = CERT_CHECK_S,
) -> None:
    """Serve the webhook on ``host:port`` over HTTPS until ``stop`` is set; ``ready`` is set once it
    listens. Raises ``WebhookError`` when the certificate cannot be loaded or the port not bound."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load_certificates(context, cert_file, key_file)
    runner = web.AppRunner(
        _app(ClusterFacts(api, namespace_ttl_s)), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    reloader: asyncio.Task[None] | None = None
    try:
        try:
            await web.TCPSite(runner, host, port, ssl_context=context).start()
        except OSError as exc:
            raise WebhookError(f"the webhook cannot listen on {host}:{port}: {exc}") from None
        log.info("Pod webhook listening on https://%s:%d%s", host, port, WEBHOOK_PATH)
        reloader = asyncio.create_task(_reload_certificates(context, cert_file, key_file, cert_check_s))
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        if reloader is not None:
            reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reloader
        await runner.cleanup()
