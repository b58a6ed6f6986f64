"""Where services read Kubernetes Secrets from: a task's ``SECURE_DATA`` and a metrics provider's key.

Secret values never travel on NATS (DESIGN §5): each service that needs one resolves it itself through a
``SecretSource``. Locally the source is a set of Secret manifests (files or folders, read fresh when a
file changes); in Kubernetes mode it is the API (``KubernetesSecretSource``). Values never appear in a
repr, a log line or an error.

Manifests are read by ``shared.manifests.load_secrets``, the same loader ``klt run`` uses, so a Secret
lands in the same namespace as the tasks next to it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


class KubernetesSecretSource:
    """Secrets read live from the Kubernetes API (Kubernetes mode): ``api`` is a kubernetes-asyncio
    ``ApiClient``. A value is kept at most ``max_age_s`` seconds, so a rotated Secret is seen within
    seconds while a burst of tasks costs one read; a missing Secret is never cached.

    Errors name the Secret and the API status, never a value (the response body is not included).
    """

    def __init__(
        self, api: Any, *, max_age_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        from kubernetes_asyncio.client import CoreV1Api

        self._core = CoreV1Api(api)
        self._max_age_s = max_age_s
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, SecretValues]] = {}

    def __repr__(self) -> str:
        return "KubernetesSecretSource()"

    async def get(self, namespace: str, name: str) -> Mapping[str, str] | None:
        from kubernetes_asyncio.client.exceptions import ApiException

        key = (namespace, name)
        now = self._clock()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < self._max_age_s:
            return cached[1]
        try:
            secret = await self._core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                self._cache.pop(key, None)
                return None
            raise SecretSourceError(
                f"Secret '{name}' in namespace '{namespace}' could not be read: {exc.status} {exc.reason}"
            ) from None
        except (OSError, TimeoutError) as exc:
            raise SecretSourceError(
                f"Secret '{name}' in namespace '{namespace}' could not be read: {type(exc).__name__}"
            ) from None
        values = SecretValues(_decode_secret_data(getattr(secret, "data", None) or {}))
        self._cache[key] = (now, values)
        return values


def _decode_secret_data(data: Mapping[str, str]) -> dict[str, str]:
    """A Secret's ``data`` is base64; task variables are strings (undecodable bytes kept as escapes)."""
    return {
        key: base64.b64decode(value or "").decode("utf-8", errors="surrogateescape")
        for key, value in data.items()
    }
