"""A klt ``LifecycleEvent`` as the ``core/v1`` Event KLT's recorders write (klt-facts §8.3). Pure.

KLT records through controller-runtime's ``EventRecorder`` (client-go's ``record`` package), i.e. the
legacy ``core/v1`` shape: ``source.component`` is the recorder's name (``keptnappversion-controller``…),
``firstTimestamp``/``lastTimestamp`` carry the time with ``count: 1``, ``eventTime`` stays null, and
``reportingComponent`` repeats the component. Reason, type, message and annotations are already KLT's in
the LifecycleEvent (``shared.phases.reporting``).

The Event's name is derived from the event's deterministic id, so a redelivered fact is refused by the
API server as AlreadyExists (409) instead of being recorded twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from shared.keptn.lifecycle import LIFECYCLE_API
from shared.messages import LifecycleEvent

Body = dict[str, Any]

RECORDERS: dict[str, str] = {
    "KeptnApp": "keptnapp-controller",
    "KeptnAppVersion": "keptnappversion-controller",
    "KeptnWorkload": "keptnworkload-controller",
    "KeptnWorkloadVersion": "keptnworkloadversion-controller",
    "KeptnTask": "keptntask-controller",
    "KeptnTaskDefinition": "keptntaskdefinition-controller",
    "KeptnEvaluation": "keptnevaluation-controller",
    "Pod": "keptn/webhook",
}
"""KLT's recorder name per kind of the object the event is about (§8.3)."""

MAX_NAME = 253
_HASH_CHARS = 16


def recorder_of(kind: str) -> str:
    return RECORDERS.get(kind, f"{kind.lower()}-controller")


def api_version_of(kind: str) -> str:
    return "v1" if kind == "Pod" else LIFECYCLE_API


def event_name(event: LifecycleEvent) -> str:
    """``<object name>.<16 hex of the event id>``: stable for one fact, valid as an object name."""
    identity = event.id or "\x1f".join(
        (event.kind, event.namespace, event.name, event.reason, event.message, event.timestamp)
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_HASH_CHARS]
    stem = event.name[: MAX_NAME - _HASH_CHARS - 1].rstrip(".-") or "klt"
    return f"{stem}.{digest}"


def kube_time(timestamp: str, fallback: str) -> str:
    """``timestamp`` as the API's ``metav1.Time`` (RFC 3339, seconds, UTC); ``fallback`` when empty
    or unreadable."""
    if not timestamp:
        return fallback
    try:
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return fallback
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_body(
    event: LifecycleEvent,
    *,
    namespace: str,
    involved_uid: str = "",
    involved_resource_version: str = "",
    now: str,
) -> Body:
    """The ``core/v1`` Event for ``event``, recorded in ``namespace``."""
    component = recorder_of(event.kind)
    when = kube_time(event.timestamp, now)
    involved: Body = {
        "apiVersion": api_version_of(event.kind),
        "kind": event.kind,
        "name": event.name,
        "namespace": event.namespace or namespace,
    }
    if involved_uid:
        involved["uid"] = involved_uid
    if involved_resource_version:
        involved["resourceVersion"] = involved_resource_version
    metadata: Body = {"name": event_name(event), "namespace": namespace}
    if event.annotations:
        metadata["annotations"] = dict(event.annotations)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": event.event_type or "Normal",
        "source": {"component": component},
        "firstTimestamp": when,
        "lastTimestamp": when,
        "eventTime": None,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": "",
    }
