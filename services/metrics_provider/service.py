"""The metrics-provider's NATS wiring: the only module of this service that touches NATS.

It mirrors KeptnMetrics and KeptnMetricsProviders from the desired-state bucket (a KV watch), keeps one
refresh loop per metric (``scheduling``), writes each result to the metrics bucket as KLT's status
(``status``) with compare-and-set, answers ``<prefix>.svc.metrics.fetch`` / ``.get`` requests, and serves
HTTP (``http_api``). Secrets are read here, in the provider's namespace (from Secret manifests locally,
from the Kubernetes API in Kubernetes mode), never sent over NATS.

Several replicas may run: each refreshes every metric (a duplicate fetch, not a wrong value, since every
write is a compare-and-set on the stored status), and the request endpoints are a queue group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
from aiohttp import web
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from services.metrics_provider.config import MetricsProviderConfig
from services.metrics_provider.fetching import fetch_metric
from services.metrics_provider.http_api import start_http
from services.metrics_provider.providers import ProviderContext, SecretSource
from services.metrics_provider.scheduling import MetricId, RefreshScheduler
from services.metrics_provider.status import (
    FetchOutcome,
    MetricStatus,
    apply_outcome,
    decode_status,
    encode_for_storage,
)
from shared.keptn.resources import KeptnMetric, KeptnMetricsProvider
from shared.runtime.natsio import (
    KV_VALUE_MAX_BYTES,
    RevisionConflictError,
    connect,
    ensure_topology,
    get_entry,
    list_entries,
    put_if,
)
from shared.runtime.publishing import now_rfc3339
from shared.runtime.secrets import LocalSecretSource
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, kind_prefix, object_key, untoken

log = logging.getLogger(__name__)

SERVICE_NAME = "klt-metrics-provider"
METRIC_KIND = "KeptnMetric"
PROVIDER_KIND = "KeptnMetricsProvider"
_CAS_ATTEMPTS = 10


class FetchRequest(msgspec.Struct, frozen=True):
    """Body of a ``metrics.fetch`` / ``metrics.get`` request."""

    namespace: str
    name: str


_request_decoder = msgspec.json.Decoder(FetchRequest)
_metric_decoder = msgspec.json.Decoder(KeptnMetric)
_provider_decoder = msgspec.json.Decoder(KeptnMetricsProvider)


def _error_reply(message: str, *, not_found: bool = False) -> bytes:
    body: dict[str, Any] = {"error": message}
    if not_found:
        body["notFound"] = True
    return msgspec.json.encode(body)


def _not_found(namespace: str, name: str) -> str:
    return f"KeptnMetric '{name}' not found in namespace '{namespace}'"


def _split_key(key: str) -> tuple[str, str] | None:
    """``<kind>.<ns>.<name>`` back to (namespace, name)."""
    parts = key.split(".")
    return (untoken(parts[1]), untoken(parts[2])) if len(parts) == 3 else None


class MetricsProvider:
    """The service's state: the mirrored definitions, the refresh loops and the storage rules."""

    def __init__(
        self,
        *,
        desired_kv: KeyValue,
        values_kv: KeyValue,
        context: ProviderContext,
        config: MetricsProviderConfig,
    ) -> None:
        self._desired_kv = desired_kv
        self._values_kv = values_kv
        self._context = context
        self._metrics: dict[MetricId, KeptnMetric] = {}
        self._providers: dict[MetricId, KeptnMetricsProvider] = {}
        self._limit = asyncio.Semaphore(config.fetch_concurrency)
        self.scheduler = RefreshScheduler(self.refresh, config.min_fetch_interval_s)

    # --- desired state --------------------------------------------------------------------------

    def on_provider(self, key: str, value: bytes | None) -> None:
        """A KeptnMetricsProvider was written (or deleted): metrics using it are fetched again now."""
        where = _split_key(key)
        if where is None:
            return
        if value is None:
            self._providers.pop(where, None)
        else:
            try:
                self._providers[where] = _provider_decoder.decode(value)
            except msgspec.DecodeError as exc:
                log.warning("KeptnMetricsProvider %s/%s is not readable and is ignored: %s", *where, exc)
                self._providers.pop(where, None)
        namespace, name = where
        self.scheduler.wake(
            [mid for mid, m in self._metrics.items() if mid[0] == namespace and m.spec.provider.name == name]
        )

    async def on_metric(self, key: str, value: bytes | None, *, initial: bool) -> None:
        """A KeptnMetric was written (start or restart its loop) or deleted (stop it, drop its value)."""
        where = _split_key(key)
        if where is None:
            return
        metric: KeptnMetric | None = None
        if value is not None:
            try:
                metric = _metric_decoder.decode(value)
            except msgspec.DecodeError as exc:
                log.warning("KeptnMetric %s/%s is not readable and is ignored: %s", *where, exc)
        if metric is None:
            self._metrics.pop(where, None)
            self.scheduler.remove(where)
            if not initial:
                await self._values_kv.delete(object_key(METRIC_KIND, *where))
            return
        self._metrics[where] = metric
        fingerprint = msgspec.json.encode(metric.spec)
        self.scheduler.upsert(where, metric.spec.fetch_interval_seconds, fingerprint)

    async def drop_orphan_values(self) -> None:
        """Delete stored values of KeptnMetrics that were deleted while no metrics-provider ran."""
        for key in await list_entries(self._values_kv, kind_prefix(METRIC_KIND)):
            where = _split_key(key)
            if where is not None and where not in self._metrics:
                await self._values_kv.delete(key)

    # --- fetching and storing -------------------------------------------------------------------

    async def refresh(self, metric_id: MetricId) -> None:
        """A scheduled fetch of one metric, with the definitions as last seen on the watch."""
        metric = self._metrics.get(metric_id)
        if metric is None:
            return
        provider = self._providers.get((metric_id[0], metric.spec.provider.name))
        await self.fetch_and_store(metric, provider)

    async def fetch_and_store(self, metric: KeptnMetric, provider: KeptnMetricsProvider | None) -> bytes:
        async with self._limit:
            outcome = await fetch_metric(metric, provider, self._context)
        return await self._store(metric, outcome)

    async def _store(self, metric: KeptnMetric, outcome: FetchOutcome) -> bytes:
        """Apply ``outcome`` to the stored status with compare-and-set; returns the stored JSON."""
        key = object_key(METRIC_KIND, metric.metadata.namespace, metric.metadata.name)
        for _ in range(_CAS_ATTEMPTS):
            entry = await get_entry(self._values_kv, key)
            previous = self._decode_stored(key, entry.value) if entry is not None else None
            status = apply_outcome(
                previous, outcome, metric.spec.range, metric.spec.provider.name, now_rfc3339()
            )
            encoded = encode_for_storage(status, KV_VALUE_MAX_BYTES)
            try:
                await put_if(self._values_kv, key, encoded, entry.revision if entry is not None else None)
            except RevisionConflictError:
                continue
            return encoded
        raise RuntimeError(
            f"KeptnMetric '{metric.metadata.name}': its value kept changing while being stored"
        )

    @staticmethod
    def _decode_stored(key: str, data: bytes) -> MetricStatus | None:
        try:
            return decode_status(data)
        except msgspec.DecodeError:
            log.warning("Stored value %s is not readable; it is replaced", key)
            return None

    async def _desired(self, kind: str, namespace: str, name: str) -> bytes | None:
        entry = await get_entry(self._desired_kv, object_key(kind, namespace, name))
        return entry.value if entry is not None else None

    # --- request/reply --------------------------------------------------------------------------

    async def handle_fetch(self, msg: Msg) -> None:
        """``metrics.fetch``: fetch one metric now (the evaluator asks when no value is stored yet)."""
        try:
            request = _request_decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            await msg.respond(_error_reply(f"bad request: {exc}"))
            return
        raw_metric = await self._desired(METRIC_KIND, request.namespace, request.name)
        if raw_metric is None:
            await msg.respond(_error_reply(_not_found(request.namespace, request.name), not_found=True))
            return
        try:
            metric = _metric_decoder.decode(raw_metric)
        except msgspec.DecodeError as exc:
            await msg.respond(_error_reply(f"KeptnMetric '{request.name}' is not readable: {exc}"))
            return
        raw_provider = await self._desired(PROVIDER_KIND, request.namespace, metric.spec.provider.name)
        provider: KeptnMetricsProvider | None = None
        if raw_provider is not None:
            try:
                provider = _provider_decoder.decode(raw_provider)
            except msgspec.DecodeError:
                provider = None
        await msg.respond(await self.fetch_and_store(metric, provider))

    async def handle_get(self, msg: Msg) -> None:
        """``metrics.get``: the stored status of one metric."""
        try:
            request = _request_decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            await msg.respond(_error_reply(f"bad request: {exc}"))
            return
        entry = await get_entry(self._values_kv, object_key(METRIC_KIND, request.namespace, request.name))
        if entry is None:
            await msg.respond(
                _error_reply(
                    f"{_not_found(request.namespace, request.name)} or not fetched yet", not_found=True
                )
            )
            return
        await msg.respond(entry.value)

    # --- MetricsView (HTTP) ---------------------------------------------------------------------

    async def metric_value(self, namespace: str, name: str) -> str | None:
        if await self._desired(METRIC_KIND, namespace, name) is None:
            return None
        entry = await get_entry(self._values_kv, object_key(METRIC_KIND, namespace, name))
        status = self._decode_stored(name, entry.value) if entry is not None else None
        return status.value if status is not None else ""

    async def all_values(self) -> list[tuple[str, str, str]]:
        stored = await list_entries(self._values_kv, kind_prefix(METRIC_KIND))
        values: list[tuple[str, str, str]] = []
        for namespace, name in list(self._metrics):
            entry = stored.get(object_key(METRIC_KIND, namespace, name))
            status = self._decode_stored(name, entry.value) if entry is not None else None
            values.append((namespace, name, status.value if status is not None else ""))
        return values


