"""The resource table: every kind the test server serves, one line each.

The table drives URL routing, discovery documents, list kinds and which kinds have a ``/status``
subresource. Versions of one group and plural share one storage (as a CRD with several served versions
and no conversion webhook would): an object created as ``v1alpha3`` is served unchanged as ``v1``,
only ``apiVersion`` is rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One served resource at one version."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = True
    short_names: tuple[str, ...] = ()
    #: Built-in kinds omit ``kind``/``apiVersion`` on list items; custom resources keep them.
    builtin: bool = True
    #: Kinds whose objects carry ``metadata.generation`` (ConfigMaps, Secrets, Events do not).
    generation: bool = True
    #: ``(group, plural)``: every served version of one kind shares this storage.
    storage: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "storage", (self.group, self.plural))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``pods``, ``deployments.apps``: how the API server names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()


def _core(
    plural: str,
    kind: str,
    *,
    status: bool = True,
    namespaced: bool = True,
    gen: bool = True,
    short: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType("", "v1", plural, kind, namespaced, status, short, True, gen)


def _crd(
    group: str,
    versions: Iterable[str],
    plural: str,
    kind: str,
    *,
    status: bool = True,
    short: tuple[str, ...] = (),
    namespaced: bool = True,
) -> list[ResourceType]:
    return [ResourceType(group, v, plural, kind, namespaced, status, short, False) for v in versions]


_OLD5 = ("v1alpha1", "v1alpha2", "v1alpha3", "v1beta1", "v1")
_LC = "lifecycle.keptn.sh"
_MX = "metrics.keptn.sh"

DEFAULT_RESOURCES: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, gen=False, short=("ns",)),
    _core("nodes", "Node", namespaced=False, gen=False, short=("no",)),
    _core("pods", "Pod", short=("po",)),
    _core("secrets", "Secret", status=False, gen=False),
    _core("configmaps", "ConfigMap", status=False, gen=False, short=("cm",)),
    _core("events", "Event", status=False, gen=False, short=("ev",)),
    _core("services", "Service", short=("svc",)),
    _core("serviceaccounts", "ServiceAccount", status=False, gen=False, short=("sa",)),
    ResourceType("apps", "v1", "deployments", "Deployment", short_names=("deploy",)),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",)),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",)),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",)),
    ResourceType("batch", "v1", "jobs", "Job"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", status=False, generation=False),
    ResourceType("events.k8s.io", "v1", "events", "Event", status=False, generation=False),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        namespaced=False,
        status=False,
    ),
    *_crd("argoproj.io", ("v1alpha1",), "rollouts", "Rollout", short=("ro",)),
    *_crd(_LC, _OLD5, "keptnapps", "KeptnApp"),
    *_crd(_LC, ("v1beta1", "v1"), "keptnappcontexts", "KeptnAppContext"),
    *_crd(_LC, ("v1alpha3", "v1beta1", "v1"), "keptnappcreationrequests", "KeptnAppCreationRequest"),
    *_crd(_LC, _OLD5, "keptnappversions", "KeptnAppVersion", short=("kav",)),
    *_crd(_LC, _OLD5, "keptnworkloads", "KeptnWorkload", short=("kw",)),
    *_crd(
        _LC, ("v1alpha4", "v1beta1", "v1"), "keptnworkloadversions", "KeptnWorkloadVersion", short=("kwv",)
    ),
    *_crd(
        _LC,
        ("v1alpha1", "v1alpha2", "v1alpha3"),
        "keptnworkloadinstances",
        "KeptnWorkloadInstance",
        short=("kwi",),
    ),
    *_crd(_LC, _OLD5, "keptntasks", "KeptnTask"),
    *_crd(_LC, _OLD5, "keptntaskdefinitions", "KeptnTaskDefinition"),
    *_crd(_LC, _OLD5, "keptnevaluations", "KeptnEvaluation", short=("ke",)),
    *_crd(_LC, _OLD5, "keptnevaluationdefinitions", "KeptnEvaluationDefinition", short=("ked",)),
    *_crd(_MX, _OLD5, "keptnmetrics", "KeptnMetric"),
    *_crd(
        _MX,
        ("v1alpha2", "v1alpha3", "v1beta1", "v1"),
        "keptnmetricsproviders",
        "KeptnMetricsProvider",
        short=("kmp",),
    ),
    *_crd(_MX, ("v1alpha3", "v1beta1", "v1"), "analyses", "Analysis"),
    *_crd(_MX, ("v1alpha3", "v1beta1", "v1"), "analysisdefinitions", "AnalysisDefinition"),
    *_crd(_MX, ("v1alpha3", "v1beta1", "v1"), "analysisvaluetemplates", "AnalysisValueTemplate"),
    *_crd("options.keptn.sh", ("v1alpha1",), "keptnconfigs", "KeptnConfig"),
)

#: Preferred (storage) version per group, for discovery: the last version listed for the group.
_VERSION_ORDER = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4", "v1beta1", "v1beta2", "v1")


class ResourceTable:
    """Lookup of served resources by URL parts, by name, or by kind."""

    def __init__(self, resources: Iterable[ResourceType] = DEFAULT_RESOURCES) -> None:
        self._all = list(resources)
        self._by_url = {(r.group, r.version, r.plural): r for r in self._all}

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._all)

    def add(self, resource: ResourceType) -> None:
        """Serve one more resource (a test's own kind)."""
        self._all.append(resource)
        self._by_url[(resource.group, resource.version, resource.plural)] = resource

    def at(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_url.get((group, version, plural))

    def lookup(self, name: str) -> ResourceType:
        """Find a resource by ``pods``, ``Pod``, ``deployments.apps``, ``apps/v1/deployments`` or
        ``lifecycle.keptn.sh/v1/keptnapps``; the preferred version wins when several match."""
        if name.count("/") == 2:
            group, version, plural = name.split("/")
            found = self.at(group, version, plural)
            if found is None:
                raise KeyError(f"the test server serves no resource {name!r}")
            return found
        if name.count("/") == 1:
            version, plural = name.split("/")
            found = self.at("", version, plural)
            if found is None:
                raise KeyError(f"the test server serves no resource {name!r}")
            return found
        plural, _, group = name.partition(".")
        matches = [
            r
            for r in self._all
            if (r.plural == plural and (r.group == group or not group))
            or (not group and (r.kind == name or name in r.short_names))
        ]
        if not matches:
            raise KeyError(f"the test server serves no resource {name!r}")
        if len({r.storage for r in matches}) > 1:
            matches = [r for r in matches if r.builtin and r.group in ("", "apps", "batch")] or matches
        return max(
            matches, key=lambda r: _VERSION_ORDER.index(r.version) if r.version in _VERSION_ORDER else 0
        )

    def groups(self) -> dict[str, list[str]]:
        """Named groups (not core) and their versions, preferred version last."""
        out: dict[str, list[str]] = {}
        for r in self._all:
            if r.group and r.version not in out.setdefault(r.group, []):
                out[r.group].append(r.version)
        for versions in out.values():
            versions.sort(key=lambda v: _VERSION_ORDER.index(v) if v in _VERSION_ORDER else -1)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self._all if r.group == group and r.version == version]

    def versions_of(self, resource: ResourceType) -> list[ResourceType]:
        return [r for r in self._all if r.storage == resource.storage]
