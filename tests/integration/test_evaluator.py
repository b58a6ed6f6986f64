"""The evaluator with the metrics-provider, a real nats-server and a real Prometheus (klt-facts §5)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.kv import KeyValue

from services.evaluator.config import evaluator_config
from services.evaluator.service import serve as serve_evaluator
from services.metrics_provider.config import metrics_provider_config
from services.metrics_provider.service import serve as serve_metrics_provider
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    KeptnEvaluationDefinition,
    KeptnEvaluationDefinitionSpec,
    KeptnMetric,
    KeptnMetricSpec,
    KeptnMetricsProvider,
    KeptnMetricsProviderSpec,
    MetricRef,
    NameRef,
    Objective,
)
from shared.keptn.states import CheckType, KeptnState
from shared.messages import EvaluationFinished, EvaluationProgressed, RunEvaluation, worker_event_decoder
from shared.runtime.natsio import get_entry
from shared.runtime.publishing import publish
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key
from tests.support.natsfix import nats_client
from tests.support.prometheus import CPU_QUERY, PrometheusHandle

NS = "default"
_uids = itertools.count(1)


class Harness:
    """Desired state in, evaluation events out, for one test's prefix."""

    def __init__(self, settings: CommonSettings, nc: Client, prometheus: PrometheusHandle) -> None:
        self.settings = settings
        self.names = Names(settings.prefix)
        self.nc = nc
        self.js = nc.jetstream()
        self.prometheus = prometheus
        self.events: asyncio.Queue[EvaluationProgressed | EvaluationFinished] = asyncio.Queue()
        self.desired: KeyValue
        self.values: KeyValue

    async def start(self) -> None:
        self.desired = await self.js.key_value(self.names.desired_bucket)
        self.values = await self.js.key_value(self.names.metrics_bucket)

        async def on_event(msg: Msg) -> None:
            event = worker_event_decoder.decode(msg.data)
            assert isinstance(event, EvaluationProgressed | EvaluationFinished)
            await self.events.put(event)

        await self.nc.subscribe(self.names.events_of("evaluation"), cb=on_event)
        await self.put(
            KeptnMetricsProvider(
                metadata=ObjectMeta(name="prom", namespace=NS),
                spec=KeptnMetricsProviderSpec(type="prometheus", target_server=self.prometheus.url),
            )
        )

    async def put(self, obj: msgspec.Struct) -> None:
        kind, meta = obj.kind, obj.metadata  # type: ignore[attr-defined]
        await self.desired.put(object_key(kind, meta.namespace, meta.name), msgspec.json.encode(obj))

    async def metric(self, name: str, query: str = CPU_QUERY, interval: int = 1, namespace: str = NS) -> None:
        await self.put(
            KeptnMetric(
                metadata=ObjectMeta(name=name, namespace=namespace),
                spec=KeptnMetricSpec(
                    provider=NameRef(name="prom"), query=query, fetch_interval_seconds=interval
                ),
            )
        )

    async def definition(self, name: str, *targets: tuple[str, str], namespace: str = NS) -> None:
        objectives = [Objective(keptn_metric_ref=MetricRef(name=m), evaluation_target=t) for m, t in targets]
        await self.put(
            KeptnEvaluationDefinition(
                metadata=ObjectMeta(name=name, namespace=namespace),
                spec=KeptnEvaluationDefinitionSpec(objectives=objectives),
            )
        )

    async def evaluate(
        self, definition: str, retries: int = 3, retry_interval: str = "0.2s"
    ) -> RunEvaluation:
        command = RunEvaluation(
            namespace=NS,
            name=f"pre-eval-{definition}-{next(_uids)}",
            uid=f"uid-{next(_uids)}",
            evaluation_definition=definition,
            check_type=CheckType.PRE_EVAL,
            retries=retries,
            retry_interval=retry_interval,
        )
        subject = self.names.command("evaluation", "run", command.namespace, command.name)
        await publish(self.js, subject, command, command.msg_id, "test")
        return command

    async def finished(
        self, command: RunEvaluation, timeout_s: float = 20.0
    ) -> tuple[list[int], EvaluationFinished]:
        """The retry counts of the progressed events and the finished event of ``command``."""
        progressed: list[int] = []
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.events.get()
                if event.uid != command.uid:
                    await self.events.put(event)
                    await asyncio.sleep(0.01)
                    continue
                if isinstance(event, EvaluationFinished):
                    return progressed, event
                progressed.append(event.retry_count)

    async def next_progress(self, command: RunEvaluation) -> EvaluationProgressed:
        async with asyncio.timeout(20):
            while True:
                event = await self.events.get()
                if event.uid == command.uid and isinstance(event, EvaluationProgressed):
                    return event


