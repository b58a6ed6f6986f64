"""CloudEvents to KeptnConfig ``cloudEventsEndpoint`` (klt-facts §8.4) with a real HTTP receiver on
loopback and the session's nats-server: what arrives, endpoint changes, and dead endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from nats.js import JetStreamContext

from klt.running import RunRequest, run
from services.watcher.notifying import forward_cloudevents
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnConfig, KeptnConfigSpec
from shared.manifests import encode_object
from shared.messages import LifecycleEvent
from shared.runtime.embedded_nats import RunningNats
from shared.runtime.publishing import publish
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, object_key
from tests.e2e import cases
from tests.support.natsfix import nats_client

CONFIG_KEY = object_key("KeptnConfig", "keptn-system", "klt-config")


@dataclass
class Receiver:
    """A CloudEvents receiver on loopback recording every request; answers ``failures`` 503s first."""

    url: str = ""
    received: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    failures: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures > 0:
            self.failures -= 1
            return web.Response(status=503)
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("ce-")}
        headers["content-type"] = request.headers.get("Content-Type", "")
        self.received.append((headers, json.loads(await request.read())))
        self.arrived.set()
        return web.Response(status=202)

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

    def types(self) -> list[str]:
        return [headers["ce-type"] for headers, _ in self.received]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/events", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}/events"
    try:
        yield found
    finally:
        await runner.cleanup()


def closed_port_url() -> str:
    """A loopback URL nobody listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/events"


def config_yaml(endpoint: str) -> str:
    return f"""
apiVersion: options.keptn.sh/v1alpha1
kind: KeptnConfig
metadata:
  name: klt-config
  namespace: keptn-system
spec:
  cloudEventsEndpoint: {json.dumps(endpoint)}
"""


async def set_endpoint(js: JetStreamContext, names: Names, endpoint: str) -> None:
    config = KeptnConfig(
        metadata=ObjectMeta(name="klt-config", namespace="keptn-system"),
        spec=KeptnConfigSpec(cloud_events_endpoint=endpoint),
    )
    kv = await js.key_value(names.desired_bucket)
    await kv.put(CONFIG_KEY, encode_object(config))


def fact(number: int, state: str = "Started", event_type: str = "Normal") -> LifecycleEvent:
    name = "shop-1.0-6b86b273"
    return LifecycleEvent(
        reason=f"AppPreDeployTasks{state}",
        event_type=event_type,
        message=f"App Pre-Deployment Tasks: step {number} / Namespace: demo, Name: {name}, Version: 1.0",
        kind="KeptnAppVersion",
        namespace="demo",
        name=name,
        phase="AppPreDeployTasks",
        long_name="App Pre-Deployment Tasks",
        state=state,
        timestamp="2026-01-02T03:04:05Z",
        id=f"uid-1:AppPreDeployTasks{state}:{number}",
    )


async def emit(js: JetStreamContext, names: Names, event: LifecycleEvent) -> None:
    subject = names.lifecycle_event(event.kind, event.namespace, event.name)
    await publish(js, subject, event, event.id, "test")