async def _watch(
    kv: KeyValue,
    key_filter: str,
    on_entry: Callable[[str, bytes | None, bool], Awaitable[None]],
    ready: asyncio.Event,
) -> None:
    """Feed every current and future entry under ``key_filter`` to ``on_entry``; set ``ready`` once the
    current ones were delivered (the watch's end-of-snapshot marker)."""
    watcher = await kv.watch(key_filter)
    try:
        async for entry in watcher:
            if entry is None:
                ready.set()
                continue
            deleted = entry.operation is not None or entry.value is None
            await on_entry(entry.key, None if deleted else entry.value, not ready.is_set())
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]


async def serve(
    common: CommonSettings,
    config: MetricsProviderConfig,
    stop: asyncio.Event,
    *,
    secrets: SecretSource | None = None,
) -> None:
    """Run the metrics-provider until ``stop`` is set (see the module docstring).

    ``secrets`` defaults to the Secret manifests named by ``config.secret_paths`` in local mode, and to
    the cluster's Secrets in Kubernetes mode (``config.kubernetes``).
    """
    async with contextlib.AsyncExitStack() as stack:
        if secrets is None and config.kubernetes:
            # Imported here: local mode never loads the Kubernetes client.
            from shared.runtime.kube import open_api_client
            from shared.runtime.secrets import KubernetesSecretSource

            api = await stack.enter_async_context(open_api_client(config.kubeconfig))
            secrets = KubernetesSecretSource(api)
            log.info("Metrics provider in Kubernetes mode: provider Secrets are read from the API")
        if secrets is None:
            secrets = LocalSecretSource(config.secret_paths, config.default_namespace)
        await _serve(common, config, stop, secrets)


