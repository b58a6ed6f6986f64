"""The watcher's pure decisions: syncing the desired state into lifecycle objects (klt-facts §3.5,
§3.6), the start gate's AppVersion, the options from KeptnConfig, definition resolution, settings."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from services.watcher.config import watcher_config
from services.watcher.handlers import (
    DesiredView,
    SyncPlan,
    desired_view,
    gate_app_version,
    plan_sync,
)
from services.watcher.index import Index
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    KeptnApp,
    KeptnAppContext,
    KeptnAppContextSpec,
    KeptnAppSpec,
    KeptnConfig,
    KeptnConfigSpec,
    KeptnTaskDefinition,
    KeptnTaskDefinitionSpec,
    RuntimeSpec,
    WorkloadRef,
)
from shared.keptn.states import KeptnState
from shared.keptn.workloads import Workload
from shared.runtime.settings import SettingsError
from tests.unit.phases_harness import app_version, workload_version

NS = "demo"


def _deployment(name: str, version: str, app: str = "shop", tasks: str = "") -> tuple[str, msgspec.Struct]:
    annotations = {"keptn.sh/app": app, "keptn.sh/workload": name, "keptn.sh/version": version}
    if tasks:
        annotations["keptn.sh/pre-deployment-tasks"] = tasks
    obj = msgspec.convert(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "template": {
                    "metadata": {"annotations": annotations},
                    "spec": {"containers": [{"name": name, "image": f"img:{version}"}]},
                }
            },
        },
        Workload,
    )
    return "Deployment", obj


def _context(**spec: list[str] | dict[str, str]) -> tuple[str, msgspec.Struct]:
    return "KeptnAppContext", KeptnAppContext(
        metadata=ObjectMeta(name="shop", namespace=NS), spec=KeptnAppContextSpec(**spec)
    )


def _view(*objects: tuple[str, msgspec.Struct]) -> DesiredView:
    return desired_view(list(objects), "keptn-system", promotion_tasks_enabled=False)


_uids = itertools.count(1)


def _sync(index: Index, view: DesiredView) -> SyncPlan:
    """Plan and 'store' the plan into the index, as the watcher would."""
    plan = plan_sync(view.derived, index, "2025-01-01T00:00:00Z", lambda: f"uid-{next(_uids)}")
    revision = itertools.count(100)
    for obj, _ in plan.apps:
        index.put(obj, next(revision))
    for obj in plan.app_versions:
        index.put(obj, next(revision))
    for obj, _ in plan.workloads:
        index.put(obj, next(revision))
    for obj in plan.workload_versions:
        index.put(obj, next(revision))
    for obj, _ in plan.updated_workload_versions:
        index.put(obj, next(revision))
    return plan


def test_a_new_workload_gets_an_app_an_app_version_and_a_workload_version() -> None:
    index = Index()
    plan = _sync(
        index, _view(_deployment("web", "1.0", tasks="migrate"), _context(pre_deployment_tasks=["notify"]))
    )
    (app, revision), (av,) = plan.apps[0], plan.app_versions
    assert revision is None and app.metadata.generation == 1
    assert av.metadata.name == "shop-1.0-6b86b273"
    assert (av.spec.app_name, av.spec.version, av.spec.previous_version) == ("shop", "1.0", "")
    assert av.spec.pre_deployment_tasks == ["notify"]  # from the KeptnAppContext
    assert [(w.name, w.version) for w in av.spec.workloads] == [("web", "1.0")]
    assert av.metadata.owner_references[0].kind == "KeptnApp"
    (kwv,) = plan.workload_versions
    assert kwv.metadata.name == "shop-web-1.0"
    assert (kwv.spec.workload_name, kwv.spec.app, kwv.spec.version) == ("shop-web", "shop", "1.0")
    assert kwv.spec.pre_deployment_tasks == ["migrate"]
    assert kwv.spec.previous_version == ""
    # The same desired state again asks for nothing.
    again = _sync(
        index, _view(_deployment("web", "1.0", tasks="migrate"), _context(pre_deployment_tasks=["notify"]))
    )
    assert again == type(again)()


def test_a_new_version_bumps_the_generation_and_records_the_previous_version() -> None:
    index = Index()
    _sync(index, _view(_deployment("web", "1.0")))
    plan = _sync(index, _view(_deployment("web", "1.1")))
    (app, revision), (av,) = plan.apps[0], plan.app_versions
    assert revision is not None and app.metadata.generation == 2
    assert av.metadata.name == "shop-1.1-d4735e3a"  # hash of generation 2
    assert av.spec.previous_version == "1.0"
    assert plan.deprecate == []  # only older generations of the *same* version are deprecated
    (kwv,) = plan.workload_versions
    assert (kwv.metadata.name, kwv.spec.previous_version) == ("shop-web-1.1", "1.0")


def _user_app(revision: int) -> tuple[str, msgspec.Struct]:
    return "KeptnApp", KeptnApp(
        metadata=ObjectMeta(name="shop", namespace=NS),
        spec=KeptnAppSpec(
            version="1.0", revision=revision, workloads=[WorkloadRef(name="web", version="1.0")]
        ),
    )


def test_a_changed_app_spec_at_the_same_version_deprecates_the_older_generation() -> None:
    index = Index()
    _sync(index, _view(_deployment("web", "1.0"), _user_app(1)))
    plan = _sync(index, _view(_deployment("web", "1.0"), _user_app(2)))
    (av,) = plan.app_versions
    assert (av.metadata.name, av.spec.revision) == ("shop-1.0-d4735e3a", 2)  # generation 2
    assert av.spec.previous_version == ""  # same version
    assert plan.deprecate == [(NS, "shop-1.0-6b86b273")]
    assert plan.workload_versions == [] and plan.updated_workload_versions == []


def test_a_changed_workload_spec_updates_its_version_in_place() -> None:
    index = Index()
    _sync(index, _view(_deployment("web", "1.0")))
    plan = _sync(index, _view(_deployment("web", "1.0", tasks="smoke")))
    assert plan.workload_versions == []
    ((kwv, revision),) = plan.updated_workload_versions
    assert kwv.metadata.name == "shop-web-1.0" and kwv.spec.pre_deployment_tasks == ["smoke"]
    assert revision >= 100


def test_the_gate_reads_the_newest_non_deprecated_app_version_listing_the_workload() -> None:
    kwv = workload_version(app="shop", workload="web", version="1.0")
    old = app_version(workloads=[("web", "1.0")], uid="old", created="2025-01-01T00:00:00Z")
    new = app_version(workloads=[("web", "1.0")], uid="new", created="2025-01-01T00:00:05Z")
    other = app_version(workloads=[("web", "2.0")], uid="other", created="2025-01-01T00:00:09Z")
    assert gate_app_version(kwv, [old, new, other]) is new
    new.status.status = KeptnState.DEPRECATED
    assert gate_app_version(kwv, [old, new, other]) is old
    assert gate_app_version(kwv, [other]) is None


def test_options_and_timeouts_come_from_the_last_keptn_config() -> None:
    assert _view().options.block_deployment is True
    assert _view().observability_timeout_s == 300.0
    config = KeptnConfig(
        metadata=ObjectMeta(name="c", namespace=NS),
        spec=KeptnConfigSpec(block_deployment=False, observability_timeout="90s"),
    )
    view = _view(("KeptnConfig", config))
    assert view.options.block_deployment is False
    assert view.observability_timeout_s == 90.0


def test_definitions_resolve_in_the_namespace_first_then_the_keptn_namespace() -> None:
    def definition(name: str, ns: str, retries: int) -> tuple[str, msgspec.Struct]:
        return "KeptnTaskDefinition", KeptnTaskDefinition(
            metadata=ObjectMeta(name=name, namespace=ns),
            spec=KeptnTaskDefinitionSpec(deno=RuntimeSpec(), retries=retries),
        )

    view = _view(
        definition("shared", "keptn-system", 1),
        definition("shared", NS, 2),
        definition("global", "keptn-system", 3),
    )
    resolved = view.task_definitions(NS)
    assert {name: d.spec.retries for name, d in resolved.items()} == {"shared": 2, "global": 3}
    assert set(view.task_definitions("elsewhere")) == {"shared", "global"}


def test_watcher_settings_come_from_the_environment_and_reject_unknown_ones() -> None:
    config = watcher_config(
        {
            "KLT_WATCHER_DEPLOY_COMMAND": "./deploy.sh",
            "KLT_WATCHER_PROMOTION_TASKS_ENABLED": "true",
            "KLT_WATCHER_SOURCE_PATHS": "a:b",
            "KLT_DEFAULT_NAMESPACE": "dev",
        }
    )
    assert config.deploy_command == "./deploy.sh"
    assert config.promotion_tasks_enabled is True
    assert config.source_paths == ("a", "b")
    assert config.default_namespace == "dev"
    with pytest.raises(SettingsError, match="KLT_WATCHER_DEPLOY_COMAND"):
        watcher_config({"KLT_WATCHER_DEPLOY_COMAND": "x"})
    with pytest.raises(SettingsError, match="CONCURRENCY"):
        watcher_config({"KLT_WATCHER_CONCURRENCY": "0"})
