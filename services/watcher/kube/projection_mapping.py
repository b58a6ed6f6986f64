"""What a stored lifecycle object looks like as a ``lifecycle.keptn.sh/v1`` custom resource, and the
smallest writes that make a live CR look like that. Pure: no I/O.

The state bucket is the system of record; the CR is its projection (DESIGN §2), so that
``kubectl get keptnworkloadversions`` shows what KLT would show (klt-facts §1):

- ``spec``, labels, annotations and ``ownerReferences`` go through the main resource; ``status`` only
  through the status subresource (the API server drops it on create and on main-resource writes).
- Owner references follow KLT (§1.5, §1.3, §1.6, §1.8, §1.10): a KeptnWorkload is owned by the object in
  its ``spec.resourceReference`` (the pod's owner, not as controller); an AppVersion by its KeptnApp; a
  WorkloadVersion by its KeptnWorkload; a KeptnTask or KeptnEvaluation by its parent version (all three
  as controller, ``blockOwnerDeletion`` as controller-runtime sets it). The owner's uid is the *cluster*
  uid, which only the API knows, so this module names owners and the projector resolves them.
- A KeptnApp written by a user is desired state: klt never creates it or writes its spec, labels or
  owners; only ``status.currentVersion`` (§1.1). Apps klt created carry
  ``app.kubernetes.io/managed-by: keptn`` and are projected like every other kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from shared.keptn.lifecycle import (
    LIFECYCLE_API,
    KeptnAppVersion,
    KeptnAppVersionSpec,
    KeptnAppVersionStatus,
    KeptnEvaluation,
    KeptnEvaluationSpec,
    KeptnEvaluationStatus,
    KeptnTask,
    KeptnTaskSpec,
    KeptnTaskStatus,
    KeptnWorkload,
    KeptnWorkloadSpec,
    KeptnWorkloadStatus,
    KeptnWorkloadVersion,
    KeptnWorkloadVersionSpec,
    KeptnWorkloadVersionStatus,
)
from shared.keptn.resources import LIFECYCLE_GROUP, KeptnApp, KeptnAppSpec
from shared.naming import MANAGED_BY_KEPTN, MANAGED_BY_KEY

VERSION = "v1"

Body = dict[str, Any]


class KeptnAppStatus(msgspec.Struct, kw_only=True, rename="camel"):
    """KeptnApp's status (§1.1): the version the latest AppVersion was created for."""

    current_version: str = ""


@dataclass(frozen=True)
class KindInfo:
    plural: str
    spec_type: type[msgspec.Struct]
    status_type: type[msgspec.Struct]


KINDS: dict[str, KindInfo] = {
    "KeptnApp": KindInfo("keptnapps", KeptnAppSpec, KeptnAppStatus),
    "KeptnWorkload": KindInfo("keptnworkloads", KeptnWorkloadSpec, KeptnWorkloadStatus),
    "KeptnAppVersion": KindInfo("keptnappversions", KeptnAppVersionSpec, KeptnAppVersionStatus),
    "KeptnWorkloadVersion": KindInfo(
        "keptnworkloadversions", KeptnWorkloadVersionSpec, KeptnWorkloadVersionStatus
    ),
    "KeptnTask": KindInfo("keptntasks", KeptnTaskSpec, KeptnTaskStatus),
    "KeptnEvaluation": KindInfo("keptnevaluations", KeptnEvaluationSpec, KeptnEvaluationStatus),
}
"""Every kind the projection writes, parents before children (the order creation should follow)."""

OWNER_API_VERSIONS = {
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Deployment": "apps/v1",
    "Rollout": "argoproj.io/v1alpha1",
}
"""API version of each kind a KeptnWorkload's ``resourceReference`` can name (§2.2, §3.8)."""

_PARENT_KINDS = ("KeptnAppVersion", "KeptnWorkloadVersion")

Projectable = KeptnApp | KeptnWorkload | KeptnAppVersion | KeptnWorkloadVersion | KeptnTask | KeptnEvaluation