async def settled(js: JetStreamContext, names: Names) -> None:
    """Until the notifier has handled everything published so far."""
    async with asyncio.timeout(10):
        while True:
            try:
                info = await js.consumer_info(names.events_stream, names.cloudevents_consumer)
                if not info.num_pending and not info.num_ack_pending:
                    return
            except Exception:  # the consumer is created once the notifier has read the config
                pass
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def forwarding(js: JetStreamContext, names: Names) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(forward_cloudevents(js, names, stop, backoff_s=0.01))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_facts_arrive_as_binary_cloudevents_and_follow_the_endpoint(
    klt_settings: CommonSettings,
) -> None:
    names = Names(klt_settings.prefix)
    async with nats_client(klt_settings) as nc, receiver() as first, receiver() as second:
        js = nc.jetstream()
        await set_endpoint(js, names, first.url)
        async with forwarding(js, names):
            await emit(js, names, fact(1))
            await emit(js, names, fact(2, "Failed", "Warning"))
            await first.wait_for(2)

            await set_endpoint(js, names, second.url)
            await asyncio.sleep(0.3)  # the KV watch delivers the change
            await emit(js, names, fact(3, "Succeeded"))
            await second.wait_for(1)
            await settled(js, names)

    by_id = {headers["ce-id"]: (headers, data) for headers, data in first.received}
    headers, data = by_id["uid-1:AppPreDeployTasksStarted:1"]
    assert headers == {
        "ce-specversion": "1.0",
        "ce-id": "uid-1:AppPreDeployTasksStarted:1",
        "ce-source": "keptn.sh",
        "ce-type": "App Pre-Deployment Tasks.Started",
        "ce-time": "2026-01-02T03:04:05Z",
        "content-type": "application/json",
    }
    assert data == {
        "message": (
            "App Pre-Deployment Tasks: step 1 / Namespace: demo, Name: shop-1.0-6b86b273, Version: 1.0"
        ),
        "type": "Normal",
        "version": "1.0",
        "resource": {
            "group": "lifecycle.keptn.sh",
            "kind": "KeptnAppVersion",
            "version": "v1",
            "name": "shop-1.0-6b86b273",
            "namespace": "demo",
        },
    }
    failed_headers, failed_data = by_id["uid-1:AppPreDeployTasksFailed:2"]
    assert failed_headers["ce-type"] == "App Pre-Deployment Tasks.Failed"
    assert failed_data["type"] == "Warning"
    assert second.types() == ["App Pre-Deployment Tasks.Succeeded"]
    assert len(first.received) == 2  # nothing went to the old endpoint after the change


async def test_a_failing_endpoint_is_retried_then_dropped_without_holding_up_the_rest(
    klt_settings: CommonSettings,
) -> None:
    names = Names(klt_settings.prefix)
    async with nats_client(klt_settings) as nc, receiver() as good:
        js = nc.jetstream()
        good.failures = 2  # two 503s, then it answers
        await set_endpoint(js, names, good.url)
        async with forwarding(js, names):
            await emit(js, names, fact(1))
            await good.wait_for(1)

            await set_endpoint(js, names, closed_port_url())
            await asyncio.sleep(0.3)
            await emit(js, names, fact(2))
            await settled(js, names)  # tried, logged and dropped: not left pending

            kv = await js.key_value(names.desired_bucket)
            await kv.delete(CONFIG_KEY)  # no endpoint: facts are acknowledged and skipped
            await asyncio.sleep(0.3)
            await emit(js, names, fact(3))
            await settled(js, names)

            await set_endpoint(js, names, good.url)
            await asyncio.sleep(0.3)
            await emit(js, names, fact(4))
            await good.wait_for(2)

    assert [headers["ce-id"] for headers, _ in good.received] == [
        "uid-1:AppPreDeployTasksStarted:1",
        "uid-1:AppPreDeployTasksStarted:4",
    ]


async def _klt_run(nats_server: RunningNats, folder: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    request = RunRequest(
        paths=[str(folder)], output="json", timeout_s=60, nats_url=nats_server.url, live=False
    )
    code = await run(request, out=out, err=err)
    return code, err.getvalue()


def _release(folder: Path, endpoint: str) -> Path:
    return cases.write(
        folder,
        "all.yaml",
        cases.namespace(),
        cases.deployment("web", app="shop", version="1.0.0"),
        config_yaml(endpoint),
    )


async def test_klt_run_posts_its_lifecycle_as_cloudevents(nats_server: RunningNats, tmp_path: Path) -> None:
    async with receiver() as found:
        _release(tmp_path / "m", found.url)
        code, err = await _klt_run(nats_server, tmp_path / "m")
    assert code == 0, err
    types = found.types()
    assert "App Pre-Deployment Tasks.Started" in types
    assert "Workload Completed.Finished" in types
    assert "App Completed.Finished" in types  # the last fact, published just before klt run stops
    assert len({headers["ce-id"] for headers, _ in found.received}) == len(found.received)
    for headers, data in found.received:
        assert headers["ce-source"] == "keptn.sh"
        assert data["resource"]["namespace"] == "shop"
        assert data["resource"]["group"] == "lifecycle.keptn.sh"


async def test_an_unreachable_endpoint_does_not_stop_the_lifecycle(
    nats_server: RunningNats, tmp_path: Path
) -> None:
    _release(tmp_path / "m", closed_port_url())
    code, err = await _klt_run(nats_server, tmp_path / "m")
    assert code == 0, err
