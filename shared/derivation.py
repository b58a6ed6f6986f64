"""What KLT's pod webhook and app-creation controller would make of a folder (klt-facts §2.1-§2.3).

Pure: a ``ManifestSet`` in, the KeptnWorkloads, KeptnApps and KeptnAppContexts out, named and
versioned exactly as KLT names them. In local mode the watcher drives these instead of watching pods.

- A workload object (Deployment, StatefulSet, DaemonSet, ReplicaSet) is a Keptn workload when its
  pod template, or failing that the object itself, has a workload key (``keys.workload_keys``).
- Its KeptnWorkload is ``<app>-<workload>``; the app is the app key, else the workload name
  (a single-service app). The version is the version key, else derived from the containers; it is
  lowercased, as the webhook does.
- ``resourceReference`` names the workload object itself (KLT names the pod's ReplicaSet, which a
  folder does not have); its uid is the object's own ``metadata.uid`` when it has one (read from a
  cluster), else a uuid5 of kind/namespace/name, stable across runs. When the set also holds a
  ReplicaSet controlled by a Deployment (the Kubernetes source writes the Deployment's current one),
  the Deployment's reference is that ReplicaSet, as KLT's webhook names the pod's owner (§1.5, §3.7);
  such a ReplicaSet is not a workload of its own (its pods' parent is the Deployment, §2.2).
- Apps: a user's KeptnApp is kept as written; otherwise one is created with
  ``app.kubernetes.io/managed-by: keptn``, its workloads (names without the ``<app>-`` prefix) and
  ``compute_version_from_workloads``. A user's KeptnApp that carries the managed-by label is
  managed, so klt syncs its workloads and version as KLT's controller would.
- Problems KLT would only show as an app waiting forever (a listed workload that does not exist or
  has another version; a workload whose user-defined app does not list it) are reported up front.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from shared.keptn.lifecycle import KeptnWorkload, KeptnWorkloadSpec, ResourceReference
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnApp, KeptnAppContext, KeptnAppSpec, WorkloadRef
from shared.keptn.workloads import Workload
from shared.manifests import ManifestError, ManifestSet
from shared.manifests.keys import WorkloadKeys, workload_keys
from shared.manifests.model import ObjectKey
from shared.manifests.paths import Path
from shared.naming import (
    APP_KEY,
    MANAGED_BY_KEPTN,
    MANAGED_BY_KEY,
    VERSION_KEY,
    VersionError,
    compute_version_from_workloads,
    derive_version,
    workload_name,
)

_UID_NAMESPACE = uuid.UUID("6f1c1d0e-8a43-5c8e-9a4f-6b6c74000001")


@dataclass
class DerivedLifecycle:
    """The objects KLT would create for a folder, and what stands in the way."""

    apps: dict[tuple[str, str], KeptnApp] = field(default_factory=dict)
    contexts: dict[tuple[str, str], KeptnAppContext] = field(default_factory=dict)
    workloads: dict[tuple[str, str], KeptnWorkload] = field(default_factory=dict)
    problems: list[ManifestError] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Workload objects that are not Keptn workloads, one sentence each."""
    sources: dict[tuple[str, str], ObjectKey] = field(default_factory=dict)
    """KeptnWorkload (namespace, name) → the workload object it was derived from."""

    def is_managed(self, namespace: str, app: str) -> bool:
        found = self.apps.get((namespace, app))
        return found is not None and found.metadata.labels.get(MANAGED_BY_KEY) == MANAGED_BY_KEPTN


def resource_uid(kind: str, namespace: str, name: str) -> str:
    """A stable uid for an object read from a file (the API server would assign a random one)."""
    return str(uuid.uuid5(_UID_NAMESPACE, f"{kind}/{namespace}/{name}"))


