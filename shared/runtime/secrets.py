"""Where services read Kubernetes Secrets from: a task's ``SECURE_DATA`` and a metrics provider's key.

Secret values never travel on NATS (DESIGN §5): each service that needs one resolves it itself through a
``SecretSource``. Locally the source is a set of Secret manifests (files or folders, read fresh when a
file changes); a Kubernetes source comes later. Values never appear in a repr, a log line or an error.

Manifests are read by ``shared.manifests.load_secrets``, the same loader ``klt run`` uses, so a Secret
lands in the same namespace as the tasks next to it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.manifests.errors import ManifestErrors
from shared.manifests.loading import load_secrets
from shared.manifests.reading import manifest_files

SECRETS_PATHS_ENV = "KLT_SECRETS_PATHS"
"""Files or folders of Secret manifests, separated by ``os.pathsep``."""
DEFAULT_NAMESPACE_ENV = "KLT_DEFAULT_NAMESPACE"
"""The namespace of a Secret manifest that names none (unset: as ``shared.manifests`` decides)."""


class SecretSourceError(Exception):
    """Secrets could not be read (a malformed manifest); the message names the file, never a value."""


class SecretValues(Mapping[str, str]):
    """A Secret's decoded values; its repr shows the keys only, so a stray log line leaks nothing."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"SecretValues(keys={sorted(self._values)!r})"

    __str__ = __repr__


class SecretSource(Protocol):
    async def get(self, namespace: str, name: str) -> Mapping[str, str] | None:
        """The decoded values of Secret ``namespace/name``, or None when there is no such Secret."""
        ...


_Stamp = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: _Stamp
    secrets: dict[tuple[str, str], dict[str, str]]


class LocalSecretSource:
    """Secrets from manifest files and folders, re-read whenever a file appears, goes or changes."""

    def __init__(self, paths: Sequence[str], default_namespace: str | None = None) -> None:
        self._paths = [p for p in paths if p]
        self._default_namespace = default_namespace or None
        self._loaded: _Loaded | None = None

    def __repr__(self) -> str:
        return f"LocalSecretSource(paths={self._paths!r})"

    def _stamp(self) -> _Stamp:
        files, _ = manifest_files(self._paths)
        stamp: list[tuple[str, int, int]] = []
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            stamp.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(stamp)

    def _lookup(self, namespace: str, name: str) -> dict[str, str] | None:
        stamp = self._stamp()
        loaded = self._loaded
        if loaded is None or loaded.stamp != stamp:
            try:
                secrets = load_secrets(self._paths, self._default_namespace)
            except ManifestErrors as exc:  # its messages name files and keys, never values
                raise SecretSourceError(str(exc)) from None
            loaded = self._loaded = _Loaded(stamp, secrets)
        return loaded.secrets.get((namespace, name))

    async def get(self, namespace: str, name: str) -> Mapping[str, str] | None:
        if not self._paths:
            return None
        values = await asyncio.to_thread(self._lookup, namespace, name)
        return None if values is None else SecretValues(values)


def local_secret_source(env: Mapping[str, str] | None = None) -> LocalSecretSource:
    """The local source configured by ``KLT_SECRETS_PATHS`` and ``KLT_DEFAULT_NAMESPACE``."""
    source = os.environ if env is None else env
    paths = [p for p in source.get(SECRETS_PATHS_ENV, "").split(os.pathsep) if p]
    return LocalSecretSource(paths, source.get(DEFAULT_NAMESPACE_ENV) or None)