async def _serve(
    common: CommonSettings, config: MetricsProviderConfig, stop: asyncio.Event, secrets: SecretSource
) -> None:
    names = Names(common.prefix)
    nc = await connect(common, SERVICE_NAME)
    try:
        js = nc.jetstream()
        await ensure_topology(js, common)
        desired_kv = await js.key_value(names.desired_bucket)
        values_kv = await js.key_value(names.metrics_bucket)
        async with aiohttp.ClientSession() as session:
            context = ProviderContext(session=session, secrets=secrets, timeout_s=config.query_timeout_s)
            service = MetricsProvider(
                desired_kv=desired_kv, values_kv=values_kv, context=context, config=config
            )
            runner = await _start_http(service, config) if config.http_port else None
            try:
                await _run(nc, names, service, desired_kv, config, stop)
            finally:
                if runner is not None:
                    await runner.cleanup()
    finally:
        await nc.drain()


async def _start_http(service: MetricsProvider, config: MetricsProviderConfig) -> web.AppRunner:
    try:
        return await start_http(service, config.http_host, config.http_port)
    except OSError as exc:
        raise RuntimeError(
            f"metrics-provider cannot listen on {config.http_host}:{config.http_port} ({exc}); "
            "set KLT_METRICS_PROVIDER_HTTP_PORT to a free port, or 0 to turn HTTP off"
        ) from exc


