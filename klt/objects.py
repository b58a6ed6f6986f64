"""Decoding lifecycle objects read from the state bucket, and the small questions the CLI asks of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from shared.keptn.lifecycle import (
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkloadVersion,
    LifecycleObject,
)
from shared.keptn.states import KeptnState

DECODERS: dict[str, msgspec.json.Decoder[LifecycleObject]] = {
    "keptnappversion": msgspec.json.Decoder(KeptnAppVersion),
    "keptnworkloadversion": msgspec.json.Decoder(KeptnWorkloadVersion),
    "keptntask": msgspec.json.Decoder(KeptnTask),
    "keptnevaluation": msgspec.json.Decoder(KeptnEvaluation),
}

T = TypeVar("T", KeptnAppVersion, KeptnWorkloadVersion, KeptnTask, KeptnEvaluation)

TERMINAL = frozenset({KeptnState.SUCCEEDED, KeptnState.FAILED, KeptnState.DEPRECATED})


def decode_state_entry(key: str, value: bytes) -> LifecycleObject | None:
    """The object stored under ``key``, or None for kinds the CLI does not show (apps, workloads)."""
    decoder = DECODERS.get(key.split(".", 1)[0])
    return decoder.decode(value) if decoder else None


def overall_status(obj: LifecycleObject) -> KeptnState:
    if isinstance(obj, KeptnEvaluation):
        return obj.status.overall_status
    return obj.status.status


@dataclass
class Snapshot:
    """Every lifecycle object seen so far (latest revision wins), keyed by kind, namespace and name."""

    objects: dict[tuple[str, str, str], LifecycleObject] = field(default_factory=dict)

    def add(self, obj: LifecycleObject) -> LifecycleObject | None:
        """Record ``obj``; return the previous version of it (None when it is new)."""
        key = (obj.kind, obj.metadata.namespace, obj.metadata.name)
        previous = self.objects.get(key)
        self.objects[key] = obj
        return previous

    def of_kind(self, kind: type[T]) -> list[T]:
        """Objects of one kind, sorted by namespace and name."""
        found = [obj for obj in self.objects.values() if isinstance(obj, kind)]
        return sorted(found, key=lambda o: (o.metadata.namespace, o.metadata.name))

    def ordered(self) -> list[LifecycleObject]:
        """AppVersions, then WorkloadVersions, Tasks and Evaluations: the order of ``--output json``."""
        return [
            *self.of_kind(KeptnAppVersion),
            *self.of_kind(KeptnWorkloadVersion),
            *self.of_kind(KeptnTask),
            *self.of_kind(KeptnEvaluation),
        ]
