"""Kubernetes object metadata as klt keeps it, shared by every kind (open world: unknown keys ignored)."""

from __future__ import annotations

import msgspec


class OwnerReference(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Which object owns this one; klt uses it to find the parent of a task or evaluation."""

    api_version: str = ""
    kind: str
    name: str
    uid: str = ""
    controller: bool | None = None


class ObjectMeta(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """The subset of ``metadata`` klt reads and writes."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 1
    resource_version: str = ""
    creation_timestamp: str | None = None
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    owner_references: list[OwnerReference] = msgspec.field(default_factory=list)