@dataclass(frozen=True)
class OwnerLink:
    """An owner named by kind and name; ``uid_hint`` is what the state knows (the cluster uid only for
    a resourceReference the Kubernetes source filled in)."""

    api_version: str
    kind: str
    name: str
    controller: bool
    uid_hint: str = ""

    @property
    def plural(self) -> str:
        info = KINDS.get(self.kind)
        return info.plural if info is not None else f"{self.kind.lower()}s"

    @property
    def group_version(self) -> tuple[str, str]:
        group, _, version = self.api_version.rpartition("/")
        return group, version

    def reference(self, uid: str) -> Body:
        """The ``ownerReferences`` entry once the owner's cluster uid is known."""
        ref: Body = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": uid}
        if self.controller:
            ref["controller"] = True
            ref["blockOwnerDeletion"] = True
        return ref


@dataclass(frozen=True)
class Projected:
    """The CR one stored object should be. ``spec`` None: klt must not write the spec (a user's
    KeptnApp), and then neither labels, annotations nor owners."""

    kind: str
    namespace: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    owners: tuple[OwnerLink, ...]
    spec: Body | None
    status: Body

    @property
    def info(self) -> KindInfo:
        return KINDS[self.kind]

    @property
    def plural(self) -> str:
        return self.info.plural

    @property
    def managed(self) -> bool:
        """Whether klt creates this CR and owns its spec."""
        return self.spec is not None

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def is_user_app(app: KeptnApp) -> bool:
    return app.metadata.labels.get(MANAGED_BY_KEY) != MANAGED_BY_KEPTN


def project(obj: Projectable) -> Projected:
    """The CR ``obj`` is projected to."""
    meta = obj.metadata
    if isinstance(obj, KeptnApp):
        user = is_user_app(obj)
        return Projected(
            kind=obj.kind,
            namespace=meta.namespace,
            name=meta.name,
            labels={} if user else dict(meta.labels),
            annotations={} if user else dict(meta.annotations),
            owners=(),
            spec=None if user else spec_builtins(obj.spec),
            status={"currentVersion": obj.spec.version},
        )
    return Projected(
        kind=obj.kind,
        namespace=meta.namespace,
        name=meta.name,
        labels=dict(meta.labels),
        annotations=dict(meta.annotations),
        owners=owner_links(obj),
        spec=spec_builtins(obj.spec),
        status=msgspec.to_builtins(obj.status),
    )