def derive(ms: ManifestSet) -> DerivedLifecycle:
    """Derive KeptnWorkloads, KeptnApps and KeptnAppContexts from ``ms``."""
    result = DerivedLifecycle()
    replica_sets = _controlled_replica_sets(ms)
    for key in sorted(ms.workloads):
        if key[0] == "ReplicaSet" and _controller_kind(ms.workloads[key]) in _RS_PARENTS:
            continue
        _derive_workload(ms, key, ms.workloads[key], result, replica_sets)
    _derive_apps(ms, result)
    for ns, app in result.apps:
        context = ms.app_contexts.get((ns, app))
        result.contexts[(ns, app)] = (
            context if context is not None else KeptnAppContext(metadata=ObjectMeta(name=app, namespace=ns))
        )
    for ns, name in ms.app_contexts:
        if (ns, name) not in result.apps:
            _problem(
                ms,
                result,
                ("KeptnAppContext", ns, name),
                ("metadata", "name"),
                f"no app named '{name}' in namespace '{ns}': no KeptnApp and no workload with "
                f"{APP_KEY}: {name}, so this context is never used",
            )
    return result


_RS_PARENTS = frozenset({"Deployment", "Rollout"})
_REVISION = "deployment.kubernetes.io/revision"


def _controller_kind(workload: Workload) -> str:
    for ref in workload.metadata.owner_references:
        if ref.controller:
            return ref.kind
    return ""


def _controlled_replica_sets(ms: ManifestSet) -> dict[str, list[Workload]]:
    """ReplicaSets by the uid of the Deployment that controls them."""
    found: dict[str, list[Workload]] = defaultdict(list)
    for (kind, _, _), workload in ms.workloads.items():
        if kind != "ReplicaSet":
            continue
        for ref in workload.metadata.owner_references:
            if ref.controller and ref.kind == "Deployment" and ref.uid:
                found[ref.uid].append(workload)
    return found


def _revision(workload: Workload) -> int:
    try:
        return int(workload.metadata.annotations.get(_REVISION, "0"))
    except ValueError:
        return 0


def _resource_reference(
    kind: str, ns: str, name: str, workload: Workload, replica_sets: dict[str, list[Workload]]
) -> ResourceReference:
    """What the KeptnWorkload's pods belong to: a Deployment's current (highest-revision) ReplicaSet when
    the set holds it, else the object itself (§1.5)."""
    owned = (
        replica_sets.get(workload.metadata.uid) if kind == "Deployment" and workload.metadata.uid else None
    )
    if owned:
        current = max(owned, key=lambda rs: (_revision(rs), rs.metadata.name))
        return ResourceReference(uid=current.metadata.uid, kind="ReplicaSet", name=current.metadata.name)
    return ResourceReference(uid=workload.metadata.uid or resource_uid(kind, ns, name), kind=kind, name=name)


def _derive_workload(
    ms: ManifestSet,
    key: ObjectKey,
    workload: Workload,
    result: DerivedLifecycle,
    replica_sets: dict[str, list[Workload]],
) -> None:
    kind, ns, name = key
    keys = workload_keys(workload)
    if keys is None:
        result.skipped.append(
            f"{kind} {ns}/{name} has no keptn.sh/workload or app.kubernetes.io/name label or annotation "
            "(on its pod template or itself), so it is not a Keptn workload"
        )
        return
    version = _version(ms, key, workload, keys, result)
    if version is None:
        return
    app = keys.app or keys.workload
    full_name = workload_name(app, keys.workload)
    if (ns, full_name) in result.workloads:
        other = result.sources[(ns, full_name)]
        _problem(
            ms,
            result,
            key,
            keys.fields.get("keptn.sh/workload", ()),
            f"{other[0]} {other[2]} is already the workload '{keys.workload}' of app '{app}' "
            f"(KeptnWorkload {full_name}); give each workload object its own workload name",
        )
        return
    result.sources[(ns, full_name)] = key
    result.workloads[(ns, full_name)] = KeptnWorkload(
        metadata=ObjectMeta(name=full_name, namespace=ns, uid=resource_uid("KeptnWorkload", ns, full_name)),
        spec=KeptnWorkloadSpec(
            app=app,
            version=version,
            pre_deployment_tasks=keys.pre_deployment_tasks,
            post_deployment_tasks=keys.post_deployment_tasks,
            pre_deployment_evaluations=keys.pre_deployment_evaluations,
            post_deployment_evaluations=keys.post_deployment_evaluations,
            resource_reference=_resource_reference(kind, ns, name, workload, replica_sets),
            metadata=keys.metadata,
        ),
    )


