"""Lifecycle facts on JetStream recorded as core/v1 Events on the API test server: KLT's fields, the
CR's uid, and exactly one Event per fact across a re-publish and a restart of the recorder."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi
from nats.js import JetStreamContext

from services.watcher.kube.events import project_events
from shared.keptn.states import Phase
from shared.messages import LifecycleEvent
from shared.phases.reporting import NORMAL, WARNING, lifecycle_event
from shared.runtime.publishing import publish
from shared.runtime.settings import CommonSettings
from shared.subjects import Names
from tests.integration.test_kube_projection import eventually
from tests.k8s.fixtures import k8s_api, k8s_api_server
from tests.k8s.server import ApiServer
from tests.support.natsfix import nats_client
from tests.unit import test_kube_projection_support as samples

__all__ = ["k8s_api", "k8s_api_server"]

NS = samples.NS
KLT_NS = "keptn-system"


@contextlib.asynccontextmanager
async def recorder(api: ApiClient, js: JetStreamContext, names: Names) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(project_events(api, js, names, stop, namespace_of_klt=KLT_NS))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def emit(js: JetStreamContext, names: Names, event: LifecycleEvent, msg_id: str = "") -> None:
    subject = names.lifecycle_event(event.kind, event.namespace, event.name)
    await publish(js, subject, event, msg_id or event.id, "klt/watcher")


async def events_in(api: ApiClient, namespace: str) -> list[Any]:
    listed = await CoreV1Api(api).list_namespaced_event(namespace)
    return list(listed.items)


async def test_facts_become_klt_events_once(
    klt_settings: CommonSettings, k8s_api_server: ApiServer, k8s_api: ApiClient
) -> None:
    k8s_api_server.add_namespace(NS)
    names = Names(klt_settings.prefix)
    crs = CustomObjectsApi(k8s_api)
    av = await crs.create_namespaced_custom_object(
        "lifecycle.keptn.sh",
        "v1",
        NS,
        "keptnappversions",
        {
            "apiVersion": "lifecycle.keptn.sh/v1",
            "kind": "KeptnAppVersion",
            "metadata": {"name": "shop-1.0-6b86b273"},
            "spec": {"appName": "shop", "version": "1.0"},
        },
    )
    started = lifecycle_event(
        samples.app_version(),
        Phase.APP_PRE_DEPLOY_TASKS,
        "Started",
        NORMAL,
        "has started",
        version="1.0",
        now=samples.NOW,
    )
    failed = lifecycle_event(
        samples.task(),
        Phase.RECONCILE_TASK,
        "Failed",
        WARNING,
        "task failed",
        version="1.0",
        now=samples.NOW,
    )
    async with nats_client(klt_settings) as nc:
        js = nc.jetstream()
        async with recorder(k8s_api, js, names):
            await emit(js, names, started)
            await emit(js, names, failed)
            # The task's CR appears only after its fact: the Event waits for it and names its uid.
            await asyncio.sleep(0.1)
            task = await crs.create_namespaced_custom_object(
                "lifecycle.keptn.sh",
                "v1",
                NS,
                "keptntasks",
                {
                    "apiVersion": "lifecycle.keptn.sh/v1",
                    "kind": "KeptnTask",
                    "metadata": {"name": "pre-deployment-check-12345"},
                    "spec": {"taskDefinition": "check", "checkType": "pre"},
                },
            )

            async def two() -> list[Any] | None:
                found = await events_in(k8s_api, NS)
                return found if len(found) == 2 else None

            by_reason = {e.reason: e for e in await eventually(two)}
        event = by_reason["AppPreDeployTasksStarted"]
        assert event.type == "Normal"
        assert event.message == started.message
        assert event.source.component == "keptnappversion-controller"
        assert event.involved_object.kind == "KeptnAppVersion"
        assert event.involved_object.api_version == "lifecycle.keptn.sh/v1"
        assert event.involved_object.name == "shop-1.0-6b86b273"
        assert event.involved_object.namespace == NS
        assert event.involved_object.uid == av["metadata"]["uid"]
        assert event.metadata.annotations["appVersionName"] == "shop-1.0-6b86b273"
        assert event.metadata.annotations["traceparent"] == samples.TRACEPARENT
        assert event.count == 1
        assert event.first_timestamp is not None and event.last_timestamp is not None
        warning = by_reason["ReconcileTaskFailed"]
        assert warning.type == "Warning"
        assert warning.source.component == "keptntask-controller"
        assert warning.involved_object.uid == task["metadata"]["uid"]

        # The same fact published again (a new message after JetStream's duplicate window) and a
        # restart of the recorder: still one Event per fact.
        await emit(js, names, started, msg_id=f"{started.id}:again")
        marker = lifecycle_event(
            samples.app_version(),
            Phase.APP_PRE_DEPLOY_TASKS,
            "Finished",
            NORMAL,
            "has finished",
            version="1.0",
            now=samples.NOW,
        )
        await emit(js, names, marker)
        async with recorder(k8s_api, js, names):

            def posts() -> list[tuple[str, str, dict[str, str]]]:
                return [
                    r for r in k8s_api_server.requests if r[0] == "POST" and r[1].endswith(f"/{NS}/events")
                ]

            async def both_tried() -> bool:
                return len(posts()) == 4  # the re-published fact was tried too (and refused: AlreadyExists)

            await eventually(both_tried)
        reasons = sorted(e.reason for e in await events_in(k8s_api, NS))
        assert reasons == ["AppPreDeployTasksFinished", "AppPreDeployTasksStarted", "ReconcileTaskFailed"]
