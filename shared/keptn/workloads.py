"""Minimal models of the Kubernetes kinds klt reads next to KLT's own: Namespace, Secret, ConfigMap and
the workload kinds (Deployment, StatefulSet, DaemonSet, ReplicaSet).

Only the fields klt looks at are modelled; everything else is ignored (open world), so any valid
Kubernetes manifest of these kinds loads. One ``Workload`` model serves all four workload kinds: klt
reads the same parts of each (the pod template's metadata and containers, and ``replicas`` where the
kind has it — a DaemonSet has none).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from shared.keptn.meta import ObjectMeta

WORKLOAD_KINDS: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


class _Part(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Base for nested parts: camelCase names, defaults left out when written back."""


class Namespace(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A namespace; klt reads its annotations (``keptn.sh/lifecycle-toolkit: enabled``, §2.1)."""

    api_version: str = "v1"
    kind: str = "Namespace"
    metadata: ObjectMeta


class ConfigMap(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A ConfigMap; a task definition's ``configMapRef`` reads its ``code`` key (§4.3)."""

    api_version: str = "v1"
    kind: str = "ConfigMap"
    metadata: ObjectMeta
    data: dict[str, str] = msgspec.field(default_factory=dict)


class SecretDecodeError(ValueError):
    """A Secret's ``data`` entry is not base64 or not UTF-8 text. Carries the key, never the value."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(f"data.{key}: {reason}")


class Secret(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A Secret as written in a manifest: ``data`` (base64) and ``stringData`` (plain, wins over data).

    Its values must never reach NATS, logs or error messages: ``repr`` shows only the key names, and
    ``shared.manifests`` keeps Secrets out of everything it publishes."""

    api_version: str = "v1"
    kind: str = "Secret"
    metadata: ObjectMeta
    type: str = ""
    data: dict[str, str] = msgspec.field(default_factory=dict)
    string_data: dict[str, str] = msgspec.field(default_factory=dict)

    def __repr__(self) -> str:
        keys = sorted({*self.data, *self.string_data})
        return f"Secret(namespace={self.metadata.namespace!r}, name={self.metadata.name!r}, keys={keys!r})"

    __str__ = __repr__

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        """Rich pretty-printing shows names and keys only, like ``repr``."""
        return [
            ("namespace", self.metadata.namespace),
            ("name", self.metadata.name),
            ("keys", sorted({*self.data, *self.string_data})),
        ]

    def values(self) -> dict[str, str]:
        """The decoded values: ``data`` base64-decoded as UTF-8 text, overlaid by ``stringData`` (as the
        Kubernetes API merges them). Raises ``SecretDecodeError`` naming the bad key."""
        result: dict[str, str] = {}
        for key, encoded in self.data.items():
            try:
                raw = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise SecretDecodeError(key, "is not valid base64") from None
            try:
                result[key] = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise SecretDecodeError(key, "is not UTF-8 text") from None
        result.update(self.string_data)
        return result


class EnvVar(_Part, kw_only=True):
    """A container env entry; one with ``valueFrom`` has no ``value`` and counts as ``""`` (§2.2)."""

    name: str
    value: str = ""


class Container(_Part, kw_only=True):
    name: str
    image: str = ""
    env: list[EnvVar] = msgspec.field(default_factory=list)


class PodSpec(_Part, kw_only=True):
    containers: list[Container] = msgspec.field(default_factory=list)
    init_containers: list[Container] = msgspec.field(default_factory=list)


class PodTemplateMeta(_Part, kw_only=True):
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class PodTemplate(_Part, kw_only=True):
    metadata: PodTemplateMeta = msgspec.field(default_factory=PodTemplateMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)


class WorkloadSpec(_Part, kw_only=True):
    replicas: int | None = None
    """Desired pods; ``None`` when unset (Kubernetes then means 1) and always for a DaemonSet."""
    template: PodTemplate = msgspec.field(default_factory=PodTemplate)


class Workload(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """A Deployment, StatefulSet, DaemonSet or ReplicaSet (``kind`` says which)."""

    api_version: str = "apps/v1"
    kind: str
    metadata: ObjectMeta
    spec: WorkloadSpec = msgspec.field(default_factory=WorkloadSpec)

    @property
    def desired_replicas(self) -> int | None:
        """Desired pods: ``spec.replicas`` (default 1); ``None`` for a DaemonSet (one per node)."""
        if self.kind == "DaemonSet":
            return None
        return 1 if self.spec.replicas is None else self.spec.replicas