def spec_builtins(value: Any) -> Any:
    """``value`` as JSON-ready builtins the way KLT's Go types serialise a spec: empty optional values
    left out (``omitempty``), but defaults that have a value written out (``retries: 10``,
    ``timeout: 5m``, ``revision: 1``, as the CRD's defaulting would show them), so a patch restores a
    changed default instead of deleting the field. Structs that always write every field
    (``TaskContext``) keep doing so."""
    if isinstance(value, msgspec.Struct):
        omit_empty = value.__struct_config__.omit_defaults
        out: Body = {}
        for field in msgspec.structs.fields(value):
            item = getattr(value, field.name)
            if item is msgspec.UNSET or (omit_empty and _is_empty(item)):
                continue
            out[field.encode_name] = spec_builtins(item)
        return out
    if isinstance(value, dict):
        return {key: spec_builtins(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [spec_builtins(item) for item in value]
    return msgspec.to_builtins(value)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def owner_links(obj: Projectable) -> tuple[OwnerLink, ...]:
    """Who owns ``obj`` as KLT sets it (see the module docstring)."""
    if isinstance(obj, KeptnApp):
        return ()
    if isinstance(obj, KeptnWorkload):
        ref = obj.spec.resource_reference
        api_version = OWNER_API_VERSIONS.get(ref.kind)
        if api_version is None or not ref.name:
            return ()
        return (OwnerLink(api_version, ref.kind, ref.name, controller=False, uid_hint=ref.uid),)
    if isinstance(obj, KeptnAppVersion):
        wanted: tuple[str, ...] = ("KeptnApp",)
    elif isinstance(obj, KeptnWorkloadVersion):
        wanted = ("KeptnWorkload",)
    else:
        wanted = _PARENT_KINDS
    return tuple(
        OwnerLink(LIFECYCLE_API, ref.kind, ref.name, controller=True)
        for ref in obj.metadata.owner_references
        if ref.kind in wanted and ref.name
    )


def create_body(p: Projected, owner_refs: list[Body]) -> Body:
    """The body of the create request (status is written afterwards through the subresource)."""
    metadata: Body = {"name": p.name, "namespace": p.namespace}
    if p.labels:
        metadata["labels"] = dict(p.labels)
    if p.annotations:
        metadata["annotations"] = dict(p.annotations)
    if owner_refs:
        metadata["ownerReferences"] = owner_refs
    return {
        "apiVersion": f"{LIFECYCLE_GROUP}/{VERSION}",
        "kind": p.kind,
        "metadata": metadata,
        "spec": p.spec if p.spec is not None else {},
    }


def is_projected(kind: str, live: Body) -> bool:
    """Whether a live CR is one klt writes (so one without a state entry is an orphan to delete):
    never a user's KeptnApp, and a KeptnTask or KeptnEvaluation only when a version owns it (a user
    may create a standalone one)."""
    meta = live.get("metadata") or {}
    if kind == "KeptnApp":
        return (meta.get("labels") or {}).get(MANAGED_BY_KEY) == MANAGED_BY_KEPTN
    if kind in ("KeptnTask", "KeptnEvaluation"):
        refs = meta.get("ownerReferences") or []
        return any(ref.get("kind") in _PARENT_KINDS for ref in refs)
    return kind in KINDS


# --- differences ----------------------------------------------------------------------------------


def merge_patch(live: Any, desired: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``live`` into ``desired``; ``{}`` when equal. A key
    missing from ``desired`` (or None there) is removed; lists are replaced whole."""
    if not isinstance(live, dict) or not isinstance(desired, dict):
        return desired
    patch: Body = {}
    for key, value in desired.items():
        if key not in live:
            if value is not None:
                patch[key] = value
            continue
        old = live[key]
        if value is None:
            if old is not None:
                patch[key] = None
        elif isinstance(value, dict) and isinstance(old, dict):
            inner = merge_patch(old, value)
            if inner != {}:
                patch[key] = inner
        elif old != value:
            patch[key] = value
    for key in live:
        if key not in desired:
            patch[key] = None
    return patch


def _normalized(raw: Any, model: type[msgspec.Struct]) -> Any:
    """``raw`` read through ``model`` and written back: server-side defaults and fields klt does not
    know disappear, so they never count as a difference."""
    try:
        return msgspec.to_builtins(msgspec.convert(raw or {}, model))
    except (msgspec.ValidationError, TypeError):
        return None


def spec_patch(p: Projected, live: Body) -> Body | None:
    """The merge patch of ``spec``, or None when the live spec already says the same."""
    if p.spec is None:
        return None
    live_spec = live.get("spec") or {}
    if _normalized(live_spec, p.info.spec_type) == _normalized(p.spec, p.info.spec_type):
        return None
    patch = merge_patch(live_spec, p.spec)
    return patch if patch else None


def status_patch(p: Projected, live: Body) -> Body | None:
    """The merge patch of ``status``, or None when the live status already says the same."""
    live_status = live.get("status") or {}
    if _normalized(live_status, p.info.status_type) == _normalized(p.status, p.info.status_type):
        return None
    patch = merge_patch(live_status, p.status)
    return patch if patch else None


def metadata_patch(p: Projected, live: Body, owner_refs: list[Body]) -> Body | None:
    """Labels and annotations klt sets (others are left alone) and the owner references, when they
    differ from the live object; None otherwise or for a user's KeptnApp."""
    if not p.managed:
        return None
    meta = live.get("metadata") or {}
    patch: Body = {}
    for field, wanted in (("labels", p.labels), ("annotations", p.annotations)):
        have = meta.get(field) or {}
        changed = {key: value for key, value in wanted.items() if have.get(key) != value}
        if changed:
            patch[field] = changed
    if _owner_keys(meta.get("ownerReferences") or []) != _owner_keys(owner_refs):
        patch["ownerReferences"] = owner_refs
    return patch or None


def _owner_keys(refs: list[Body]) -> list[tuple[Any, ...]]:
    return [
        (
            ref.get("apiVersion"),
            ref.get("kind"),
            ref.get("name"),
            ref.get("uid"),
            bool(ref.get("controller")),
            bool(ref.get("blockOwnerDeletion")),
        )
        for ref in refs
    ]
