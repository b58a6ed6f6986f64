"""Metric providers behind one small interface, chosen by a factory keyed by provider type (§6.2)."""

from services.metrics_provider.providers.base import (
    MetricsBackend,
    ProviderContext,
    ProviderError,
    new_provider,
    register,
    supported_types,
)
from shared.runtime.secrets import SecretSource

__all__ = [
    "MetricsBackend",
    "ProviderContext",
    "ProviderError",
    "SecretSource",
    "new_provider",
    "register",
    "supported_types",
]

# Importing a provider module registers it with the factory.
from services.metrics_provider.providers import prometheus as _prometheus  # noqa: F401
