"""The metrics-provider against a real nats-server and a real Prometheus (klt-facts §6)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import msgspec
from aiohttp import web
from nats.js.kv import KeyValue

from services.metrics_provider.config import metrics_provider_config
from services.metrics_provider.service import serve
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    KeptnMetric,
    KeptnMetricSpec,
    KeptnMetricsProvider,
    KeptnMetricsProviderSpec,
    MetricRange,
    NameRef,
    SecretKeyRef,
)
from shared.runtime.natsio import get_entry
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key
from tests.support.natsfix import nats_client
from tests.support.prometheus import CPU_QUERY, PrometheusHandle

NS = "default"
Status = dict[str, object]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_metrics_provider(settings: CommonSettings, **overrides: object) -> AsyncIterator[int]:
    """Run the service's ``serve()`` in a task; yields its HTTP port."""
    port = _free_port()
    config = metrics_provider_config({}, http_host="127.0.0.1", http_port=port, **overrides)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, config, stop))
    try:
        yield port
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


def provider(name: str, target: str, type_: str = "prometheus", secret: str = "") -> KeptnMetricsProvider:
    return KeptnMetricsProvider(
        metadata=ObjectMeta(name=name, namespace=NS),
        spec=KeptnMetricsProviderSpec(
            type=type_, target_server=target, secret_key_ref=SecretKeyRef(name=secret) if secret else None
        ),
    )


def metric(
    name: str,
    query: str = CPU_QUERY,
    provider_name: str = "prom",
    interval: int = 1,
    metric_range: MetricRange | None = None,
) -> KeptnMetric:
    return KeptnMetric(
        metadata=ObjectMeta(name=name, namespace=NS),
        spec=KeptnMetricSpec(
            provider=NameRef(name=provider_name),
            query=query,
            fetch_interval_seconds=interval,
            range=metric_range,
        ),
    )


async def put(kv: KeyValue, obj: KeptnMetric | KeptnMetricsProvider) -> None:
    await kv.put(object_key(obj.kind, obj.metadata.namespace, obj.metadata.name), msgspec.json.encode(obj))


async def wait_status(
    kv: KeyValue, name: str, ready: Callable[[Status], bool], timeout_s: float = 10.0
) -> Status:
    """Poll the metrics bucket until the stored status of ``name`` satisfies ``ready``."""
    deadline = time.monotonic() + timeout_s
    last: Status | None = None
    while time.monotonic() < deadline:
        entry = await get_entry(kv, object_key("KeptnMetric", NS, name))
        if entry is not None:
            last = json.loads(entry.value)
            if ready(last):
                return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"the status of KeptnMetric {name} never got there; last: {last}")


def has_value(status: Status) -> bool:
    return bool(status["value"])


def has_error(status: Status) -> bool:
    return bool(status["errMsg"])


@contextlib.asynccontextmanager
async def buckets(settings: CommonSettings) -> AsyncIterator[tuple[KeyValue, KeyValue, object]]:
    names = Names(settings.prefix)
    async with nats_client(settings) as nc:
        js = nc.jetstream()
        yield await js.key_value(names.desired_bucket), await js.key_value(names.metrics_bucket), nc


