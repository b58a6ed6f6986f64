"""KLT's app-creation window (klt-facts §2.3) as the watcher applies it in Kubernetes mode: a managed
multi-service app waits ``keptnAppCreationRequestTimeoutSeconds`` before it is created or updated; a
single-service app and a user-defined KeptnApp never wait; the window reopens for a later change."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from services.watcher.appwindow import AppCreationWindow
from services.watcher.handlers import DesiredView, desired_view, plan_sync
from services.watcher.index import Index
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnConfig, KeptnConfigSpec
from shared.keptn.workloads import Workload

NS = "shop"


def deployment(name: str, version: str, app: str | None) -> tuple[str, msgspec.Struct]:
    annotations = {"keptn.sh/workload": name, "keptn.sh/version": version}
    if app:
        annotations["keptn.sh/app"] = app
    data: dict[str, Any] = {
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "template": {"metadata": {"annotations": annotations}, "spec": {"containers": [{"name": name}]}}
        },
    }
    return "Deployment", msgspec.convert(data, Workload)


def config(seconds: int) -> tuple[str, msgspec.Struct]:
    spec = KeptnConfigSpec(keptn_app_creation_request_timeout_seconds=seconds)
    return "KeptnConfig", KeptnConfig(metadata=ObjectMeta(name="cfg", namespace="keptn-system"), spec=spec)


def view(*objects: tuple[str, msgspec.Struct]) -> DesiredView:
    return desired_view(list(objects), "keptn-system", promotion_tasks_enabled=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


_uids = itertools.count(1)


def store(index: Index, v: DesiredView) -> None:
    plan = plan_sync(v.derived, index, "2025-01-01T00:00:00Z", lambda: f"uid-{next(_uids)}")
    revision = itertools.count(100)
    for app, _ in plan.apps:
        index.put(app, next(revision))


def test_a_multi_service_app_waits_for_the_window_then_takes_every_workload() -> None:
    clock, index = Clock(), Index()
    window = AppCreationWindow(clock)
    first = view(config(30), deployment("cart", "1", "shop"))
    assert window.hold(first, index) == 30.0
    assert (NS, "shop") not in first.derived.apps
    assert (NS, "shop-cart") in first.derived.workloads  # workloads are created at once

    clock.now += 10  # the second workload arrives inside the window: it does not restart it
    second = view(config(30), deployment("cart", "1", "shop"), deployment("pay", "1", "shop"))
    assert window.hold(second, index) == 20.0

    clock.now += 20
    closed = view(config(30), deployment("cart", "1", "shop"), deployment("pay", "1", "shop"))
    assert window.hold(closed, index) is None
    assert [w.name for w in closed.derived.apps[(NS, "shop")].spec.workloads] == ["cart", "pay"]
    store(index, closed)

    clock.now += 100  # a later version bump opens a new window
    bumped = view(config(30), deployment("cart", "2", "shop"), deployment("pay", "1", "shop"))
    assert window.hold(bumped, index) == 30.0
    assert (NS, "shop") not in bumped.derived.apps


def test_single_service_and_unchanged_apps_never_wait() -> None:
    clock, index = Clock(), Index()
    window = AppCreationWindow(clock)
    single = view(deployment("solo", "1", None))
    assert window.hold(single, index) is None
    assert (NS, "solo") in single.derived.apps

    multi = view(config(0), deployment("cart", "1", "shop"))
    assert window.hold(multi, index) is None  # a zero window: created at once
    store(index, multi)
    again = view(config(30), deployment("cart", "1", "shop"))
    assert window.hold(again, index) is None  # stored as derived: nothing to wait for
