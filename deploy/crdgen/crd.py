"""One ``apiextensions.k8s.io/v1`` CustomResourceDefinition per Keptn kind, from its model and table row.

All served versions share one schema: the CRDs convert with strategy None (the API server only rewrites
``apiVersion``), so a schema per version could not change the stored shape anyway. Fields that only an
older version has (``Legacy``) are part of that shared schema, so objects written at those versions keep
them; klt's manifest conversion (``shared.manifests``) gives them their meaning.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from deploy.crdgen.kinds import Column, Kind
from deploy.crdgen.schema import Schema, class_doc, schema_of

PART_OF = {"app.kubernetes.io/part-of": "klt"}


def build_crd(kind: Kind) -> dict[str, Any]:
    """The CRD of one kind, as a plain dict in the key order ``kubectl get -o yaml`` would show."""
    schema = object_schema(kind)
    has_status = "status" in schema["properties"]
    versions = []
    for version in kind.versions:
        entry: dict[str, Any] = {
            "name": version,
            "served": True,
            "storage": version == kind.storage,
            "schema": {"openAPIV3Schema": copy.deepcopy(schema)},
        }
        if has_status:
            entry["subresources"] = {"status": {}}
        if kind.columns:
            entry["additionalPrinterColumns"] = [_column(c) for c in kind.columns]
        versions.append(entry)
    names: dict[str, Any] = {
        "kind": kind.kind,
        "listKind": f"{kind.kind}List",
        "plural": kind.plural,
        "singular": kind.kind.lower(),
    }
    if kind.short_names:
        names["shortNames"] = list(kind.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name, "labels": dict(PART_OF)},
        "spec": {
            "group": kind.group,
            "names": names,
            "scope": "Namespaced",
            "conversion": {"strategy": "None"},
            "versions": versions,
        },
    }


def object_schema(kind: Kind) -> Schema:
    """The ``openAPIV3Schema`` of a kind: ``metadata`` is left to the API server, ``spec`` and ``status``
    come from the model (``status`` from the table when the model has none)."""
    fields = {f.encode_name: f for f in msgspec.structs.fields(kind.model)}
    properties: dict[str, Schema] = {
        "apiVersion": {"type": "string", "description": "The versioned schema of this object."},
        "kind": {"type": "string", "description": "The kind of this object."},
        "metadata": {"type": "object"},
    }
    spec = schema_of(fields["spec"].type)
    for legacy in kind.legacy:
        spec["properties"][legacy.name] = {
            **schema_of(legacy.type),
            "description": f"Deprecated ({legacy.versions} only): {legacy.meaning}.",
        }
    properties["spec"] = spec
    status_type = fields["status"].type if "status" in fields else kind.status
    if status_type is not None:
        properties["status"] = schema_of(status_type)
    for path, extra in kind.constraints.items():
        _at(properties, path).update(extra)
    result: Schema = {"type": "object"}
    if class_doc(kind.model):
        result["description"] = class_doc(kind.model)
    result["properties"] = properties
    if fields["spec"].required:
        result["required"] = ["spec"]
    return canonical(result)


_KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "pattern",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "default",
    "nullable",
    "anyOf",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "properties",
    "additionalProperties",
    "items",
    "required",
)


def canonical(schema: Schema) -> Schema:
    """The same schema with keys in one fixed order at every level, so the YAML reads the same way
    everywhere and a regenerated file differs only where a model did."""
    ordered: Schema = {}
    for key in sorted(schema, key=lambda k: _KEY_ORDER.index(k) if k in _KEY_ORDER else len(_KEY_ORDER)):
        value = schema[key]
        if key == "properties":
            value = {name: canonical(sub) for name, sub in value.items()}
        elif key in ("additionalProperties", "items") and isinstance(value, dict):
            value = canonical(value)
        ordered[key] = value
    return ordered


def _at(properties: dict[str, Schema], path: tuple[str, ...]) -> Schema:
    """The schema node at a property path, e.g. ``("spec", "range", "aggregation")``."""
    node = properties[path[0]]
    for name in path[1:]:
        node = node["properties"][name]
    return node


def _column(column: Column) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.priority:
        entry["priority"] = column.priority
    return entry
