"""Exporting the lifecycle as OpenTelemetry traces (klt-facts §8.1): the I/O around ``tracing``.

``export_traces`` follows two buckets with KV watches of its own, so it never holds up the watcher's
work: the desired state's KeptnConfigs (the collector is ``spec.OTelCollectorUrl`` of the one changed
last, followed at runtime, issue 3) and the state bucket (every lifecycle object the watcher stores,
kept in an ``Index`` of its own so spans can find their parents). Each stored change is planned by
``tracing.plan`` and the spans not sent yet go to the collector.

Spans are built as finished ``ReadableSpan``s with the planned ids and times and handed straight to a
``BatchSpanProcessor`` with an OTLP gRPC exporter: no tracer provider or id generator is involved,
because klt never holds a span open. The instrumentation scope carries KLT's tracer names and the
resource is ``service.name=lifecycle-operator``, so dashboards built for KLT find the spans.

With no collector configured nothing is exported (KLT also does nothing at start-up; KLT switches to a
stdout exporter when the URL is removed later, klt simply stops exporting). A URL without a scheme,
as KLT documents it (``otel-collector:4317``), is used without TLS, as KLT does; ``https://`` uses TLS.

Restarts: each process sends a span once. At start-up the state bucket replays every stored object;
spans that ended more than ``resend_window_s`` ago are not sent again (the previous process did), more
recent ones are (it may have stopped before its batch went out). Ids are derived from uids, so such a
span is the same span again, not a second tree. On stop, changes still arriving are traced until the
watch is quiet, then the batch is flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from importlib import metadata

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from services.watcher.index import Index, Key, decode_stored, key_from_entry, key_of
from services.watcher.tracing import PlannedSpan, plan
from shared.keptn.resources import KeptnConfig
from shared.manifests import decode_object
from shared.subjects import Names, kind_prefix

log = logging.getLogger(__name__)

SERVICE_NAME = "lifecycle-operator"
"""KLT's ``service.name``, kept for dashboard compatibility (§8.1)."""
RESEND_WINDOW_S = 600.0
"""Spans that ended this recently are sent again at start-up: long enough to cover a crash and restart
before the last batch went out, short enough not to resend a day of history on every restart."""
EXPORT_DELAY_S = 1.0
"""Longest a finished span waits for its batch (the SDK's default is 5 s): a lifecycle shows up in the
trace backend about as fast as in ``klt get``, and a batch still carries many spans under load."""
EXPORT_TIMEOUT_S = 5.0
"""Per export call to the collector: a dead collector delays the flush on stop by at most this."""


def klt_resource() -> Resource:
    try:
        version = metadata.version("klt")
    except metadata.PackageNotFoundError:
        version = "dev"
    return Resource.create({"service.name": SERVICE_NAME, "service.version": version})


def otlp_exporter(endpoint: str) -> SpanExporter:
    """An OTLP gRPC exporter to ``endpoint`` (``host:port`` or ``http(s)://host:port``)."""
    return OTLPSpanExporter(
        endpoint=endpoint, insecure=not endpoint.startswith("https://"), timeout=EXPORT_TIMEOUT_S
    )


def batch_processor(exporter: SpanExporter) -> SpanProcessor:
    return BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_S * 1000)


def to_readable(span: PlannedSpan, resource: Resource) -> ReadableSpan:
    """The finished SDK span for a planned one, with its own ids, times and KLT's tracer as scope."""
    sampled = TraceFlags(TraceFlags.SAMPLED)
    context = SpanContext(span.trace_id, span.span_id, is_remote=False, trace_flags=sampled)
    parent = (
        None
        if span.parent_span_id is None
        else SpanContext(span.trace_id, span.parent_span_id, is_remote=False, trace_flags=sampled)
    )
    links = [
        Link(SpanContext(link.trace_id, link.span_id, is_remote=True, trace_flags=sampled), link.attributes)
        for link in span.links
    ]
    # OpenTelemetry keeps a description only on Error (KLT's "Succeeded"/"Finished" are dropped too).
    status = Status(StatusCode.OK) if span.ok else Status(StatusCode.ERROR, span.status_description)
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=dict(span.attributes),
        events=[Event(event.name, dict(event.attributes), event.time_ns) for event in span.events],
        links=links,
        kind=SpanKind.CONSUMER,
        status=status,
        start_time=span.start_ns,
        end_time=span.end_ns,
        instrumentation_scope=InstrumentationScope(span.tracer),
    )


