"""Publishing klt messages to JetStream as CloudEvents 1.0 in binary mode (``ce-*`` headers, JSON data).

The message's deterministic id is both the CloudEvent ``id`` and ``Nats-Msg-Id``, so JetStream drops a
re-published duplicate inside its duplicate window and consumers can recognise one after it.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from nats.js import JetStreamContext

from shared.messages import AnyMessage, encoder

CLOUDEVENTS_SPEC = "1.0"


class HasMessageId(Protocol):
    @property
    def msg_id(self) -> str: ...


def now_rfc3339() -> str:
    """Current UTC time the way Kubernetes writes timestamps (second precision, ``Z``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cloudevent_headers(msg_id: str, ce_type: str, source: str, subject: str = "") -> dict[str, str]:
    headers = {
        "Nats-Msg-Id": msg_id,
        "ce-specversion": CLOUDEVENTS_SPEC,
        "ce-id": msg_id,
        "ce-type": ce_type,
        "ce-source": source,
        "ce-time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "content-type": "application/json",
    }
    if subject:
        headers["ce-subject"] = subject
    return headers


async def publish(
    js: JetStreamContext,
    subject: str,
    message: AnyMessage,
    msg_id: str,
    source: str,
    traceparent: str = "",
) -> None:
    """Publish one message and wait for JetStream's ack (so it is stored before we go on)."""
    ce_type = f"sh.keptn.klt.{type(message).__struct_config__.tag}"
    headers = cloudevent_headers(msg_id, ce_type, source, subject=subject)
    if traceparent:
        headers["traceparent"] = traceparent
    await js.publish(subject, encoder.encode(message), headers=headers)
