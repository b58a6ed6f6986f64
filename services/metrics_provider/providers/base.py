"""The provider interface and its factory, the shape of KLT's ``KeptnSLIProvider`` and ``NewProvider``.

A provider answers two questions about a KeptnMetric: its single current value (``evaluate_query``) and,
for a metric with ``range.step``, every value in the range (``evaluate_query_for_step``). Errors are
``ProviderError`` whose message becomes the metric's ``errMsg``, worded as KLT words it, so third-party
exceptions (aiohttp, JSON) never leave the adapter. New vendors (datadog, dynatrace, dql, elastic)
register a builder under their type; nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from shared.keptn.resources import KeptnMetric, KeptnMetricsProvider
from shared.runtime.secrets import SecretSource


class ProviderError(Exception):
    """A fetch failed; ``str(error)`` is what the user sees in ``errMsg`` (never a secret)."""


class MetricsBackend(Protocol):
    async def evaluate_query(self, metric: KeptnMetric) -> tuple[str, bytes]:
        """The metric's one current value and the raw answer it came from."""
        ...

    async def evaluate_query_for_step(self, metric: KeptnMetric) -> tuple[list[str], bytes]:
        """Every value of the metric's range at ``range.step`` resolution, and the raw answer."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What every provider needs from the process: one HTTP session, secrets, the request timeout."""

    session: aiohttp.ClientSession
    secrets: SecretSource | None = None
    """Where Secrets are read (in the provider's namespace); they never travel on NATS."""
    timeout_s: float = 20.0
    """KLT gives every provider request 20 s (§6.2)."""
    clock: Callable[[], float] = field(default=time.time)
    """Seconds since the epoch; replaceable so tests can pin "now"."""


Builder = Callable[[KeptnMetricsProvider, ProviderContext], MetricsBackend]

_BUILDERS: dict[str, Builder] = {}


def register(types: tuple[str, ...], builder: Builder) -> None:
    """Make ``new_provider`` build ``builder`` for each of ``types`` (lowercase)."""
    for name in types:
        _BUILDERS[name] = builder


def supported_types() -> list[str]:
    return sorted(_BUILDERS)


def new_provider(provider: KeptnMetricsProvider, context: ProviderContext) -> MetricsBackend:
    """Build the backend for ``provider``'s type (its ``spec.type``, else its name — §1.13)."""
    builder = _BUILDERS.get(provider.provider_type)
    if builder is None:
        raise ProviderError(f"provider {provider.spec.type or provider.metadata.name} not supported")
    return builder(provider, context)