class SpanSink:
    """Where finished spans go: the processor for the current collector, replaced when it changes."""

    def __init__(
        self,
        resource: Resource,
        exporter_for: Callable[[str], SpanExporter] = otlp_exporter,
        processor_for: Callable[[SpanExporter], SpanProcessor] = batch_processor,
    ) -> None:
        self.resource = resource
        self.exporter_for = exporter_for
        self.processor_for = processor_for
        self.endpoint = ""
        self._processor: SpanProcessor | None = None

    async def point_at(self, endpoint: str) -> None:
        """Send from now on to ``endpoint`` (empty: nowhere); what was queued for the old one is flushed
        to it first."""
        endpoint = endpoint.strip()
        if endpoint == self.endpoint:
            return
        old, self._processor, self.endpoint = self._processor, None, endpoint
        if endpoint:
            self._processor = self.processor_for(self.exporter_for(endpoint))
            log.info("Traces are exported to the OTLP collector at %s", endpoint)
        else:
            log.info("No OTelCollectorUrl is configured: traces are not exported")
        if old is not None:
            await asyncio.to_thread(old.shutdown)

    def emit(self, spans: list[PlannedSpan]) -> None:
        if self._processor is None:
            return
        for span in spans:
            self._processor.on_end(to_readable(span, self.resource))

    async def close(self) -> None:
        if self._processor is not None:
            processor, self._processor = self._processor, None
            await asyncio.to_thread(processor.shutdown)


class StateTracer:
    """The state bucket as this follower sees it, and which spans it already sent."""

    def __init__(self, sink: SpanSink, resend_window_s: float = RESEND_WINDOW_S) -> None:
        self.sink = sink
        self.index = Index()
        self.resend_window_s = resend_window_s
        self._sent: dict[Key, set[int]] = {}

    def stored(self, obj: object, revision: int) -> None:
        self.index.put(obj, revision)
        key = key_of(obj)
        sent = self._sent.setdefault(key, set())
        oldest = time.time_ns() - int(self.resend_window_s * 1e9)
        fresh = [span for span in plan(obj, self.index) if span.span_id not in sent and span.end_ns >= oldest]
        sent.update(span.span_id for span in fresh)
        self.sink.emit(fresh)

    def deleted(self, key: Key) -> None:
        self.index.forget(key)
        self._sent.pop(key, None)


async def _follow_configs(kv: KeyValue, sink: SpanSink, ready: asyncio.Event) -> None:
    """Point ``sink`` at the ``OTelCollectorUrl`` of the KeptnConfig changed last; ``ready`` once the
    initial values are in (so the first spans already go to a configured collector)."""
    urls: dict[str, str] = {}
    watcher = await kv.watch(kind_prefix("KeptnConfig"))
    try:
        while True:
            try:
                entry = await watcher.updates(timeout=5.0)  # type: ignore[no-untyped-call]
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            if entry is None:
                await sink.point_at(next(reversed(urls.values()), ""))
                ready.set()
                continue
            urls.pop(entry.key, None)  # re-inserted last when still there: it is now the most recent
            if entry.value is not None and entry.operation is None:
                try:
                    config = decode_object("KeptnConfig", entry.value)
                except (msgspec.DecodeError, KeyError) as exc:
                    log.warning("Ignoring the unreadable KeptnConfig %s: %s", entry.key, exc)
                    continue
                if isinstance(config, KeptnConfig):
                    urls[entry.key] = config.spec.otel_collector_url
            if ready.is_set():
                await sink.point_at(next(reversed(urls.values()), ""))
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]


async def _follow_state(
    kv: KeyValue, tracer: StateTracer, stop: asyncio.Event, quiet_s: float, flush_s: float
) -> None:
    """Trace every stored change until ``stop``, then until the watch is quiet (at most ``flush_s``)."""
    watcher = await kv.watchall()
    loop = asyncio.get_running_loop()
    stopped_at: float | None = None
    try:
        while True:
            if stop.is_set() and stopped_at is None:
                stopped_at = loop.time()
            if stopped_at is not None and loop.time() - stopped_at > flush_s:
                return
            try:
                entry = await watcher.updates(timeout=quiet_s if stop.is_set() else 0.5)  # type: ignore[no-untyped-call]
            except (nats.errors.TimeoutError, TimeoutError):
                if stop.is_set():
                    return
                continue
            if entry is None:
                continue
            if entry.value is None or entry.operation is not None:
                key = key_from_entry(entry.key)
                if key is not None:
                    tracer.deleted(key)
                continue
            try:
                obj = decode_stored(entry.key, entry.value)
            except msgspec.DecodeError:
                continue  # the watcher itself logs unreadable entries
            if obj is not None:
                tracer.stored(obj, entry.revision or 0)
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]


async def export_traces(
    js: JetStreamContext,
    names: Names,
    stop: asyncio.Event,
    *,
    sink: SpanSink | None = None,
    resend_window_s: float = RESEND_WINDOW_S,
    quiet_s: float = 0.3,
    flush_s: float = 3.0,
) -> None:
    """Export the lifecycle stored under ``names`` as traces to the configured collector until ``stop``
    (then the changes still arriving, and a final flush)."""
    sink = sink or SpanSink(klt_resource())
    desired = await js.key_value(names.desired_bucket)
    state = await js.key_value(names.state_bucket)
    ready = asyncio.Event()
    try:
        async with asyncio.TaskGroup() as group:
            configs = group.create_task(_follow_configs(desired, sink, ready), name="otel-config-follow")
            waits = [group.create_task(ready.wait()), group.create_task(stop.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            if ready.is_set():
                tracer = StateTracer(sink, resend_window_s)
                await _follow_state(state, tracer, stop, quiet_s, flush_s)
            configs.cancel()
    finally:
        await sink.close()