def _version(
    ms: ManifestSet, key: ObjectKey, workload: Workload, keys: WorkloadKeys, result: DerivedLifecycle
) -> str | None:
    if keys.version is not None:
        return keys.version.lower()
    try:
        return derive_version(workload.spec.template.spec.containers, keys.container).lower()
    except VersionError as exc:
        _problem(
            ms,
            result,
            key,
            keys.fields.get("keptn.sh/container", ()),
            f"{exc}; set {VERSION_KEY} or name an existing container",
        )
        return None


def _derive_apps(ms: ManifestSet, result: DerivedLifecycle) -> None:
    by_app: dict[tuple[str, str], list[KeptnWorkload]] = defaultdict(list)
    for (ns, _), kw in sorted(result.workloads.items()):
        by_app[(ns, kw.spec.app)].append(kw)
    for (ns, app), user_app in ms.apps.items():
        managed = user_app.metadata.labels.get(MANAGED_BY_KEY) == MANAGED_BY_KEPTN
        if managed and (ns, app) in by_app:
            continue  # synced below like an auto-created app
        result.apps[(ns, app)] = user_app
        _check_user_app(ms, result, ns, app, user_app, by_app.get((ns, app), []))
    for (ns, app), workloads in sorted(by_app.items()):
        if (ns, app) in result.apps:
            continue
        refs = [
            WorkloadRef(name=kw.metadata.name.removeprefix(f"{app}-"), version=kw.spec.version)
            for kw in workloads
        ]
        version = compute_version_from_workloads((kw.metadata.name, kw.spec.version) for kw in workloads)
        existing = ms.apps.get((ns, app))
        metadata = (
            existing.metadata
            if existing is not None
            else ObjectMeta(name=app, namespace=ns, labels={MANAGED_BY_KEY: MANAGED_BY_KEPTN})
        )
        result.apps[(ns, app)] = KeptnApp(
            metadata=metadata, spec=KeptnAppSpec(version=version, workloads=refs)
        )


def _check_user_app(
    ms: ManifestSet,
    result: DerivedLifecycle,
    ns: str,
    app: str,
    user_app: KeptnApp,
    workloads: list[KeptnWorkload],
) -> None:
    key: ObjectKey = ("KeptnApp", ns, app)
    listed = {ref.name for ref in user_app.spec.workloads}
    for i, ref in enumerate(user_app.spec.workloads):
        kw = result.workloads.get((ns, workload_name(app, ref.name)))
        if kw is None:
            _problem(
                ms,
                result,
                key,
                ("spec", "workloads", i, "name"),
                f"workload '{ref.name}' is not in the manifests: no Deployment, StatefulSet, DaemonSet or "
                f"ReplicaSet in namespace '{ns}' has {APP_KEY}: {app} and keptn.sh/workload: {ref.name}; "
                "the app would wait for it forever",
            )
        elif kw.spec.version != ref.version.lower():
            _problem(
                ms,
                result,
                key,
                ("spec", "workloads", i, "version"),
                f"workload '{ref.name}' has version '{kw.spec.version}' in its manifest, not "
                f"'{ref.version}'; the app would wait for version '{ref.version}' forever",
            )
    for kw in workloads:
        short = kw.metadata.name.removeprefix(f"{app}-")
        if short not in listed:
            source = result.sources[(ns, kw.metadata.name)]
            keys = workload_keys(ms.workloads[source])
            path = keys.fields.get(APP_KEY, ()) if keys else ()
            _problem(
                ms,
                result,
                source,
                path,
                f"its app '{app}' is a KeptnApp that does not list workload '{short}'; add "
                f"{{name: {short}, version: {kw.spec.version}}} to spec.workloads of KeptnApp {app}",
            )


def _problem(ms: ManifestSet, result: DerivedLifecycle, key: ObjectKey, path: Path, message: str) -> None:
    result.problems.append(ms.error_at(key, path, message))
