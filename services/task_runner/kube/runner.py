"""Running one attempt's Job on the cluster: create or adopt it, watch it to its outcome, read its pod's log.

This is the task-runner's only module that talks to the Kubernetes API; kubernetes-asyncio exceptions
become ``KubeError`` here and a failed attempt becomes a ``ProcessResult`` as a subprocess's would, so
``executing`` treats both runtimes alike.

Choices that differ from KLT (§4.5):
- A Job that already exists (409 on create) is **adopted**: it is this attempt's Job, created by a runner
  that crashed or stopped; watching it continues the attempt instead of starting a second run.
- A Job deleted before it completed is a **failed attempt** (KLT creates a new Job); the attempt book then
  decides whether another attempt runs, so ``retries`` still bounds the runs.
- The runner waits for the Job at most until the task's deadline plus ``grace_s``; a Job that outlives
  that (a stuck controller) is deleted and the attempt counts as timed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

import aiohttp
from kubernetes_asyncio.client import BatchV1Api, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch

from services.task_runner.kube.jobs import JobOutcome, JobRun, Obj, job_outcome, pod_exit_code
from services.task_runner.running import ProcessResult, TailBuffer
from shared.runtime.kube import KubeError, kube_error

log = logging.getLogger(__name__)

KEPTN_GROUP = "lifecycle.keptn.sh"
WATCH_TIMEOUT_S = 60
"""Server-side timeout of one watch request; the loop re-reads the Job and watches again."""


class KubeJobs:
    """Jobs, ConfigMaps and the KeptnTask owner lookup through one kubernetes-asyncio ``ApiClient``."""

    def __init__(self, api: Any, *, max_log_bytes: int, grace_s: float = 30.0) -> None:
        self.api = api
        self.batch = BatchV1Api(api)
        self.core = CoreV1Api(api)
        self.custom = CustomObjectsApi(api)
        self.max_log_bytes = max_log_bytes
        self.grace_s = grace_s

    async def task_owner(self, namespace: str, name: str) -> Obj | None:
        """The KeptnTask CR named ``name``, if the watcher projected one (it owns the Job); else None."""
        try:
            found = await self.custom.get_namespaced_custom_object(
                KEPTN_GROUP, "v1", namespace, "keptntasks", name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise kube_error(exc, f"KeptnTask '{namespace}/{name}'") from None
        except (OSError, TimeoutError) as exc:
            raise kube_error(exc, f"KeptnTask '{namespace}/{name}'") from None
        return dict(found) if isinstance(found, dict) else None

    async def apply_config_map(self, config_map: Obj) -> None:
        """Create the ConfigMap, or replace its data if it exists (the definition's code may have changed)."""
        meta = config_map["metadata"]
        what = f"ConfigMap '{meta['namespace']}/{meta['name']}'"
        try:
            try:
                await self.core.create_namespaced_config_map(meta["namespace"], cast(Any, config_map))
            except ApiException as exc:
                if exc.status != 409:
                    raise
                patch: Any = self.core.patch_namespaced_config_map
                await patch(
                    meta["name"],
                    meta["namespace"],
                    {"data": config_map["data"]},
                    _content_type="application/merge-patch+json",
                )
        except (ApiException, OSError, TimeoutError) as exc:
            raise kube_error(exc, what) from None

    async def run(self, run: JobRun) -> ProcessResult:
        """Create (or adopt) the Job and wait for its outcome; cancelling leaves the Job running for the
        next runner to adopt. API failures raise ``KubeError``."""
        meta = run.job["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        what = f"Job '{namespace}/{name}'"
        try:
            try:
                await self.batch.create_namespaced_job(namespace, cast(Any, run.job))
                log.info("%s created", what)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                log.warning("%s already exists: adopting it (its runner stopped before it ended)", what)
            try:
                async with asyncio.timeout(run.wait_s):
                    outcome = await self._wait(namespace, name)
            except TimeoutError:
                await self._delete(namespace, name)
                return ProcessResult(None, None, True, "", "", False, False)
            if outcome is None:
                message = f"{what} was deleted before it completed"
                return ProcessResult.not_started(message)
            exit_code, text, truncated = await self._pod_result(namespace, name, run)
        except (ApiException, OSError, aiohttp.ClientError) as exc:
            raise kube_error(exc, what) from None
        return _result(outcome, exit_code, text, truncated)

    async def _read(self, namespace: str, name: str) -> Obj | None:
        try:
            job = await self.batch.read_namespaced_job(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        found: Obj = self.api.sanitize_for_serialization(job)
        return found

    async def _wait(self, namespace: str, name: str) -> JobOutcome | None:
        """The Job's outcome; None when it was deleted first. A list+watch loop: every watch starts from
        the resourceVersion just read, so no change between the read and the watch is missed."""
        while True:
            job = await self._read(namespace, name)
            if job is None:
                return None
            outcome = job_outcome(job)
            if outcome is not None:
                return outcome
            watch = Watch()
            try:
                async for event in watch.stream(
                    self.batch.list_namespaced_job,
                    namespace,
                    field_selector=f"metadata.name={name}",
                    resource_version=job["metadata"].get("resourceVersion"),
                    allow_watch_bookmarks=True,
                    timeout_seconds=WATCH_TIMEOUT_S,
                ):
                    kind, raw = event.get("type"), event.get("raw_object") or {}
                    if kind == "DELETED":
                        return None
                    if kind in ("ADDED", "MODIFIED") and (outcome := job_outcome(raw)) is not None:
                        return outcome
            except ApiException as exc:
                if exc.status != 410:
                    raise
                log.debug("Watch of Job '%s/%s' expired; reading it again", namespace, name)
            except aiohttp.ClientPayloadError:
                log.debug("Watch of Job '%s/%s' was cut; reading it again", namespace, name)
            finally:
                watch.stop()
                with contextlib.suppress(Exception):
                    await watch.close()

    async def _delete(self, namespace: str, name: str) -> None:
        with contextlib.suppress(ApiException):
            await self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
        log.warning("Job '%s/%s' outlived its task's deadline and was deleted", namespace, name)

    async def _pod_result(self, namespace: str, name: str, run: JobRun) -> tuple[int | None, str, bool]:
        """The exit code and (bounded, masked) log of the Job's newest pod; nothing if it is gone."""
        pods = await self.core.list_namespaced_pod(namespace, label_selector=f"job-name={name}")
        items = [self.api.sanitize_for_serialization(p) for p in pods.items]
        if not items:
            return None, "", False
        pod = max(items, key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))
        exit_code = pod_exit_code(pod, run.container)
        buffer = TailBuffer(self.max_log_bytes, run.secret.encode() if run.secret else b"")
        try:
            text = await self.core.read_namespaced_pod_log(
                pod["metadata"]["name"],
                namespace,
                container=run.container,
                limit_bytes=self.max_log_bytes * 4,
            )
        except ApiException as exc:
            log.debug("The log of Job '%s/%s' could not be read: %s", namespace, name, exc.status)
            text = ""
        buffer.feed(str(text or "").encode())
        return exit_code, buffer.text(), buffer.truncated


def _result(outcome: JobOutcome, exit_code: int | None, text: str, truncated: bool) -> ProcessResult:
    if outcome.succeeded:
        return ProcessResult(0, None, False, text, "", truncated, False)
    if outcome.deadline_exceeded:
        return ProcessResult(exit_code, None, True, text, "", truncated, False)
    error = "" if exit_code not in (None, 0) else f"{outcome.reason}: {outcome.message}".strip(": ")
    return ProcessResult(exit_code, None, False, text, "", truncated, False, error=error)


__all__ = ["JobRun", "KubeError", "KubeJobs"]
