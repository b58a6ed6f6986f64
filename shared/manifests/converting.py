"""From one YAML document to klt's objects: kind dispatch, served versions and conversion to v1.

Every version KLT serves is accepted (klt-facts §1) and converted onto the v1 shapes of
``shared.keptn.resources`` before anything else sees it:

- ``lifecycle.keptn.sh`` v1alpha1-v1alpha3 KeptnApp: the check lists on ``spec`` become a
  KeptnAppContext of the same name (the loader keeps it only if the folder has no explicit one).
  From v1beta1 on, the lists are not part of KeptnApp and are ignored, as KLT's schema prunes them.
- v1alpha1-v1beta1 KeptnTaskDefinition: ``spec.function`` is the old name of ``spec.deno``.
- In every version an empty code source (``inline: {}``, ``functionRef: {name: ""}``) counts as
  unset, as KLT's non-pointer Go structs make it.
- v1alpha1-v1alpha3 KeptnEvaluationDefinition: no ``retries``/``retryInterval`` (KLT's schema for
  those versions drops them; the defaults apply). The v1alpha1/v1alpha2 form with ``spec.source``
  and inline queries is rejected with a message saying how to rewrite it.
- ``lifecycle.keptn.sh`` KeptnEvaluationProvider (legacy) becomes a KeptnMetricsProvider.
- ``metrics.keptn.sh`` v1alpha1/v1alpha2 KeptnMetricsProvider without ``type``: the type falls back
  to the name (§1.13). klt also accepts v1alpha1, which KLT no longer serves.

JSON ``null`` values are dropped before decoding, as Go leaves a field at its zero value for null.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import msgspec

from shared.keptn.resources import (
    LIFECYCLE_GROUP,
    METRICS_GROUP,
    OPTIONS_GROUP,
    KeptnApp,
    KeptnAppContext,
    KeptnConfig,
    KeptnEvaluationDefinition,
    KeptnMetric,
    KeptnMetricsProvider,
    KeptnTaskDefinition,
)
from shared.keptn.workloads import WORKLOAD_KINDS, ConfigMap, Namespace, Secret, Workload
from shared.manifests.errors import ManifestError, describe_validation_error
from shared.manifests.model import metadata_of
from shared.manifests.paths import Path, format_path
from shared.manifests.reading import RawDocument

log = logging.getLogger(__name__)

_ALL = ("v1alpha1", "v1alpha2", "v1alpha3", "v1beta1", "v1")
_OLD_APP_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3")
_FUNCTION_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1beta1")

SERVED: dict[tuple[str, str], tuple[str, ...]] = {
    (LIFECYCLE_GROUP, "KeptnApp"): _ALL,
    (LIFECYCLE_GROUP, "KeptnAppContext"): ("v1beta1", "v1"),
    (LIFECYCLE_GROUP, "KeptnTaskDefinition"): _ALL,
    (LIFECYCLE_GROUP, "KeptnEvaluationDefinition"): _ALL,
    (LIFECYCLE_GROUP, "KeptnEvaluationProvider"): ("v1alpha1", "v1alpha2", "v1alpha3"),
    (METRICS_GROUP, "KeptnMetric"): _ALL,
    (METRICS_GROUP, "KeptnMetricsProvider"): _ALL,
    (OPTIONS_GROUP, "KeptnConfig"): ("v1alpha1",),
}
"""Versions klt reads for each Keptn input kind (KLT's served versions, §1 table)."""

KIND_TYPES: dict[str, type[msgspec.Struct]] = {
    "Namespace": Namespace,
    "Secret": Secret,
    "ConfigMap": ConfigMap,
    **dict.fromkeys(WORKLOAD_KINDS, Workload),
    "KeptnApp": KeptnApp,
    "KeptnAppContext": KeptnAppContext,
    "KeptnTaskDefinition": KeptnTaskDefinition,
    "KeptnEvaluationDefinition": KeptnEvaluationDefinition,
    "KeptnMetric": KeptnMetric,
    "KeptnMetricsProvider": KeptnMetricsProvider,
    "KeptnConfig": KeptnConfig,
}
"""The model of every kind a ManifestSet holds (after conversion)."""

_CORE_KINDS = ("Namespace", "Secret", "ConfigMap")
_WORKLOAD_GROUPS = ("apps", "extensions")
_KEPTN_GROUP_OF = {kind: group for (group, kind) in SERVED}
_APP_CHECK_LISTS = (
    "preDeploymentTasks",
    "postDeploymentTasks",
    "preDeploymentEvaluations",
    "postDeploymentEvaluations",
)
_CODE_SOURCES = (("functionRef", "name"), ("inline", "code"), ("httpRef", "url"), ("configMapRef", "name"))


@dataclass
class Converted:
    """One object read from a document, in its v1 shape."""

    kind: str
    obj: msgspec.Struct
    api_version: str
    base: Path = ()
    renames: tuple[tuple[Path, Path], ...] = ()
    implied: bool = False
    """A KeptnAppContext made from an old KeptnApp's check lists."""


class _Rejected(Exception):
    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        self.message = message


def convert_document(doc: RawDocument) -> tuple[list[Converted], list[ManifestError]]:
    """The objects of one document (a ``kind: List`` yields its items), and its errors."""
    try:
        return _convert_document(doc)
    except RecursionError:
        return [], [_error(doc, (), "the document refers to itself (a YAML alias inside its own anchor)")]


def convert_object(data: Any, origin: str = "") -> tuple[list[Converted], list[ManifestError]]:
    """The objects of one object dict that did not come from a file (e.g. read from the API server),
    with the same conversion to v1 as a document; errors name ``origin`` (e.g. ``cluster``) as their
    path. An old KeptnApp yields its implied KeptnAppContext too."""
    return convert_document(RawDocument(path=origin, index=0, line=0, data=data))


def _convert_document(doc: RawDocument) -> tuple[list[Converted], list[ManifestError]]:
    data = doc.data
    if not isinstance(data, dict):
        return [], [_error(doc, (), "expected a Kubernetes object (a mapping with apiVersion and kind)")]
    if data.get("kind") == "List" and data.get("apiVersion") == "v1":
        items = data.get("items") or []
        if not isinstance(items, list):
            return [], [_error(doc, ("items",), "expected a list")]
        converted: list[Converted] = []
        errors: list[ManifestError] = []
        for i, item in enumerate(items):
            objs, errs = _convert_item(doc, item, ("items", i))
            converted += objs
            errors += errs
        return converted, errors
    return _convert_item(doc, data, ())


def _convert_item(doc: RawDocument, item: Any, base: Path) -> tuple[list[Converted], list[ManifestError]]:
    if not isinstance(item, dict):
        return [], [_error(doc, base, "expected a Kubernetes object (a mapping with apiVersion and kind)")]
    api_version, kind = item.get("apiVersion"), item.get("kind")
    name = _name_of(item)
    for field_name, value in (("apiVersion", api_version), ("kind", kind)):
        if not isinstance(value, str) or not value:
            return [], [_error(doc, (*base, field_name), "required field is missing", kind, name)]
    assert isinstance(api_version, str) and isinstance(kind, str)
    group, _, version = api_version.rpartition("/")
    target = _target_kind(group, version, kind)
    if target is None:
        log.debug("%s:%d: ignoring %s %s (%s)", doc.path, doc.line, kind, name, api_version)
        return [], []
    if isinstance(target, ManifestError):
        target.path, target.document, target.kind, target.name = doc.path, doc.index, kind, name
        target.line = doc.lines.get((*base, "apiVersion"), doc.line)
        return [], [target]
    data = _drop_nulls(copy.deepcopy(item))
    if group.endswith("keptn.sh") and target != "KeptnConfig":
        data["apiVersion"] = f"{_KEPTN_GROUP_OF[target]}/v1"
    try:
        data, renames, implied_spec = _to_v1(kind, version, data)
    except _Rejected as rejected:
        return [], [_error(doc, (*base, *rejected.path), rejected.message, kind, name)]
    model = KIND_TYPES[target]
    try:
        obj = msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        path, message, expected = describe_validation_error(exc, data)
        original = _renamed_back(path, renames)
        error = _error(doc, (*base, *original), message, kind, name)
        error.expected = expected
        return [], [error]
    if not metadata_of(obj).name:
        return [], [_error(doc, (*base, "metadata", "name"), "required field is missing", kind, name)]
    result = [Converted(target, obj, api_version, base, renames)]
    if implied_spec is not None:
        context = msgspec.convert(
            {
                "metadata": {"name": name, "namespace": data["metadata"].get("namespace", "")},
                "spec": implied_spec,
            },
            KeptnAppContext,
        )
        result.append(Converted("KeptnAppContext", context, api_version, base, (), implied=True))
    return result, []


def _target_kind(group: str, version: str, kind: str) -> str | ManifestError | None:
    """The v1 kind this document becomes, ``None`` to ignore it, or an error for a Keptn kind in a
    version or group KLT does not serve."""
    if group == "" and kind in _CORE_KINDS:
        return kind if version == "v1" else None
    if kind in WORKLOAD_KINDS:
        return kind if group in _WORKLOAD_GROUPS else None
    if (group, kind) in SERVED:
        served = SERVED[(group, kind)]
        if version not in served:
            return ManifestError(
                path="",
                field="apiVersion",
                message=f"{group}/{version} is not a served version of {kind}; "
                f"use one of {', '.join(f'{group}/{v}' for v in served)}",
            )
        return "KeptnMetricsProvider" if kind == "KeptnEvaluationProvider" else kind
    if group.endswith("keptn.sh") and kind in _KEPTN_GROUP_OF:
        return ManifestError(
            path="",
            field="apiVersion",
            message=f"{kind} belongs to API group {_KEPTN_GROUP_OF[kind]}, not {group or 'the core group'}",
        )
    return None


def _to_v1(
    kind: str, version: str, data: dict[str, Any]
) -> tuple[dict[str, Any], tuple[tuple[Path, Path], ...], dict[str, Any] | None]:
    """Convert ``data`` in place to the v1 shape; returns it, the path renames, and the spec of an
    implied KeptnAppContext (old KeptnApps only)."""
    spec = data.get("spec")
    if not isinstance(spec, dict):
        spec = None
    renames: tuple[tuple[Path, Path], ...] = ()
    implied: dict[str, Any] | None = None
    if kind == "Namespace" and isinstance(data.get("metadata"), dict):
        data["metadata"].pop("namespace", None)  # cluster-scoped
    elif kind == "KeptnApp" and spec is not None:
        present = [key for key in _APP_CHECK_LISTS if key in spec]
        if version in _OLD_APP_VERSIONS and present:
            implied = {key: spec[key] for key in present}
    elif kind == "KeptnTaskDefinition" and spec is not None:
        if version in _FUNCTION_VERSIONS and "function" in spec:
            if spec.get("deno") is not None:
                raise _Rejected(
                    ("spec", "function"),
                    "Forbidden! Only one of Container, Python, or Deno field can be defined "
                    "(spec.function is the old name of spec.deno)",
                )
            spec["deno"] = spec.pop("function")
            renames = ((("spec", "deno"), ("spec", "function")),)
        for runtime in ("deno", "python"):
            if isinstance(spec.get(runtime), dict):
                _drop_empty_sources(spec[runtime])
    elif kind == "KeptnEvaluationDefinition" and spec is not None and version in _OLD_APP_VERSIONS:
        _reject_inline_queries(version, spec)
        spec.pop("retries", None)
        spec.pop("retryInterval", None)
    elif kind == "KeptnEvaluationProvider":
        data["kind"] = "KeptnMetricsProvider"
        data["apiVersion"] = f"{METRICS_GROUP}/v1"
        if spec is not None and "secretName" in spec and "secretKeyRef" not in spec:
            spec["secretKeyRef"] = {"name": spec.pop("secretName")}
            renames = ((("spec", "secretKeyRef", "name"), ("spec", "secretName")),)
    return data, renames, implied


def _drop_empty_sources(runtime: dict[str, Any]) -> None:
    for key, inner in _CODE_SOURCES:
        value = runtime.get(key)
        if isinstance(value, dict) and not value.get(inner):
            del runtime[key]


def _reject_inline_queries(version: str, spec: dict[str, Any]) -> None:
    objectives = spec.get("objectives")
    inline = "source" in spec or (
        isinstance(objectives, list)
        and any(isinstance(o, dict) and "keptnMetricRef" not in o and "query" in o for o in objectives)
    )
    if inline:
        raise _Rejected(
            ("spec", "source") if "source" in spec else ("spec", "objectives"),
            f"unsupported version: lifecycle.keptn.sh/{version} KeptnEvaluationDefinition with spec.source "
            "and inline queries is not supported; define each query as a KeptnMetric and reference it "
            "with objectives[].keptnMetricRef (lifecycle.keptn.sh/v1)",
        )


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _renamed_back(path: Path, renames: tuple[tuple[Path, Path], ...]) -> Path:
    for new, old in renames:
        if path[: len(new)] == new:
            return old + path[len(new) :]
    return path


def _name_of(item: dict[str, Any]) -> str:
    metadata = item.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _error(doc: RawDocument, path: Path, message: str, kind: Any = "", name: str = "") -> ManifestError:
    line = doc.line
    for end in range(len(path), 0, -1):
        found = doc.lines.get(path[:end])
        if found is not None:
            line = found
            break
    return ManifestError(
        path=doc.path,
        document=doc.index,
        line=line,
        kind=kind if isinstance(kind, str) else "",
        name=name,
        field=format_path(path),
        message=message,
    )
