"""The v1 JSON of a desired-state object, as the watcher keeps it in the desired KV bucket.

``encode_object``/``decode_object`` are exact inverses for every kind of ``KIND_TYPES`` except
Secret, which klt never stores or publishes (its values stay in the files, read by the runner).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from shared.keptn.workloads import Secret
from shared.manifests.converting import KIND_TYPES
from shared.manifests.model import ManifestSet

_ENCODER = msgspec.json.Encoder()
_DECODERS: dict[str, msgspec.json.Decoder[msgspec.Struct]] = {
    kind: msgspec.json.Decoder(model) for kind, model in KIND_TYPES.items()
}


class SecretNotStoredError(TypeError):
    """A Secret was about to be encoded for storage or publishing."""


def encode_object(obj: msgspec.Struct) -> bytes:
    """The object's JSON (camelCase, defaults left out except ``apiVersion`` and ``kind``, which are
    always written first so the stored form reads like a manifest). Refuses Secrets."""
    if isinstance(obj, Secret):
        raise SecretNotStoredError("Secrets are never stored or published by klt")
    body = msgspec.to_builtins(obj)
    head = {"apiVersion": getattr(obj, "api_version", None), "kind": getattr(obj, "kind", None)}
    return _ENCODER.encode({**{k: v for k, v in head.items() if v}, **body})


def decode_object(kind: str, data: bytes) -> msgspec.Struct:
    """The object of ``kind`` from its JSON; raises ``msgspec.ValidationError`` on a bad shape and
    ``KeyError`` for a kind klt does not keep."""
    if kind == "Secret":
        raise SecretNotStoredError("Secrets are never stored or published by klt")
    return _DECODERS[kind].decode(data)


def manifest_set_from_objects(items: Iterable[tuple[str, msgspec.Struct]]) -> ManifestSet:
    """Rebuild a ManifestSet from ``(kind, object)`` pairs (e.g. read back from KV); it has no sources."""
    result = ManifestSet()
    for _kind, obj in items:
        result.put(obj)
    return result
