"""The Kubernetes API access the watcher's Kubernetes mode needs, as ``(group, resource, verb)``.

``deploy/kustomize/base/rbac.yaml`` must grant exactly this to ``klt-watcher`` (a unit test compares
them), so a new API call without its RBAC rule fails in the test suite instead of with a 403 in a
cluster. Where the code keeps its resources in a table (the source's watched kinds, the projected kinds,
rollout collections, owner kinds), the need is derived from that table; the rest is listed by hand next
to the module that makes the call.
"""

from __future__ import annotations

from services.watcher.kube.gates import PODS
from services.watcher.kube.projection_mapping import _PARENT_KINDS, KINDS, OWNER_API_VERSIONS
from services.watcher.kube.rollouts import _COLLECTIONS
from services.watcher.kube.source import RESOURCES
from shared.keptn.resources import LIFECYCLE_GROUP

Access = tuple[str, str, str]
"""``(API group, resource, verb)``; ``""`` is the core group, a subresource is ``<plural>/<sub>``."""


def _collection(path: str) -> tuple[str, str]:
    """``(group, plural)`` of a namespaced collection path such as ``/apis/apps/v1/namespaces/{ns}/x``."""
    parts = path.strip("/").split("/")
    return ("" if parts[0] == "api" else parts[1]), parts[-1]


def _plural(kind: str) -> str:
    return f"{kind.lower()}s"


def required() -> frozenset[Access]:
    """Every call the watcher makes in Kubernetes mode."""
    need: set[Access] = set()
    # source.py: list+watch of every kind of desired state.
    need |= {(r.group, r.plural, verb) for r in RESOURCES for verb in ("list", "watch")}
    # gates.py: list+watch pods, read one again, patch the scheduling gate away.
    need |= {(PODS.group, PODS.plural, verb) for verb in ("list", "watch", "get", "patch")}
    # rollouts.py: list+watch one workload object (fieldSelector) until it runs.
    need |= {(*_collection(path), verb) for path in _COLLECTIONS.values() for verb in ("list", "watch")}
    # webhook.py: the namespace's annotations and the pod's owner chain; projection.py reads the same
    # kinds for a KeptnWorkload's owner reference.
    need.add(("", "namespaces", "get"))
    for api_version in OWNER_API_VERSIONS.values():
        group = api_version.rpartition("/")[0]
        need |= {(group, _plural(kind), "get") for kind, v in OWNER_API_VERSIONS.items() if v == api_version}
    # projection.py / projection_api.py: KLT's CRs written from the state bucket (events.py reads them
    # to name the Event's object).
    for info in KINDS.values():
        need |= {(LIFECYCLE_GROUP, info.plural, v) for v in ("get", "list", "create", "patch", "delete")}
        need.add((LIFECYCLE_GROUP, f"{info.plural}/status", "patch"))
    # Controller owner references with blockOwnerDeletion: an API server running the
    # OwnerReferencesPermissionEnforcement admission plugin wants update on the owner's finalizers.
    controller_owners = {"KeptnApp", "KeptnWorkload", *_PARENT_KINDS}
    need |= {(LIFECYCLE_GROUP, f"{KINDS[k].plural}/finalizers", "update") for k in controller_owners}
    # events.py via projection_api.CoreEvents: core/v1 Events with KLT's reasons.
    need.add(("", "events", "create"))
    return frozenset(need)
