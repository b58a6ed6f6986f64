"""The Job controller: one pod per attempt until ``completions`` succeed, ``backoffLimit`` is exceeded or
``activeDeadlineSeconds`` (on the server's clock) passes.

Conditions follow Kubernetes 1.31+: success writes ``SuccessCriteriaMet`` then ``Complete``; failure
writes ``FailureTarget`` then ``Failed``, both with reason ``BackoffLimitExceeded`` ("Job has reached the
specified backoff limit") or ``DeadlineExceeded`` ("Job was active longer than specified deadline").
Each attempt's exit code comes from the test: a per-Job script (``Controllers.script_job``), else the
pod plan, else 0. Simplifications: every attempt is a new pod whatever the ``restartPolicy`` (a real
``OnFailure`` Job restarts the container in place), there is no retry back-off delay, and pods run one at
a time (``parallelism`` is ignored).
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass
from typing import Any

from tests.k8s.clock import parse_time
from tests.k8s.errors import ApiError
from tests.k8s.gateway import Gateway
from tests.k8s.objects import (
    condition,
    is_ready,
    is_terminal,
    merge_conditions,
    owned,
    owner_reference,
    record_event,
    set_status,
)
from tests.k8s.store import Obj, Store


@dataclass(frozen=True)
class Attempt:
    """One scripted attempt of a Job: its exit code (None: run until the deadline) and its log."""

    exit_code: int | None = 0
    log: str = ""


class JobController:
    def __init__(self, store: Store, gateway: Gateway) -> None:
        self.store = store
        self.gateway = gateway
        self.scripts: dict[tuple[str, str], deque[Attempt]] = {}
        self.attempts: dict[tuple[str, str], Attempt] = {}  # pod (namespace, name) → its scripted attempt

    async def step(self) -> None:
        for job in self.store.list("jobs.batch"):
            if job["metadata"].get("deletionTimestamp") or job["spec"].get("suspend"):
                continue
            if condition(job, "Complete") or condition(job, "Failed"):
                continue
            await self._job(job)

    async def _job(self, job: Obj) -> None:
        spec, ns, name = job["spec"], job["metadata"]["namespace"], job["metadata"]["name"]
        now = self.store.clock.now()
        stamp = self.store.clock.timestamp()
        status: dict[str, Any] = copy.deepcopy(job.get("status") or {})
        status.setdefault("startTime", stamp)
        pods = owned(self.store, "pods", job)
        active = [p for p in pods if not is_terminal(p) and not p["metadata"].get("deletionTimestamp")]
        succeeded = sum(1 for p in pods if p["status"].get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p["status"].get("phase") == "Failed")
        deadline = spec.get("activeDeadlineSeconds")
        outcome: tuple[str, str, str] | None = None
        if succeeded >= int(spec.get("completions", 1)):
            outcome = ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
        elif failed > int(spec.get("backoffLimit", 6)):
            outcome = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif deadline is not None and (now - parse_time(status["startTime"])).total_seconds() >= float(
            deadline
        ):
            outcome = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            for pod in active:
                self.store.delete("pods", ns, pod["metadata"]["name"])
            failed += len(active)
            active = []
        elif not active:
            await self._start_attempt(job, succeeded + failed)
            active = [p for p in owned(self.store, "pods", job) if not is_terminal(p)]
        status.update(
            {
                "active": len(active),
                "succeeded": succeeded,
                "failed": failed,
                "ready": sum(1 for p in active if is_ready(p)),
                "uncountedTerminatedPods": {},
            }
        )
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                status.pop(key)
        if outcome is not None:
            kind, reason, message = outcome
            first = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
            status["conditions"] = merge_conditions(
                status.get("conditions"),
                [
                    {
                        "type": first,
                        "status": "True",
                        "reason": reason,
                        "message": message,
                        "lastProbeTime": stamp,
                    },
                    {
                        "type": kind,
                        "status": "True",
                        "reason": reason,
                        "message": message,
                        "lastProbeTime": stamp,
                    },
                ],
                stamp,
            )
            if kind == "Complete":
                status["completionTime"] = stamp
            record_event(
                self.store,
                job,
                "Completed" if kind == "Complete" else reason,
                message,
                kind="Normal" if kind == "Complete" else "Warning",
                component="job-controller",
            )
        set_status(self.store, "jobs.batch", self.store.get("jobs.batch", ns, name), status)

    async def _start_attempt(self, job: Obj, index: int) -> None:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        template = copy.deepcopy(job["spec"]["template"])
        meta = template.get("metadata") or {}
        meta.update({"generateName": f"{name}-", "namespace": ns, "ownerReferences": [owner_reference(job)]})
        try:
            pod = await self.gateway.create(
                "pods",
                {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]},
                user="system:serviceaccount:kube-system:job-controller",
            )
        except ApiError as exc:
            record_event(
                self.store,
                job,
                "FailedCreate",
                f"Error creating: {exc.message}",
                kind="Warning",
                component="job-controller",
            )
            return
        script = self.scripts.get((ns, name))
        if script:
            attempt = script.popleft() if len(script) > 1 else script[0]
            self.attempts[(ns, pod["metadata"]["name"])] = attempt
