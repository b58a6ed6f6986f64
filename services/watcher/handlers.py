"""The watcher's pure decisions: what the desired state means, which lifecycle objects it asks for,
and what each reconcile may read. No I/O; ``service`` and ``driving`` carry the decisions out.

KLT semantics kept here (klt-facts §3.5, §3.6):
- A KeptnApp whose spec changed gets a new generation; its AppVersion is
  ``<app>-<version>-<hash(generation)>``, and the AppVersions of older generations *of the same
  version* are deprecated. ``previousVersion`` is the version the app had before, when it differs.
- A KeptnWorkload at a new version gets a KeptnWorkloadVersion ``<workload>-<version>`` whose
  ``previousVersion`` is the workload's ``currentVersion``; an existing one whose spec changed is
  updated in place.
- A workload version's start gate reads the newest non-Deprecated AppVersion of its app that lists it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import msgspec

from shared.derivation import DerivedLifecycle, derive
from shared.durations import parse_duration
from shared.keptn.lifecycle import (
    LIFECYCLE_API,
    KeptnAppVersion,
    KeptnAppVersionSpec,
    KeptnWorkload,
    KeptnWorkloadSpec,
    KeptnWorkloadStatus,
    KeptnWorkloadVersion,
    KeptnWorkloadVersionSpec,
)
from shared.keptn.meta import ObjectMeta, OwnerReference
from shared.keptn.resources import (
    KeptnApp,
    KeptnAppContext,
    KeptnConfig,
    KeptnEvaluationDefinition,
    KeptnTaskDefinition,
)
from shared.keptn.states import KeptnState
from shared.manifests import KIND_TYPES, ManifestSet, decode_object, manifest_set_from_objects
from shared.naming import app_version_name, resource_name, workload_version_name
from shared.phases import Options

DEFAULT_OBSERVABILITY_TIMEOUT_S = 300.0
"""KeptnConfig ``observabilityTimeout`` default, 5m (§1.11)."""

_Def = TypeVar("_Def", KeptnTaskDefinition, KeptnEvaluationDefinition)
_KIND_OF_KEY = {kind.lower(): kind for kind in KIND_TYPES}
_encoder = msgspec.json.Encoder()


def decode_desired(key: str, value: bytes) -> tuple[str, msgspec.Struct] | None:
    """The ``(kind, object)`` stored under a desired-state key, or None for a kind klt does not keep."""
    kind = _KIND_OF_KEY.get(key.split(".", 1)[0])
    if kind is None or kind == "Secret":
        return None
    return kind, decode_object(kind, value)


@dataclass
class DesiredView:
    """The desired state as the watcher uses it: the manifests, what KLT derives from them, the options
    of the last KeptnConfig, and definitions resolved per namespace (the object's namespace first,
    then the Keptn namespace, §0)."""

    manifests: ManifestSet
    derived: DerivedLifecycle
    options: Options
    observability_timeout_s: float
    keptn_namespace: str
    _tasks: dict[str, dict[str, KeptnTaskDefinition]] = field(default_factory=dict)
    _evaluations: dict[str, dict[str, KeptnEvaluationDefinition]] = field(default_factory=dict)

    def task_definitions(self, namespace: str) -> Mapping[str, KeptnTaskDefinition]:
        found = self._tasks.get(namespace)
        if found is None:
            found = self._tasks[namespace] = _resolve(
                self.manifests.task_definitions, namespace, self.keptn_namespace
            )
        return found

    def evaluation_definitions(self, namespace: str) -> Mapping[str, KeptnEvaluationDefinition]:
        found = self._evaluations.get(namespace)
        if found is None:
            found = self._evaluations[namespace] = _resolve(
                self.manifests.evaluation_definitions, namespace, self.keptn_namespace
            )
        return found


def _resolve(by_key: Mapping[tuple[str, str], _Def], namespace: str, fallback: str) -> dict[str, _Def]:
    resolved = {name: obj for (ns, name), obj in by_key.items() if ns == fallback}
    resolved.update({name: obj for (ns, name), obj in by_key.items() if ns == namespace})
    return resolved


def desired_view(
    objects: Iterable[tuple[str, msgspec.Struct]],
    keptn_namespace: str,
    promotion_tasks_enabled: bool,
    stuck_deadline_s: float = 0.0,
) -> DesiredView:
    """Build the view of the desired state from its stored objects (``stuck_deadline_s``: the watcher's
    setting, 0 waits forever)."""
    manifests = manifest_set_from_objects(objects)
    config = manifests.configs[-1] if manifests.configs else None
    return DesiredView(
        manifests=manifests,
        derived=derive(manifests),
        options=Options(
            block_deployment=config.spec.block_deployment if config else True,
            promotion_tasks_enabled=promotion_tasks_enabled,
            stuck_deadline_s=stuck_deadline_s,
        ),
        observability_timeout_s=_observability_timeout(config),
        keptn_namespace=keptn_namespace,
    )


def _observability_timeout(config: KeptnConfig | None) -> float:
    if config is None:
        return DEFAULT_OBSERVABILITY_TIMEOUT_S
    try:
        return parse_duration(config.spec.observability_timeout)
    except ValueError:
        return DEFAULT_OBSERVABILITY_TIMEOUT_S


# --- what the desired state asks for -------------------------------------------------------------


@dataclass
class SyncPlan:
    """Lifecycle objects to write so that the stored state matches the desired state. Objects to
    create have no revision; updates carry the revision they were decided from (compare-and-set)."""

    apps: list[tuple[KeptnApp, int | None]] = field(default_factory=list)
    app_versions: list[KeptnAppVersion] = field(default_factory=list)
    deprecate: list[tuple[str, str]] = field(default_factory=list)
    """(namespace, name) of AppVersions of older generations to deprecate."""
    workloads: list[tuple[KeptnWorkload, int | None]] = field(default_factory=list)
    workload_versions: list[KeptnWorkloadVersion] = field(default_factory=list)
    updated_workload_versions: list[tuple[KeptnWorkloadVersion, int]] = field(default_factory=list)


class StoredView:
    """What ``plan_sync`` needs to know about the stored state (implemented by the watcher's index)."""

    def app(self, namespace: str, name: str) -> tuple[KeptnApp, int] | None:
        raise NotImplementedError

    def workload(self, namespace: str, name: str) -> tuple[KeptnWorkload, int] | None:
        raise NotImplementedError

    def app_version(self, namespace: str, name: str) -> KeptnAppVersion | None:
        raise NotImplementedError

    def workload_version(self, namespace: str, name: str) -> tuple[KeptnWorkloadVersion, int] | None:
        raise NotImplementedError


def plan_sync(
    derived: DerivedLifecycle, stored: StoredView, now: str, new_uid: Callable[[], str]
) -> SyncPlan:
    """Decide the apps, workloads and versions to write for ``derived`` (§3.5, §3.6)."""
    plan = SyncPlan()
    for (ns, name), app in sorted(derived.apps.items()):
        context = derived.contexts.get((ns, name))
        if context is None:
            context = KeptnAppContext(metadata=ObjectMeta(name=name, namespace=ns))
        _plan_app(plan, stored, ns, name, app, context, now, new_uid)
    for (ns, name), workload in sorted(derived.workloads.items()):
        _plan_workload(plan, stored, ns, name, workload, now, new_uid)
    return plan


def _same(a: msgspec.Struct, b: msgspec.Struct) -> bool:
    return _encoder.encode(a) == _encoder.encode(b)


_S = TypeVar("_S", bound=msgspec.Struct)


def _copy(part: _S) -> _S:
    """A deep copy, so stored objects never share parts with the desired state they came from."""
    copied: _S = msgspec.json.decode(_encoder.encode(part), type=type(part))
    return copied


def _plan_app(
    plan: SyncPlan,
    stored: StoredView,
    ns: str,
    name: str,
    app: KeptnApp,
    context: KeptnAppContext,
    now: str,
    new_uid: Callable[[], str],
) -> None:
    found = stored.app(ns, name)
    previous_version = ""
    if found is None:
        kept = KeptnApp(
            metadata=ObjectMeta(
                name=name,
                namespace=ns,
                uid=new_uid(),
                generation=1,
                creation_timestamp=now,
                labels=dict(app.metadata.labels),
                annotations=dict(app.metadata.annotations),
            ),
            spec=_copy(app.spec),
        )
        plan.apps.append((kept, None))
    else:
        kept, revision = found
        if not _same(kept.spec, app.spec):
            previous_version = kept.spec.version if kept.spec.version != app.spec.version else ""
            meta = msgspec.structs.replace(kept.metadata, generation=kept.metadata.generation + 1)
            kept = KeptnApp(metadata=meta, spec=_copy(app.spec))
            plan.apps.append((kept, revision))
    generation = kept.metadata.generation
    av_name = app_version_name(name, kept.spec.version, generation)
    if stored.app_version(ns, av_name) is None:
        plan.app_versions.append(_new_app_version(kept, context, av_name, previous_version, now, new_uid()))
    for older in range(1, generation):
        old_name = app_version_name(name, kept.spec.version, older)
        old = stored.app_version(ns, old_name)
        if old is not None and old.status.status != KeptnState.DEPRECATED:
            plan.deprecate.append((ns, old_name))


def _version_metadata(owner_kind: str, owner: ObjectMeta, name: str, now: str, uid: str) -> ObjectMeta:
    """Metadata of a new AppVersion/WorkloadVersion: owned by its app/workload, carrying its trace context."""
    traceparent = owner.annotations.get("traceparent")
    return ObjectMeta(
        name=name,
        namespace=owner.namespace,
        uid=uid,
        creation_timestamp=now,
        annotations={"traceparent": traceparent} if traceparent else {},
        owner_references=[_owner(owner_kind, owner)],
    )


def _new_app_version(
    app: KeptnApp, context: KeptnAppContext, name: str, previous_version: str, now: str, uid: str
) -> KeptnAppVersion:
    """The AppVersion KLT's KeptnApp controller creates: the app spec plus the context spec (§3.5)."""
    ctx = context.spec
    return KeptnAppVersion(
        metadata=_version_metadata("KeptnApp", app.metadata, name, now, uid),
        spec=KeptnAppVersionSpec(
            app_name=app.metadata.name,
            version=app.spec.version,
            revision=app.spec.revision,
            workloads=list(app.spec.workloads),
            pre_deployment_tasks=list(ctx.pre_deployment_tasks),
            post_deployment_tasks=list(ctx.post_deployment_tasks),
            pre_deployment_evaluations=list(ctx.pre_deployment_evaluations),
            post_deployment_evaluations=list(ctx.post_deployment_evaluations),
            promotion_tasks=list(ctx.promotion_tasks),
            metadata=dict(ctx.metadata),
            span_links=list(ctx.span_links),
            previous_version=previous_version,
        ),
    )


def _owner(kind: str, meta: ObjectMeta) -> OwnerReference:
    return OwnerReference(api_version=LIFECYCLE_API, kind=kind, name=meta.name, uid=meta.uid, controller=True)


def _plan_workload(
    plan: SyncPlan,
    stored: StoredView,
    ns: str,
    name: str,
    workload: KeptnWorkload,
    now: str,
    new_uid: Callable[[], str],
) -> None:
    found = stored.workload(ns, name)
    version = workload.spec.version
    if found is None:
        kept = KeptnWorkload(
            metadata=ObjectMeta(
                name=name,
                namespace=ns,
                uid=workload.metadata.uid or new_uid(),
                creation_timestamp=now,
                annotations=dict(workload.metadata.annotations),
            ),
            spec=_copy(workload.spec),
            status=KeptnWorkloadStatus(current_version=version),
        )
        previous_version = ""
        plan.workloads.append((kept, None))
    else:
        kept, revision = found
        current = kept.status.current_version
        previous_version = current if current != version else ""
        if not _same(kept.spec, workload.spec) or current != version:
            kept = KeptnWorkload(
                metadata=kept.metadata,
                spec=workload.spec,
                status=KeptnWorkloadStatus(current_version=version),
            )
            plan.workloads.append((kept, revision))
    kwv_name = workload_version_name(name, version)
    existing = stored.workload_version(ns, kwv_name)
    if existing is None:
        plan.workload_versions.append(_new_workload_version(kept, kwv_name, previous_version, now, new_uid()))
        return
    kwv, revision = existing
    wanted = _kwv_spec(kept.spec, name, kwv.spec.previous_version, kwv.spec.trace_id)
    if not _same(kwv.spec, wanted):
        plan.updated_workload_versions.append((msgspec.structs.replace(kwv, spec=wanted), revision))


def _kwv_spec(
    spec: KeptnWorkloadSpec, workload_name: str, previous_version: str, trace_id: dict[str, str]
) -> KeptnWorkloadVersionSpec:
    fields = {f: getattr(spec, f) for f in spec.__struct_fields__}
    return KeptnWorkloadVersionSpec(
        **fields, workload_name=workload_name, previous_version=previous_version, trace_id=dict(trace_id)
    )


def _new_workload_version(
    workload: KeptnWorkload, name: str, previous_version: str, now: str, uid: str
) -> KeptnWorkloadVersion:
    return KeptnWorkloadVersion(
        metadata=_version_metadata("KeptnWorkload", workload.metadata, name, now, uid),
        spec=_kwv_spec(workload.spec, workload.metadata.name, previous_version, {}),
    )


# --- who waits for whom (§3.6) --------------------------------------------------------------------


def lists_workload(av: KeptnAppVersion, kwv: KeptnWorkloadVersion) -> bool:
    """Whether ``av`` lists ``kwv``'s workload at ``kwv``'s version."""
    if av.spec.app_name != kwv.spec.app:
        return False
    return any(
        ref.version == kwv.spec.version
        and resource_name(av.spec.app_name, ref.name) == kwv.spec.workload_name
        for ref in av.spec.workloads
    )


def gate_app_version(
    kwv: KeptnWorkloadVersion, app_versions: Iterable[KeptnAppVersion]
) -> KeptnAppVersion | None:
    """The newest (by creationTimestamp, then name) non-Deprecated AppVersion listing ``kwv``."""
    candidates = [
        av for av in app_versions if av.status.status != KeptnState.DEPRECATED and lists_workload(av, kwv)
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda av: (av.metadata.creation_timestamp or "", av.metadata.name))


def listed_workload_version_names(av: KeptnAppVersion) -> list[str]:
    """The KeptnWorkloadVersion names AppDeploy waits for (``<app>-<workload>-<version>``)."""
    return [resource_name(av.spec.app_name, ref.name, ref.version) for ref in av.spec.workloads]
