"""Small helpers the built-in controllers share: owner references, readiness, status writes, events,
template hashes."""

from __future__ import annotations

import json
from typing import Any

from tests.k8s.store import Obj, Store, random_suffix

_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def owner_reference(owner: Obj, *, controller: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: Obj) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owned(store: Store, resource: str, owner: Obj) -> list[Obj]:
    """Objects of ``resource`` in the owner's namespace whose controller reference is the owner."""
    uid = owner["metadata"]["uid"]
    return [o for o in store.list(resource, owner["metadata"].get("namespace")) if controller_uid(o) == uid]


def condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def is_ready(pod: Obj) -> bool:
    ready = condition(pod, "Ready")
    return pod.get("status", {}).get("phase") == "Running" and ready is not None and ready["status"] == "True"


def is_terminal(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def is_terminating(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def set_status(store: Store, resource: str, obj: Obj, status: dict[str, Any]) -> Obj:
    """Write ``status`` if it differs (a write by the controller: no precondition, no generation bump)."""
    if obj.get("status") == status:
        return obj
    return store.write_system(resource, {**obj, "status": status})


def merge_conditions(
    old: list[dict[str, Any]] | None, new: list[dict[str, Any]], now: str
) -> list[dict[str, Any]]:
    """Keep ``lastTransitionTime`` of conditions whose status did not change, as controllers do."""
    before = {c["type"]: c for c in old or []}
    out = []
    for cond in new:
        prior = before.get(cond["type"])
        kept = (
            prior is not None
            and prior.get("status") == cond["status"]
            and prior.get("reason") == cond.get("reason")
        )
        stamp = prior.get("lastTransitionTime", now) if prior is not None and kept else now
        out.append({**cond, "lastTransitionTime": stamp})
        if "lastUpdateTime" in cond and kept and prior is not None:
            out[-1]["lastUpdateTime"] = prior.get("lastUpdateTime", now)
    return out


def template_hash(template: Any) -> str:
    """A stable short hash of a pod template (the shape of Kubernetes' pod-template-hash)."""
    digest = 0x811C9DC5
    for byte in json.dumps(template, sort_keys=True, separators=(",", ":")).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[int(c)] for c in str(digest))


def record_event(
    store: Store,
    involved: Obj,
    reason: str,
    message: str,
    *,
    kind: str = "Normal",
    component: str = "klt-test-controller-manager",
) -> None:
    """A core/v1 Event about ``involved``, as controllers record them (``kubectl describe`` shows these)."""
    meta = involved["metadata"]
    now = store.clock.timestamp()
    store.create(
        "events",
        {
            "metadata": {
                "name": f"{meta['name']}.{random_suffix(10)}",
                "namespace": meta.get("namespace", "default"),
            },
            "involvedObject": {
                "kind": involved.get("kind"),
                "namespace": meta.get("namespace"),
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": involved.get("apiVersion"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "count": 1,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "reportingComponent": component,
            "reportingInstance": "",
        },
    )