async def test_metric_value_is_this_machines_cpu_count(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with buckets(klt_settings) as (desired, values, _):
        await put(desired, provider("prom", prometheus.url))
        await put(desired, metric("available-cpus"))
        async with running_metrics_provider(klt_settings):
            status = await wait_status(values, "available-cpus", has_value)
    cpus = str(os.cpu_count())
    assert status["value"] == cpus
    assert base64.b64decode(str(status["rawValue"])) == f'"{cpus}"'.encode()
    assert status["errMsg"] == ""
    assert status["provider"] == "prom"
    assert str(status["lastUpdated"]).endswith("Z")


async def test_range_and_step_queries(klt_settings: CommonSettings, prometheus: PrometheusHandle) -> None:
    cpus = str(prometheus.cpu_count)
    # A fresh Prometheus may hold a single scrape yet; the step query should see several points.
    await prometheus.wait_for_series("count_over_time(kube_node_status_capacity[4s]) >= 3")
    async with buckets(klt_settings) as (desired, values, _):
        await put(desired, provider("prom", prometheus.url))
        await put(desired, metric("over-range", interval=60, metric_range=MetricRange(interval="3s")))
        for how in ("max", "p90", "avg"):
            step = MetricRange(interval="4s", step="1s", aggregation=how)
            await put(desired, metric(f"stepped-{how}", interval=60, metric_range=step))
        async with running_metrics_provider(klt_settings):
            over_range = await wait_status(values, "over-range", has_value)
            stepped = {
                how: await wait_status(values, f"stepped-{how}", has_value) for how in ("max", "p90", "avg")
            }
    assert over_range["value"] == cpus
    assert base64.b64decode(str(over_range["rawValue"])) == f'"{cpus}"'.encode()
    assert {how: status["value"] for how, status in stepped.items()} == {
        "max": cpus,
        "p90": cpus,
        "avg": cpus,
    }
    raw = json.loads(base64.b64decode(str(stepped["max"]["rawValue"])))
    assert isinstance(raw, list)
    assert len(raw) >= 2  # several points of the 4 s range at a 1 s step
    assert set(raw) == {cpus}  # a JSON array of the values, as strings


async def test_query_errors_use_klt_messages(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with buckets(klt_settings) as (desired, values, _):
        await put(desired, provider("prom", prometheus.url))
        await put(desired, metric("two-series", query="kube_node_status_capacity or up"))
        await put(desired, metric("nothing", query="klt_no_such_series_anywhere"))
        await put(desired, metric("scalar", query="scalar(vector(1))"))
        await put(desired, metric("broken", query="sum(("))
        await put(desired, metric("elsewhere", provider_name="prom-missing"))
        await put(desired, provider("influx", prometheus.url, type_="influxdb"))
        await put(desired, metric("unsupported", provider_name="influx"))
        async with running_metrics_provider(klt_settings):
            errors = {
                name: (await wait_status(values, name, has_error))["errMsg"]
                for name in ("two-series", "nothing", "scalar", "broken", "elsewhere", "unsupported")
            }
    assert errors["two-series"] == "too many values in query result"
    assert errors["nothing"] == "no values in query result"
    assert errors["scalar"] == "could not cast result"
    assert str(errors["broken"]).startswith("bad_data: ")
    assert errors["elsewhere"] == "KeptnMetricsProvider 'prom-missing' not found in namespace 'default'"
    assert errors["unsupported"] == "provider influxdb not supported"


async def test_missing_provider_is_retried_when_it_appears_and_errors_keep_the_last_value(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    cpus = str(prometheus.cpu_count)
    async with buckets(klt_settings) as (desired, values, _):
        await put(desired, metric("late", interval=3600))
        async with running_metrics_provider(klt_settings):
            first = await wait_status(values, "late", has_error)
            assert first["value"] == ""
            assert "KeptnMetricsProvider 'prom' not found" in str(first["errMsg"])
            # The provider appearing wakes the metric now, not at its next interval (an hour away).
            await put(desired, provider("prom", prometheus.url))
            good = await wait_status(values, "late", lambda s: s["value"] == cpus and not s["errMsg"])
            # The provider breaking: errMsg is set, the last good value stays (§6.1 step 5).
            await put(desired, provider("prom", f"http://127.0.0.1:{_free_port()}"))
            broken = await wait_status(values, "late", has_error)
    assert good["errMsg"] == ""
    assert broken["value"] == cpus
    assert str(broken["errMsg"]).startswith('Post "http://127.0.0.1:')


async def test_stored_results_keep_a_fifo_and_leave_value_alone(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    kept = MetricRange(interval="3s", step="1s", aggregation="max", stored_results=2)
    async with buckets(klt_settings) as (desired, values, _):
        await put(desired, provider("prom", prometheus.url))
        await put(desired, metric("history", metric_range=kept))
        async with running_metrics_provider(klt_settings):
            status = await wait_status(
                values, "history", lambda s: len(s["intervalResults"]) == 2, timeout_s=15
            )
            await asyncio.sleep(1.5)
            later = await wait_status(values, "history", lambda s: s["lastUpdated"] != "")
    assert status["value"] == ""
    results = later["intervalResults"]
    assert isinstance(results, list)
    assert len(results) == 2
    assert all(r["value"] == str(prometheus.cpu_count) for r in results)
    assert results[0]["range"] == {"interval": "3s", "step": "1s", "aggregation": "max", "storedResults": 2}


async def test_fetch_and_get_endpoints(klt_settings: CommonSettings, prometheus: PrometheusHandle) -> None:
    names = Names(klt_settings.prefix)
    async with buckets(klt_settings) as (desired, values, nc):
        await put(desired, provider("prom", prometheus.url))
        await put(desired, metric("on-demand", interval=3600))
        async with running_metrics_provider(klt_settings):
            await wait_status(values, "on-demand", has_value)
            await values.delete(object_key("KeptnMetric", NS, "on-demand"))
            fetch, get = names.service("metrics", "fetch"), names.service("metrics", "get")
            request = json.dumps({"namespace": NS, "name": "on-demand"}).encode()
            missing = await nc.request(get, request, timeout=5)  # type: ignore[attr-defined]
            fetched = await nc.request(fetch, request, timeout=25)  # type: ignore[attr-defined]
            got = await nc.request(get, request, timeout=5)  # type: ignore[attr-defined]
            unknown = json.dumps({"namespace": NS, "name": "nope"}).encode()
            not_found = await nc.request(fetch, unknown, timeout=5)  # type: ignore[attr-defined]
            bad = await nc.request(fetch, b"{", timeout=5)  # type: ignore[attr-defined]
    assert json.loads(missing.data)["notFound"] is True
    assert json.loads(fetched.data)["value"] == str(prometheus.cpu_count)
    assert json.loads(got.data)["value"] == str(prometheus.cpu_count)
    assert json.loads(not_found.data) == {
        "error": "KeptnMetric 'nope' not found in namespace 'default'",
        "notFound": True,
    }
    assert json.loads(bad.data)["error"].startswith("bad request: ")


async def test_http_endpoints(klt_settings: CommonSettings, prometheus: PrometheusHandle) -> None:
    cpus = str(prometheus.cpu_count)
    async with buckets(klt_settings) as (desired, values, _):
        await put(desired, provider("prom", prometheus.url))
        await put(desired, metric("available-cpus"))
        await put(desired, metric("never", provider_name="absent"))
        async with running_metrics_provider(klt_settings) as port, aiohttp.ClientSession() as http:
            await wait_status(values, "available-cpus", has_value)
            base = f"http://127.0.0.1:{port}"
            async with http.get(f"{base}/api/v1/metrics/{NS}/available-cpus") as response:
                assert response.status == 200
                assert await response.json() == {"namespace": NS, "metric": "available-cpus", "value": cpus}
            async with http.get(f"{base}/api/v1/metrics/{NS}/no-such-metric") as response:
                assert response.status == 404
                assert (await response.json())[
                    "error"
                ] == "KeptnMetric 'no-such-metric' not found in namespace 'default'"
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                exposition = await response.text()
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
    assert (
        f"# HELP available_cpus available-cpus\n# TYPE available_cpus gauge\navailable_cpus {cpus}\n"
        in exposition
    )
    assert "never" not in exposition  # no value yet: no gauge


async def test_deleting_a_metric_removes_its_value(
    klt_settings: CommonSettings, prometheus: PrometheusHandle
) -> None:
    async with buckets(klt_settings) as (desired, values, _):
        await put(desired, provider("prom", prometheus.url))
        await put(desired, metric("short-lived"))
        async with running_metrics_provider(klt_settings):
            await wait_status(values, "short-lived", has_value)
            await desired.delete(object_key("KeptnMetric", NS, "short-lived"))
            deadline = time.monotonic() + 5
            while await get_entry(values, object_key("KeptnMetric", NS, "short-lived")) is not None:
                assert time.monotonic() < deadline, "the value of a deleted KeptnMetric was kept"
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def basic_auth_proxy(target: str, user: str, password: str) -> AsyncIterator[str]:
    """A real HTTP server that demands basic auth and forwards to Prometheus (which has none itself)."""
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def forward(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="unauthorized")
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{target}{request.path}", data=await request.post()) as upstream,
        ):
            return web.Response(
                status=upstream.status, body=await upstream.read(), content_type="application/json"
            )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_basic_auth_from_the_providers_secret(
    klt_settings: CommonSettings, prometheus: PrometheusHandle, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: prom-creds, namespace: default}\n"
        "stringData: {user: klt, password: s3cret}\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: half, namespace: default}\nstringData: {user: klt}\n"
    )
    async with (
        basic_auth_proxy(prometheus.url, "klt", "s3cret") as guarded,
        buckets(klt_settings) as (
            desired,
            values,
            _,
        ),
    ):
        await put(desired, provider("prom", guarded, secret="prom-creds"))
        await put(desired, provider("half", guarded, secret="half"))
        await put(desired, provider("open", guarded))
        await put(desired, metric("with-auth", provider_name="prom"))
        await put(desired, metric("half-secret", provider_name="half"))
        await put(desired, metric("no-auth", provider_name="open"))
        async with running_metrics_provider(klt_settings, secret_paths=(str(secrets),)):
            authed = await wait_status(values, "with-auth", has_value)
            half = await wait_status(values, "half-secret", has_error)
            refused = await wait_status(values, "no-auth", has_error)
    assert authed["value"] == str(prometheus.cpu_count)
    assert half["errMsg"] == "secret key does not contain user and password"
    assert refused["errMsg"] == "server_error: server error: 401"
    assert "s3cret" not in json.dumps([authed, half, refused])


async def test_a_busy_http_port_is_a_clear_error(klt_settings: CommonSettings) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = metrics_provider_config({}, http_host="127.0.0.1", http_port=port)
        try:
            await serve(klt_settings, config, asyncio.Event())
        except RuntimeError as exc:
            message = str(exc)
        else:
            raise AssertionError("serve() started on a busy port")
    assert f"cannot listen on 127.0.0.1:{port}" in message
    assert "KLT_METRICS_PROVIDER_HTTP_PORT" in message
