"""Traces to the OTLP gRPC collector of KeptnConfig ``OTelCollectorUrl`` (klt-facts §8.1): a tiny real
collector (grpcio, OTLP ``TraceService/Export``) on loopback receives what ``klt run`` does, and follows a
URL changed at runtime."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from nats.js import JetStreamContext
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from klt.running import RunRequest, run
from services.watcher.telemetry import export_traces
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnConfig, KeptnConfigSpec
from shared.manifests import encode_object
from shared.runtime.embedded_nats import RunningNats
from shared.runtime.publishing import now_rfc3339
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key
from tests.e2e import cases
from tests.support.natsfix import nats_client
from tests.unit.test_watcher_tracing import AV_NAME, app_version

CONFIG_KEY = object_key("KeptnConfig", "keptn-system", "klt-config")


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Records every span it is sent: (scope name, span name, status code, parent span id, trace id)."""

    def __init__(self) -> None:
        self.url = ""
        self.spans: list[dict[str, Any]] = []
        self.resources: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def Export(  # the gRPC method name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self._lock:
            for resource_spans in request.resource_spans:
                attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                self.resources.append(attrs)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            {
                                "scope": scope_spans.scope.name,
                                "name": span.name,
                                "status": span.status.code,
                                "trace": span.trace_id.hex(),
                                "id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "attributes": {a.key: a.value.string_value for a in span.attributes},
                            }
                        )
        return trace_service_pb2.ExportTraceServiceResponse()

    def names(self) -> set[str]:
        with self._lock:
            return {span["name"] for span in self.spans}

    async def wait_for(self, name: str, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while name not in self.names():
                await asyncio.sleep(0.05)


@contextlib.contextmanager
def collector() -> Iterator[Collector]:
    found = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(found, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    found.url = f"127.0.0.1:{port}"  # KLT's form: host:port, no scheme
    try:
        yield found
    finally:
        server.stop(grace=None)


def config_yaml(url: str) -> str:
    return f"""
apiVersion: options.keptn.sh/v1alpha1
kind: KeptnConfig
metadata:
  name: klt-config
  namespace: keptn-system
spec:
  OTelCollectorUrl: {json.dumps(url)}
"""


async def test_klt_run_sends_klts_span_tree_to_the_configured_collector(
    nats_server: RunningNats, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    cases.write(
        folder,
        "all.yaml",
        cases.namespace(),
        cases.deno_task("pre-check", "console.log('ok');"),
        cases.deployment("web", app="shop", version="1.0.0", pre_tasks="pre-check"),
    )
    with collector() as found:
        cases.write(folder, "config.yaml", config_yaml(found.url))
        out, err = io.StringIO(), io.StringIO()
        request = RunRequest(
            paths=[str(folder)], output="json", timeout_s=60, nats_url=nats_server.url, live=False
        )
        code = await run(request, out=out, err=err)
        assert code == 0, err.getvalue()
        items = json.loads(out.getvalue())["items"]
        av_name = next(i["metadata"]["name"] for i in items if i["kind"] == "KeptnAppVersion")
        task_name = next(i["metadata"]["name"] for i in items if i["kind"] == "KeptnTask")
        await found.wait_for(av_name)  # klt run flushes on stop; this only guards the gRPC thread

    by_name = {span["name"]: span for span in found.spans}
    assert {
        av_name,
        "AppPreDeployTasks",
        "AppDeploy",
        "AppPostDeployEvaluations",
        "shop-web-1.0.0",
        "shop-web/WorkloadPreDeployTasks",
        "shop-web/WorkloadDeploy",
        task_name,
    } <= set(by_name)
    assert len(by_name) == len(found.spans)  # each span once
    assert {span["trace"] for span in found.spans} == {by_name[av_name]["trace"]}  # one tree
    assert by_name[av_name]["scope"] == "keptn/lifecycle-operator/appversion"
    assert by_name["shop-web-1.0.0"]["scope"] == "keptn/lifecycle-operator/workloadversion"
    assert by_name["shop-web-1.0.0"]["parent"] == by_name["AppDeploy"]["id"]
    assert by_name[task_name]["parent"] == by_name["shop-web/WorkloadPreDeployTasks"]["id"]
    assert by_name[task_name]["attributes"]["keptn.deployment.task.type"] == "pre"
    assert all(span["status"] == 1 for span in found.spans)  # STATUS_CODE_OK
    assert {r["service.name"] for r in found.resources} == {"lifecycle-operator"}


async def set_collector(js: JetStreamContext, names: Names, url: str) -> None:
    config = KeptnConfig(
        metadata=ObjectMeta(name="klt-config", namespace="keptn-system"),
        spec=KeptnConfigSpec(otel_collector_url=url),
    )
    kv = await js.key_value(names.desired_bucket)
    await kv.put(CONFIG_KEY, encode_object(config))


async def store_finished_app_version(js: JetStreamContext, names: Names, name: str, uid: str) -> None:
    av = app_version()
    av.metadata.name, av.metadata.uid = name, uid
    av.status.start_time = av.status.end_time = now_rfc3339()  # inside the resend window
    kv = await js.key_value(names.state_bucket)
    await kv.put(object_key("KeptnAppVersion", "shop", name), encode_object(av))


@contextlib.asynccontextmanager
async def exporting(js: JetStreamContext, names: Names) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(export_traces(js, names, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_a_changed_collector_url_redirects_export_at_runtime(klt_settings: CommonSettings) -> None:
    names = Names(klt_settings.prefix)
    async with nats_client(klt_settings) as nc:
        js = nc.jetstream()
        with collector() as first, collector() as second:
            async with exporting(js, names):
                await store_finished_app_version(js, names, "unseen-1.0", "uid-0")  # no collector yet
                await asyncio.sleep(0.3)
                await set_collector(js, names, first.url)
                await asyncio.sleep(0.3)
                await store_finished_app_version(js, names, AV_NAME, "uid-1")
                await first.wait_for(AV_NAME)

                await set_collector(js, names, second.url)
                await asyncio.sleep(0.3)
                await store_finished_app_version(js, names, "shop-2.0-aaaa", "uid-2")
                await second.wait_for("shop-2.0-aaaa")

    assert "shop-2.0-aaaa" not in first.names()
    assert AV_NAME not in second.names()
    assert "unseen-1.0" not in first.names() | second.names()
