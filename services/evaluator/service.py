"""The evaluator's NATS wiring: the only module of this service that touches NATS.

It consumes ``RunEvaluation`` commands from the shared ``evaluator`` durable, loads the
KeptnEvaluationDefinition from the desired-state bucket, reads KeptnMetric values from the metrics
bucket (asking the metrics-provider to fetch one on demand when none is stored yet), and publishes
``EvaluationProgressed`` after each unfinished round and ``EvaluationFinished`` at the end. Between
rounds the progress is stored in the evaluation-runs bucket with compare-and-set and the command is
held with heartbeats, so a crash or a redelivery resumes the evaluation at the round it had reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from services.evaluator.config import EvaluatorConfig
from services.evaluator.handlers import (
    EvaluationProgress,
    MetricReading,
    evaluate_round,
    fail,
    finished_event,
    metric_namespaces,
    pending_objectives,
    progress_decoder,
    progress_encoder,
    progressed_event,
    start,
)
from shared.durations import DurationError, parse_duration
from shared.keptn.resources import KeptnEvaluationDefinition, MetricRef
from shared.messages import RunEvaluation, command_decoder
from shared.runtime.natsio import (
    RevisionConflictError,
    connect,
    ensure_topology,
    ensure_work_consumer,
    get_entry,
    put_if,
)
from shared.runtime.outcomes import PermanentError, TemporaryError
from shared.runtime.publishing import now_rfc3339, publish
from shared.runtime.serving import consume
from shared.runtime.settings import CommonSettings
from shared.runtime.waiting import wait_set
from shared.subjects import Names, object_key

log = logging.getLogger(__name__)

SOURCE = "klt/evaluator"
"""CloudEvents ``source`` of the facts this service publishes."""
_NO_RESPONDER_PAUSE_S = 0.2
_HANDBACK_MIN_S = 1.0


class _MetricAnswer(msgspec.Struct, kw_only=True, rename="camel"):
    """The parts of a stored KeptnMetric status (or a metrics-provider reply) the evaluator reads."""

    value: str = ""
    err_msg: str = ""
    error: str = ""
    not_found: bool = False


_answer_decoder = msgspec.json.Decoder(_MetricAnswer)
_definition_decoder = msgspec.json.Decoder(KeptnEvaluationDefinition)


def _decode(msg: Msg) -> RunEvaluation:
    try:
        command = command_decoder.decode(msg.data)
    except msgspec.DecodeError as exc:
        raise PermanentError(f"the command on {msg.subject} cannot be decoded: {exc}") from None
    if not isinstance(command, RunEvaluation):
        raise PermanentError(
            f"the command on {msg.subject} is a {type(command).__name__}, not a RunEvaluation"
        )
    return command


class Evaluator:
    """Runs one ``RunEvaluation`` command at a time per call of ``handle``; many calls run concurrently."""

    def __init__(
        self,
        *,
        nc: Client,
        js: JetStreamContext,
        names: Names,
        keptn_namespace: str,
        config: EvaluatorConfig,
        desired_kv: KeyValue,
        runs_kv: KeyValue,
        metrics_kv: KeyValue,
        stop: asyncio.Event,
    ) -> None:
        self.nc = nc
        self.js = js
        self.names = names
        self.keptn_namespace = keptn_namespace
        self.config = config
        self.desired_kv = desired_kv
        self.runs_kv = runs_kv
        self.metrics_kv = metrics_kv
        self.stop = stop

    async def handle(self, msg: Msg) -> None:
        command = _decode(msg)
        traceparent = (msg.headers or {}).get("traceparent", "")
        try:
            await self.run(command, traceparent)
        except asyncio.CancelledError:
            # Stopping past the grace period: hand the command back now; the stored progress lets
            # whoever gets it next resume at the same round.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(msg.nak(), 2.0)
            raise

    async def run(self, command: RunEvaluation, traceparent: str = "") -> None:
        """Drive one evaluation to its end, resuming from the stored progress."""
        what = f"KeptnEvaluation '{command.name}' in namespace '{command.namespace}'"
        key = object_key("KeptnEvaluation", command.namespace, command.name)
        resuming = True
        while True:
            entry = await get_entry(self.runs_kv, key)
            progress = self._decode_progress(key, entry.value, command.uid) if entry is not None else None
            revision = entry.revision if entry is not None else None
            if progress is None:
                progress = start(command, now_rfc3339())
            if progress.finished:
                await self._publish_finished(command, progress, traceparent)
                return
            if resuming and progress.retry_count > 0:
                # A redelivery after a crash: the last round's fact may not have gone out (publishing
                # it again is harmless, its id is deterministic).
                log.info("%s resumes after round %d", what, progress.retry_count)
                await self._publish_progressed(command, progress, traceparent)
            resuming = False
            try:
                retry_interval = parse_duration(command.retry_interval)
            except DurationError as exc:
                progress = fail(progress, f"{what}: retryInterval: {exc}", now_rfc3339())
            else:
                await self._wait_until(progress.next_round_at, what)
                definition = await self._definition(command)
                readings = await self._read_metrics(definition, progress, command.namespace)
                progress = evaluate_round(
                    definition,
                    progress,
                    readings,
                    retries=command.retries,
                    now=now_rfc3339(),
                    next_round_at=time.time() + max(retry_interval, 0.0),
                )
            try:
                await put_if(self.runs_kv, key, progress_encoder.encode(progress), revision)
            except RevisionConflictError:
                log.info("%s was advanced elsewhere; reading its progress again", what)
                continue
            if progress.finished:
                log.info(
                    "%s %s after %d round(s)", what, progress.overall_status.lower(), progress.retry_count
                )
                await self._publish_finished(command, progress, traceparent)
                return
            log.debug("%s round %d of %d not met yet", what, progress.retry_count, command.retries)
            await self._publish_progressed(command, progress, traceparent)

    def _decode_progress(self, key: str, data: bytes, uid: str) -> EvaluationProgress | None:
        """The stored progress of this evaluation; None for another object of the same name or garbage."""
        try:
            progress = progress_decoder.decode(data)
        except msgspec.DecodeError:
            log.warning("The progress record %s is unreadable; the evaluation starts over", key)
            return None
        return progress if progress.uid == uid else None

    async def _publish_progressed(
        self, command: RunEvaluation, progress: EvaluationProgress, traceparent: str
    ) -> None:
        event = progressed_event(command, progress)
        subject = self.names.event("evaluation", "progressed", command.namespace, command.name)
        await publish(self.js, subject, event, event.msg_id, SOURCE, traceparent)

    async def _publish_finished(
        self, command: RunEvaluation, progress: EvaluationProgress, traceparent: str
    ) -> None:
        event = finished_event(command, progress)
        subject = self.names.event("evaluation", "finished", command.namespace, command.name)
        await publish(self.js, subject, event, event.msg_id, SOURCE, traceparent)

    async def _wait_until(self, due: float, what: str) -> None:
        """Sleep until the next round is due. When the service is stopping, hand the command back
        instead, due at the same time (at least ``_HANDBACK_MIN_S`` away, so that a fetch this process
        still has in flight does not take it straight back)."""
        remaining = due - time.time()
        if remaining > 0 and not self.stop.is_set() and not await wait_set(self.stop, remaining):
            return
        if self.stop.is_set():
            delay = max(_HANDBACK_MIN_S, due - time.time())
            raise TemporaryError(f"{what} paused for shutdown", delay_s=delay)

    async def _definition(self, command: RunEvaluation) -> KeptnEvaluationDefinition:
        """The definition from the evaluation's namespace, then the Keptn namespace (§5)."""
        for namespace in dict.fromkeys([command.namespace, self.keptn_namespace]):
            entry = await get_entry(
                self.desired_kv,
                object_key("KeptnEvaluationDefinition", namespace, command.evaluation_definition),
            )
            if entry is None:
                continue
            try:
                return _definition_decoder.decode(entry.value)
            except msgspec.DecodeError as exc:
                raise TemporaryError(
                    f"KeptnEvaluationDefinition '{command.evaluation_definition}' in namespace '{namespace}' "
                    f"is not readable: {exc}",
                    delay_s=self.config.definition_retry_s,
                ) from None
        raise TemporaryError(
            f"KeptnEvaluationDefinition '{command.evaluation_definition}' of KeptnEvaluation "
            f"'{command.name}' not found in namespace '{command.namespace}' or '{self.keptn_namespace}'",
            delay_s=self.config.definition_retry_s,
        )

    async def _read_metrics(
        self, definition: KeptnEvaluationDefinition, progress: EvaluationProgress, namespace: str
    ) -> dict[str, MetricReading]:
        objectives = pending_objectives(definition, progress)
        readings = await asyncio.gather(
            *(self._read_metric(o.keptn_metric_ref, namespace) for o in objectives)
        )
        return {o.keptn_metric_ref.name: r for o, r in zip(objectives, readings, strict=True)}

    async def _read_metric(self, ref: MetricRef, evaluation_namespace: str) -> MetricReading:
        """The stored value of the first namespace that has the KeptnMetric; with no value stored yet,
        the metrics-provider fetches it now."""
        namespaces = metric_namespaces(ref, evaluation_namespace, self.keptn_namespace)
        for namespace in namespaces:
            entry = await get_entry(self.metrics_kv, object_key("KeptnMetric", namespace, ref.name))
            if entry is not None:
                with contextlib.suppress(msgspec.DecodeError):
                    stored = _answer_decoder.decode(entry.value)
                    if stored.value:
                        return MetricReading(value=stored.value)
            answer = await self._fetch_now(namespace, ref.name)
            if answer.not_found:
                continue
            return MetricReading(value=answer.value, error=answer.error or answer.err_msg)
        where = "' or '".join(namespaces)
        return MetricReading(error=f"KeptnMetric '{ref.name}' not found in namespace '{where}'")

    async def _fetch_now(self, namespace: str, name: str) -> _MetricAnswer:
        """Ask the metrics-provider to fetch now. A metrics-provider that is still starting (no responder
        yet, as when ``klt run`` starts every service at once) is asked again until the timeout."""
        request = msgspec.json.encode({"namespace": namespace, "name": name})
        subject = self.names.service("metrics", "fetch")
        timeout = self.config.fetch_timeout_s
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                reply = await self.nc.request(subject, request, timeout=max(remaining, 0.1))
                break
            except nats.errors.NoRespondersError:
                if remaining <= _NO_RESPONDER_PAUSE_S:
                    return _MetricAnswer(error="no metrics-provider is running")
                await asyncio.sleep(_NO_RESPONDER_PAUSE_S)
            except (nats.errors.TimeoutError, TimeoutError):
                return _MetricAnswer(error=f"the metrics-provider did not answer within {timeout:g}s")
        try:
            return _answer_decoder.decode(reply.data)
        except msgspec.DecodeError as exc:
            return _MetricAnswer(error=f"the metrics-provider's answer is not readable: {exc}")