async def _run(
    nc: Client,
    names: Names,
    service: MetricsProvider,
    desired_kv: KeyValue,
    config: MetricsProviderConfig,
    stop: asyncio.Event,
) -> None:
    async with asyncio.TaskGroup() as tg:

        def spawn(handler: Callable[[Msg], Awaitable[None]]) -> Callable[[Msg], Awaitable[None]]:
            async def callback(msg: Msg) -> None:
                # A fetch can take the provider's full timeout: never hold the subscription's loop.
                tg.create_task(_answer(handler, msg))

            return callback

        async def on_provider(key: str, value: bytes | None, _initial: bool) -> None:
            service.on_provider(key, value)

        async def on_metric(key: str, value: bytes | None, initial: bool) -> None:
            await service.on_metric(key, value, initial=initial)

        providers_ready, metrics_ready = asyncio.Event(), asyncio.Event()
        watches = [
            tg.create_task(_watch(desired_kv, kind_prefix(PROVIDER_KIND), on_provider, providers_ready))
        ]
        subscriptions = []
        try:
            # Providers first, so the first fetch of every metric finds its provider.
            await _first_of(providers_ready, stop)
            watches.append(
                tg.create_task(_watch(desired_kv, kind_prefix(METRIC_KIND), on_metric, metrics_ready))
            )
            await _first_of(metrics_ready, stop)
            if metrics_ready.is_set():
                await service.drop_orphan_values()
            for verb, handler in (("fetch", service.handle_fetch), ("get", service.handle_get)):
                subscriptions.append(
                    await nc.subscribe(
                        names.service("metrics", verb), queue=config.request_queue, cb=spawn(handler)
                    )
                )
            await nc.flush()  # the endpoints exist on the server before "ready" is said
            log.info("metrics-provider ready (%s)", names.prefix)
            await stop.wait()
        finally:
            for sub in subscriptions:
                await sub.unsubscribe()
            for task in watches:
                task.cancel()
            await service.scheduler.close()


async def _answer(handler: Callable[[Msg], Awaitable[None]], msg: Msg) -> None:
    try:
        await handler(msg)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("metrics-provider request on %s failed", msg.subject)
        try:
            await msg.respond(_error_reply(f"metrics-provider failed: {exc}"))
        except Exception:
            log.debug("could not send the error reply", exc_info=True)


async def _first_of(event: asyncio.Event, stop: asyncio.Event) -> None:
    """Wait until ``event`` or ``stop`` is set."""
    waiters = [asyncio.create_task(event.wait()), asyncio.create_task(stop.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
