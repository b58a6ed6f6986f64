"""KLT's CloudEvents (klt-facts §8.4) built from the watcher's lifecycle facts, without I/O.

KLT's event sender POSTs, next to every Kubernetes Event, a CloudEvent to
``KeptnConfig.spec.cloudEventsEndpoint`` in HTTP *binary* mode: the attributes travel as ``ce-*``
headers and the body is the event's data, JSON ``{message, type, version, resource: {group, kind,
version, name, namespace}}``. ``source`` is ``keptn.sh`` and ``type`` is ``"<LongName>.<state>"``
(e.g. ``App Pre-Deployment Tasks.Started``). klt's ``ce-id`` is the fact's deterministic id (KLT uses a
random UUID), so a receiver can drop a fact that was delivered twice.

``Endpoints`` follows which endpoint is current: KLT pushes the values of whichever KeptnConfig it
reconciled last into one process-wide setting (§1.11); here the KeptnConfig changed last wins, and
deleting it falls back to the one changed before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from shared.keptn.resources import LIFECYCLE_GROUP, KeptnConfig
from shared.messages import LifecycleEvent

SPEC_VERSION = "1.0"
SOURCE = "keptn.sh"
"""KLT's CloudEvents ``source`` (§8.4)."""

CONTENT_TYPE = "application/json"

_VERSION_MARK = ", Version: "
_OBJECT_MARK = " / Namespace: "

_API_VERSION = "v1"
"""The API version of every kind the watcher reports on (KeptnAppVersion, KeptnWorkloadVersion,
KeptnTask, KeptnEvaluation): all ``lifecycle.keptn.sh/v1``."""

_encoder = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True, slots=True)
class CloudEventRequest:
    """One HTTP binary-mode CloudEvent: its headers and its JSON body."""

    headers: dict[str, str]
    body: bytes


def reported_version(event: LifecycleEvent) -> str:
    """The version KLT passes with the event (the parent's version, may be empty).

    The fact carries it only inside its message, which ``shared.phases.reporting`` writes as
    ``"<LongName>: <msg> / Namespace: <ns>, Name: <name>[, Version: <v>]"``; Kubernetes names cannot
    contain ``", "``, so the suffix after the object part is unambiguous."""
    _, found, tail = event.message.rpartition(_OBJECT_MARK)
    if not found:
        return ""
    _, found, version = tail.partition(_VERSION_MARK)
    return version if found else ""


def event_type(event: LifecycleEvent) -> str:
    """``"<LongName>.<state>"``; a fact without a long name (none is written so) falls back to its phase."""
    return f"{event.long_name or event.phase}.{event.state}"


def event_data(event: LifecycleEvent) -> dict[str, object]:
    """The data KLT sends (§8.4)."""
    return {
        "message": event.message,
        "type": event.event_type,
        "version": reported_version(event),
        "resource": {
            "group": LIFECYCLE_GROUP,
            "kind": event.kind,
            "version": _API_VERSION,
            "name": event.name,
            "namespace": event.namespace,
        },
    }


def to_cloudevent(event: LifecycleEvent) -> CloudEventRequest:
    """The binary-mode request for one lifecycle fact. ``ce-time`` is the fact's own time (when the
    watcher decided it), so a retried delivery still tells when it happened."""
    headers = {
        "ce-specversion": SPEC_VERSION,
        "ce-id": event.id,
        "ce-source": SOURCE,
        "ce-type": event_type(event),
        "content-type": CONTENT_TYPE,
    }
    if event.timestamp:
        headers["ce-time"] = event.timestamp
    return CloudEventRequest(headers=headers, body=_encoder.encode(event_data(event)))


@dataclass
class Endpoints:
    """The CloudEvents endpoint of the desired state's KeptnConfigs, the one changed last winning."""

    _by_key: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, config: KeptnConfig) -> None:
        self._by_key.pop(key, None)  # re-inserted last: it is now the most recent
        self._by_key[key] = config.spec.cloud_events_endpoint.strip()

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)

    @property
    def current(self) -> str:
        """The endpoint to post to; empty when none is configured (then nothing is sent)."""
        if not self._by_key:
            return ""
        return next(reversed(self._by_key.values()))
