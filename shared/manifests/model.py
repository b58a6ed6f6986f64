"""What a load produces: the objects by kind and key, and where each came from."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import msgspec

from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    KeptnApp,
    KeptnAppContext,
    KeptnConfig,
    KeptnEvaluationDefinition,
    KeptnMetric,
    KeptnMetricsProvider,
    KeptnTaskDefinition,
)
from shared.keptn.workloads import ConfigMap, Namespace, Secret, Workload
from shared.manifests.errors import ManifestError
from shared.manifests.paths import Path, format_path, startswith


def metadata_of(obj: msgspec.Struct) -> ObjectMeta:
    """The ``metadata`` every object klt loads has."""
    meta = getattr(obj, "metadata", None)
    if not isinstance(meta, ObjectMeta):
        raise TypeError(f"{type(obj).__name__} has no metadata")
    return meta


ObjectKey = tuple[str, str, str]
"""(kind, namespace, name); the namespace is ``""`` for a Namespace."""


@dataclass(frozen=True)
class Source:
    """Where an object was read: file, 0-based document index in that file, 1-based line where the
    document starts. ``kind``/``api_version`` are what the user wrote (a v1alpha3 KeptnApp is the
    source of the KeptnAppContext converted from it)."""

    path: str
    document: int
    line: int
    kind: str = ""
    api_version: str = ""


@dataclass(frozen=True)
class Locator:
    """Finds the line of a field of one loaded object, for error messages.

    ``lines`` maps paths of the document as written to their 1-based lines; ``renames`` maps a prefix
    of the converted (v1) object back to the prefix the user wrote (``spec.deno`` → ``spec.function``)."""

    source: Source
    lines: dict[Path, int] = field(default_factory=dict)
    renames: tuple[tuple[Path, Path], ...] = ()
    base: Path = ()
    """Prefix of this object inside its document (``("items", 3)`` for an item of a ``kind: List``)."""

    def original(self, path: Path) -> Path:
        """The path as the user wrote it, for a path of the converted object."""
        for new, old in self.renames:
            if startswith(path, new):
                return self.base + old + path[len(new) :]
        return self.base + path

    def line_of(self, path: Path) -> int:
        """The line of ``path`` (a path of the converted object), else of its nearest ancestor found,
        else the document's first line."""
        original = self.original(path)
        for end in range(len(original), 0, -1):
            line = self.lines.get(original[:end])
            if line is not None:
                return line
        return self.source.line


@dataclass
class ManifestSet:
    """Every object of a load, in KLT's v1 shapes, keyed by ``(namespace, name)`` (workloads by
    ``(kind, namespace, name)``, namespaces by name)."""

    namespaces: dict[str, Namespace] = field(default_factory=dict)
    secrets: dict[tuple[str, str], Secret] = field(default_factory=dict)
    config_maps: dict[tuple[str, str], ConfigMap] = field(default_factory=dict)
    workloads: dict[tuple[str, str, str], Workload] = field(default_factory=dict)
    apps: dict[tuple[str, str], KeptnApp] = field(default_factory=dict)
    app_contexts: dict[tuple[str, str], KeptnAppContext] = field(default_factory=dict)
    task_definitions: dict[tuple[str, str], KeptnTaskDefinition] = field(default_factory=dict)
    evaluation_definitions: dict[tuple[str, str], KeptnEvaluationDefinition] = field(default_factory=dict)
    metrics: dict[tuple[str, str], KeptnMetric] = field(default_factory=dict)
    metrics_providers: dict[tuple[str, str], KeptnMetricsProvider] = field(default_factory=dict)
    configs: list[KeptnConfig] = field(default_factory=list)
    sources: dict[ObjectKey, Source] = field(default_factory=dict)
    locators: dict[ObjectKey, Locator] = field(default_factory=dict)
    converted_contexts: set[tuple[str, str]] = field(default_factory=set)
    """App contexts that klt made from a v1alpha1-v1alpha3 KeptnApp's check lists."""

    def objects(self) -> Iterator[tuple[str, str, str, msgspec.Struct]]:
        """Every object as ``(kind, namespace, name, object)``; Secrets are left out, so what this
        yields may be published (Secrets never go on NATS)."""
        for name, ns_obj in self.namespaces.items():
            yield "Namespace", "", name, ns_obj
        for (ns, name), cm in self.config_maps.items():
            yield "ConfigMap", ns, name, cm
        for (kind, ns, name), workload in self.workloads.items():
            yield kind, ns, name, workload
        groups: tuple[tuple[str, Mapping[tuple[str, str], msgspec.Struct]], ...] = (
            ("KeptnApp", self.apps),
            ("KeptnAppContext", self.app_contexts),
            ("KeptnTaskDefinition", self.task_definitions),
            ("KeptnEvaluationDefinition", self.evaluation_definitions),
            ("KeptnMetric", self.metrics),
            ("KeptnMetricsProvider", self.metrics_providers),
        )
        for kind, objects in groups:
            for (ns, name), obj in objects.items():
                yield kind, ns, name, obj
        for config in self.configs:
            yield "KeptnConfig", config.metadata.namespace, config.metadata.name, config

    def source_of(self, kind: str, namespace: str, name: str) -> Source | None:
        return self.sources.get((kind, namespace, name))

    def put(self, obj: msgspec.Struct) -> None:
        """Store ``obj`` under its kind and ``metadata`` (replacing an object of the same key)."""
        meta = metadata_of(obj)
        ns, name = meta.namespace, meta.name
        match obj:
            case Namespace():
                self.namespaces[name] = obj
            case Secret():
                self.secrets[(ns, name)] = obj
            case ConfigMap():
                self.config_maps[(ns, name)] = obj
            case Workload():
                self.workloads[(obj.kind, ns, name)] = obj
            case KeptnApp():
                self.apps[(ns, name)] = obj
            case KeptnAppContext():
                self.app_contexts[(ns, name)] = obj
            case KeptnTaskDefinition():
                self.task_definitions[(ns, name)] = obj
            case KeptnEvaluationDefinition():
                self.evaluation_definitions[(ns, name)] = obj
            case KeptnMetric():
                self.metrics[(ns, name)] = obj
            case KeptnMetricsProvider():
                self.metrics_providers[(ns, name)] = obj
            case KeptnConfig():
                self.configs.append(obj)
            case _:
                raise TypeError(f"klt does not keep objects of type {type(obj).__name__}")

    def error_at(self, key: ObjectKey, path: Path, message: str, expected: str = "") -> ManifestError:
        """An error about field ``path`` of the object ``key``, placed at its file, document and line
        when the object was loaded from a file (else named by kind and namespace/name)."""
        source = self.sources.get(key)
        locator = self.locators.get(key)
        kind, ns, name = key
        return ManifestError(
            path=source.path if source else "",
            document=source.document if source else None,
            line=locator.line_of(path) if locator else (source.line if source else None),
            kind=source.kind if source and source.kind else kind,
            name=name if source or not ns else f"{ns}/{name}",
            field=format_path(locator.original(path) if locator else path),
            message=message,
            expected=expected,
        )
