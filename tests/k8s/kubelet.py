"""The pretend scheduler and kubelet: they move pods through Pending, Running/Ready and, for pods that
run to completion, Succeeded or Failed.

A pod with ``spec.schedulingGates`` is not scheduled: it stays Pending with condition
``PodScheduled=False, reason=SchedulingGated``, exactly what ``kubectl get pod`` shows on a cluster.
Once its gates are gone it is bound to a node (``spec.nodeName``) and then started according to the
test's ``PodPlan``: running and ready (the default), running but not ready, stuck waiting with a
reason (``ErrImagePull`` for a non-existent image), or exiting with a code (Job pods exit 0 by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.k8s.objects import condition, is_terminal, is_terminating, merge_conditions, set_status
from tests.k8s.store import Obj, Store


@dataclass(frozen=True)
class PodPlan:
    """What the kubelet does with one scheduled pod; re-read on every step, so a test can change it."""

    #: False keeps the containers waiting (``ContainerCreating`` or ``waiting_reason``): a slow rollout.
    start: bool = True
    #: Running but failing its readiness probe when False.
    ready: bool = True
    #: A waiting reason such as ``ErrImagePull`` or ``ImagePullBackOff`` (implies not started).
    waiting_reason: str | None = None
    #: Terminate the containers with this exit code (None: keep running). Job pods default to 0.
    exit_code: int | None = None
    #: What ``GET .../pods/<name>/log`` returns.
    log: str = ""


PodPlanner = Callable[[Obj], PodPlan | None]
_GATED_MESSAGE = "Scheduling is blocked due to non-empty scheduling gates"


def _pending_target(pod: Obj) -> str | None:
    """The node a DaemonSet pod is pinned to through node affinity, if any."""
    affinity = (pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return None


class Kubelet:
    def __init__(
        self, store: Store, plan_for: Callable[[Obj], PodPlan], logs: dict[tuple[str, str], str]
    ) -> None:
        self.store = store
        self.plan_for = plan_for
        self.logs = logs

    def step(self) -> None:
        nodes = [n["metadata"]["name"] for n in self.store.list("nodes")] or ["node-1"]
        for index, pod in enumerate(self.store.list("pods")):
            if is_terminal(pod) or is_terminating(pod):
                continue
            now = self.store.clock.timestamp()
            status = dict(pod.get("status") or {})
            if pod["spec"].get("schedulingGates"):
                self._gated(pod, status, now)
            elif not pod["spec"].get("nodeName"):
                node = _pending_target(pod) or nodes[index % len(nodes)]
                bound = {**pod, "spec": {**pod["spec"], "nodeName": node}}
                status["conditions"] = merge_conditions(
                    status.get("conditions"),
                    [{"type": "PodScheduled", "status": "True", "lastProbeTime": None}],
                    now,
                )
                status["hostIP"] = "192.0.2.10"
                self.store.write_system("pods", {**bound, "status": status})
            else:
                self._run(pod, status, now)

    def _gated(self, pod: Obj, status: dict[str, Any], now: str) -> None:
        status["phase"] = "Pending"
        status["conditions"] = merge_conditions(
            status.get("conditions"),
            [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "reason": "SchedulingGated",
                    "message": _GATED_MESSAGE,
                }
            ],
            now,
        )
        set_status(self.store, "pods", pod, status)

    def _run(self, pod: Obj, status: dict[str, Any], now: str) -> None:
        plan = self.plan_for(pod)
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        if plan.log:
            self.logs[key] = plan.log
        containers = [c["name"] for c in pod["spec"]["containers"]]
        started = plan.start and plan.waiting_reason is None
        terminated = started and plan.exit_code is not None and status.get("phase") == "Running"
        ready = started and plan.ready and not terminated
        if not started:
            reason = plan.waiting_reason or "ContainerCreating"
            states: list[dict[str, Any]] = [
                {
                    "name": n,
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "image": self._image(pod, n),
                    "imageID": "",
                    "state": {"waiting": {"reason": reason}},
                }
                for n in containers
            ]
            phase = "Pending"
        elif terminated:
            code = plan.exit_code or 0
            states = [
                {
                    "name": n,
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "image": self._image(pod, n),
                    "imageID": "",
                    "state": {
                        "terminated": {
                            "exitCode": code,
                            "reason": "Completed" if code == 0 else "Error",
                            "startedAt": status.get("startTime", now),
                            "finishedAt": now,
                        }
                    },
                }
                for n in containers
            ]
            phase = "Succeeded" if code == 0 else "Failed"
        else:
            states = [
                {
                    "name": n,
                    "ready": ready,
                    "started": True,
                    "restartCount": 0,
                    "image": self._image(pod, n),
                    "imageID": "",
                    "state": {"running": {"startedAt": status.get("startTime", now)}},
                }
                for n in containers
            ]
            phase = "Running"
        flag = "True" if ready else "False"
        status.update({"phase": phase, "containerStatuses": states, "podIP": "10.1.0.10"})
        status.setdefault("startTime", now)
        cond = [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None},
            {"type": "Initialized", "status": "True", "lastProbeTime": None},
            {"type": "ContainersReady", "status": flag, "lastProbeTime": None},
            {"type": "Ready", "status": flag, "lastProbeTime": None},
        ]
        if not ready:
            reason = "PodCompleted" if terminated else "ContainersNotReady"
            for c in cond[2:]:
                c["reason"] = reason
        status["conditions"] = merge_conditions(status.get("conditions"), cond, now)
        if condition({"status": status}, "PodScheduled") is not None:
            set_status(self.store, "pods", pod, status)

    @staticmethod
    def _image(pod: Obj, name: str) -> str:
        return next((str(c.get("image", "")) for c in pod["spec"]["containers"] if c["name"] == name), "")