async def serve(common: CommonSettings, config: EvaluatorConfig, stop: asyncio.Event) -> None:
    """Run evaluations from the shared ``evaluator`` consumer until ``stop`` is set, then drain."""
    names = Names(common.prefix)
    nc = await connect(common, "klt-evaluator")
    try:
        js = nc.jetstream()
        await ensure_topology(js, common)
        evaluator = Evaluator(
            nc=nc,
            js=js,
            names=names,
            keptn_namespace=common.keptn_namespace,
            config=config,
            desired_kv=await js.key_value(names.desired_bucket),
            runs_kv=await js.key_value(names.evaluation_runs_bucket),
            metrics_kv=await js.key_value(names.metrics_bucket),
            stop=stop,
        )
        subscription = await ensure_work_consumer(
            js,
            names.commands_stream,
            names.evaluator_consumer,
            [names.commands_of("evaluation")],
            ack_wait_s=config.ack_wait_s,
            max_deliver=config.max_deliver,
        )
        log.info("evaluator ready (%s)", names.prefix)
        await consume(
            subscription,
            evaluator.handle,
            stop,
            concurrency=config.concurrency,
            heartbeat_s=config.heartbeat_s,
            grace_s=config.stop_grace_s,
            what="evaluation command",
        )
    finally:
        await nc.drain()