@contextlib.asynccontextmanager
async def service(settings: CommonSettings, which: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    if which == "evaluator":
        # A missing definition is looked for again after 0.2 s instead of KLT's 10 s.
        config = evaluator_config({}, definition_retry_s=0.2)
        task = asyncio.create_task(serve_evaluator(settings, config, stop))
    else:
        config = metrics_provider_config({}, http_port=0)
        task = asyncio.create_task(serve_metrics_provider(settings, config, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)


@contextlib.asynccontextmanager
async def harness(
    settings: CommonSettings, prometheus: PrometheusHandle, *, evaluator: bool = True
) -> AsyncIterator[Harness]:
    async with nats_client(settings) as nc:
        h = Harness(settings, nc, prometheus)
        await h.start()
        async with service(settings, "metrics-provider"):
            if evaluator:
                async with service(settings, "evaluator"):
                    yield h
            else:
                yield h


async def test_target_met_succeeds_with_the_cpu_count(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with harness(klt_settings, prometheus) as h:
        await h.metric("available-cpus")
        await h.definition("cpus-exist", ("available-cpus", ">0"))
        progressed, finished = await h.finished(await h.evaluate("cpus-exist"))
    cpus = str(prometheus.cpu_count)
    assert progressed == []
    assert finished.overall_status == KeptnState.SUCCEEDED
    assert finished.retry_count == 1
    item = finished.evaluation_status["available-cpus"]
    assert (item.value, item.status, item.message) == (
        cpus,
        KeptnState.SUCCEEDED,
        f"value '{cpus}' met objective '>0'",
    )
    assert finished.start_time
    assert finished.end_time
    assert finished.message == ""


async def test_unmet_target_fails_after_its_retries(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with harness(klt_settings, prometheus) as h:
        await h.metric("available-cpus")
        await h.definition("too-many-cpus", ("available-cpus", ">1000"))
        progressed, finished = await h.finished(
            await h.evaluate("too-many-cpus", retries=3, retry_interval="0.2s")
        )
    cpus = str(prometheus.cpu_count)
    assert progressed == [1, 2]
    assert finished.overall_status == KeptnState.FAILED
    assert finished.retry_count == 3
    assert finished.message == (
        "evaluation failed\n"
        f"evaluation of 'available-cpus' failed with value: '{cpus}' and reason: "
        f"'value '{cpus}' did not meet objective '>1000''"
    )


async def test_a_passed_objective_stays_passed_across_retries(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    gauge_a, gauge_b = f"{klt_settings.prefix}_sticky_a", f"{klt_settings.prefix}_sticky_b"
    prometheus.set_value(gauge_a, 10)
    prometheus.set_value(gauge_b, 0)
    await prometheus.wait_for_value(gauge_a, 10)
    await prometheus.wait_for_value(gauge_b, 0)
    async with harness(klt_settings, prometheus) as h:
        await h.metric("a", query=gauge_a)
        await h.metric("b", query=gauge_b)
        await h.definition("sticky", ("a", ">5"), ("b", ">0"))
        command = await h.evaluate("sticky", retries=60, retry_interval="0.3s")
        first = await h.next_progress(command)
        assert first.evaluation_status["a"].status == KeptnState.SUCCEEDED
        assert first.evaluation_status["b"].status == KeptnState.FAILED
        # "a" now misses its target; only once klt has seen that does "b" start to meet its own.
        prometheus.set_value(gauge_a, 0)
        await wait_value(h.values, "a", "0")
        prometheus.set_value(gauge_b, 1)
        _, finished = await h.finished(command)
    assert finished.overall_status == KeptnState.SUCCEEDED
    assert finished.retry_count >= 2
    assert finished.evaluation_status["a"].status == KeptnState.SUCCEEDED
    assert finished.evaluation_status["a"].value == "10"  # from the round in which it passed
    assert finished.evaluation_status["b"].value == "1"


async def wait_value(values: KeyValue, name: str, expected: str) -> None:
    async with asyncio.timeout(15):
        while True:
            entry = await get_entry(values, object_key("KeptnMetric", NS, name))
            if entry is not None and json.loads(entry.value)["value"] == expected:
                return
            await asyncio.sleep(0.05)


async def test_value_is_fetched_on_demand_when_none_is_stored(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with harness(klt_settings, prometheus) as h:
        await h.metric("hourly", interval=3600)
        await wait_value(h.values, "hourly", str(prometheus.cpu_count))
        # No value stored (as right after a start); the next scheduled fetch is an hour away.
        await h.values.delete(object_key("KeptnMetric", NS, "hourly"))
        await h.definition("on-demand", ("hourly", ">0"))
        _, finished = await h.finished(await h.evaluate("on-demand", retries=1))
        stored = await get_entry(h.values, object_key("KeptnMetric", NS, "hourly"))
    assert finished.overall_status == KeptnState.SUCCEEDED
    assert finished.evaluation_status["hourly"].value == str(prometheus.cpu_count)
    assert stored is not None  # the on-demand fetch stored the value for everyone else too


async def test_comparison_operators(klt_settings: CommonSettings, prometheus: PrometheusHandle) -> None:
    n = prometheus.cpu_count
    targets = {"le": f"<={n}", "ge": f">={n}", "eq": f"=={n}", "ne": f"!={n + 1}"}
    async with harness(klt_settings, prometheus) as h:
        for name in [*targets, "ne-miss"]:
            await h.metric(f"cpus-{name}")
        await h.definition("operators", *((f"cpus-{name}", target) for name, target in targets.items()))
        await h.definition("not-equal", ("cpus-ne-miss", f"!={n}"))
        _, passed = await h.finished(await h.evaluate("operators", retries=1))
        _, missed = await h.finished(await h.evaluate("not-equal", retries=1))
    assert passed.overall_status == KeptnState.SUCCEEDED
    assert {m: i.status for m, i in passed.evaluation_status.items()} == {
        f"cpus-{name}": KeptnState.SUCCEEDED for name in targets
    }
    assert missed.overall_status == KeptnState.FAILED
    assert missed.evaluation_status["cpus-ne-miss"].message == f"value '{n}' did not meet objective '!={n}'"


async def test_invalid_target_and_missing_metric_fail_their_objectives(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with harness(klt_settings, prometheus) as h:
        await h.metric("available-cpus")
        await h.definition("broken", ("available-cpus", "more than 2"), ("no-such-metric", ">0"))
        _, finished = await h.finished(await h.evaluate("broken", retries=1))
    assert finished.overall_status == KeptnState.FAILED
    bad_target = finished.evaluation_status["available-cpus"].message
    assert bad_target.startswith(
        "KeptnEvaluationDefinition 'broken', objective 'available-cpus': invalid evaluationTarget"
    )
    assert finished.evaluation_status["no-such-metric"].message == (
        "empty value for: no-such-metric (KeptnMetric 'no-such-metric' not found in namespace "
        f"'default' or '{klt_settings.keptn_namespace}')"
    )
    assert "evaluation of 'no-such-metric' failed with value: ''" in finished.message


async def test_definition_and_metric_from_the_keptn_namespace(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    keptn = klt_settings.keptn_namespace
    async with harness(klt_settings, prometheus) as h:
        await h.put(
            KeptnMetricsProvider(
                metadata=ObjectMeta(name="prom", namespace=keptn),
                spec=KeptnMetricsProviderSpec(type="prometheus", target_server=prometheus.url),
            )
        )
        await h.metric("shared-cpus", namespace=keptn)
        await h.definition("shared-check", ("shared-cpus", ">0"), namespace=keptn)
        _, finished = await h.finished(await h.evaluate("shared-check", retries=2))
    assert finished.overall_status == KeptnState.SUCCEEDED
    assert finished.evaluation_status["shared-cpus"].value == str(prometheus.cpu_count)


async def test_restart_resumes_the_evaluation_instead_of_starting_over(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    gauge_a, gauge_b = f"{klt_settings.prefix}_resume_a", f"{klt_settings.prefix}_resume_b"
    prometheus.set_value(gauge_a, 10)
    prometheus.set_value(gauge_b, 0)
    await prometheus.wait_for_value(gauge_a, 10)
    await prometheus.wait_for_value(gauge_b, 0)
    async with harness(klt_settings, prometheus, evaluator=False) as h:
        await h.metric("a", query=gauge_a)
        await h.metric("b", query=gauge_b)
        await h.definition("resumable", ("a", ">5"), ("b", ">0"))
        async with service(klt_settings, "evaluator"):
            command = await h.evaluate("resumable", retries=60, retry_interval="0.3s")
            first = await h.next_progress(command)
        # The evaluator stopped after round 1, in which "a" passed. While none runs, "a" drops below
        # its target and "b" meets its own: an evaluation started over would now fail on "a".
        prometheus.set_value(gauge_a, 0)
        await wait_value(h.values, "a", "0")
        prometheus.set_value(gauge_b, 1)
        await wait_value(h.values, "b", "1")
        async with service(klt_settings, "evaluator"):
            _, finished = await h.finished(command)
    assert first.evaluation_status["a"].status == KeptnState.SUCCEEDED
    assert finished.overall_status == KeptnState.SUCCEEDED
    assert finished.evaluation_status["a"].value == "10"
    assert finished.retry_count == 2
    assert finished.start_time == first.start_time


async def test_a_missing_definition_is_waited_for(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with harness(klt_settings, prometheus) as h:
        await h.metric("available-cpus")
        command = await h.evaluate("late-definition", retries=1)
        await asyncio.sleep(0.5)  # the evaluator has looked for it at least once by now
        await h.definition("late-definition", ("available-cpus", ">0"))
        _, finished = await h.finished(command)
    assert finished.overall_status == KeptnState.SUCCEEDED
    assert finished.retry_count == 1
