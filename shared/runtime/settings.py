"""Settings every service shares, read once from ``KLT_*`` environment variables.

Settings are closed world: an unknown ``KLT_`` variable of a known group is not silently ignored by the
service configs that extend this (they validate their own). Pass settings explicitly; there are no globals.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec


class SettingsError(ValueError):
    """An environment variable holds a value of the wrong type or range."""


class CommonSettings(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: str = "nats://127.0.0.1:4222"
    """``KLT_NATS_URL``: where the NATS server with JetStream listens."""
    prefix: str = "klt"
    """``KLT_PREFIX``: prefix of every subject, stream and bucket, so installations can share a server."""
    keptn_namespace: str = "keptn-system"
    """``KLT_KEPTN_NAMESPACE``: KLT's fallback namespace for definitions and metrics (klt-facts §0)."""
    stream_replicas: int = 1
    """``KLT_STREAM_REPLICAS``: JetStream replicas; 1 locally, 3 in a clustered NATS."""
    events_max_age_s: float = 7 * 24 * 3600
    """``KLT_EVENTS_MAX_AGE_S``: how long facts are kept on the events stream (seconds); a week by default,
    long enough for ``klt events`` to show a release's history, short enough to bound the disk."""
    log_level: str = "INFO"
    """``KLT_LOG_LEVEL``."""
    log_json: bool = False
    """``KLT_LOG_JSON``: one JSON object per log line, for log collectors."""


def read_env(env: Mapping[str, str] | None, prefix: str, fields: dict[str, type]) -> dict[str, object]:
    """Collect ``<prefix><FIELD>`` variables for the given field names, converted to the field types."""
    source = os.environ if env is None else env
    values: dict[str, object] = {}
    for field, kind in fields.items():
        raw = source.get(prefix + field.upper())
        if raw is None:
            continue
        try:
            if kind is bool:
                lowered = raw.strip().lower()
                if lowered not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(raw)
                values[field] = lowered in {"1", "true", "yes"}
            else:
                values[field] = kind(raw)
        except ValueError as exc:
            raise SettingsError(f"{prefix}{field.upper()}={raw!r} is not a valid {kind.__name__}") from exc
    return values


def field_types(settings_class: type[msgspec.Struct]) -> dict[str, type]:
    """The scalar type of each field of a settings struct, for ``read_env``."""
    return {f.name: f.type for f in msgspec.structs.fields(settings_class)}


def common_settings(env: Mapping[str, str] | None = None, **overrides: object) -> CommonSettings:
    """Build the shared settings from the environment, then apply explicit overrides (CLI flags)."""
    values = read_env(env, "KLT_", field_types(CommonSettings))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CommonSettings(**values)  # type: ignore[arg-type]
