"""Offline checks of a CRD against the API server's rules, and its schema as plain JSON Schema.

The API server rejects a v1 CRD whose schema is not *structural*; these are the rules it applies that
can be checked without one (Kubernetes docs, "Specifying a structural schema"; apiextensions v1
validation): every node typed unless it is int-or-string or keeps unknown fields, no ``$ref`` or
``definitions``, ``anyOf`` only in the int-or-string form, ``properties`` and ``additionalProperties``
not together, arrays with ``items``, ``metadata`` left to the server, name ``<plural>.<group>``, exactly
one storage version, printer columns pointing at fields that exist.
"""

from __future__ import annotations

import copy
import re
from typing import Any

Schema = dict[str, Any]

_FORBIDDEN = ("$ref", "definitions", "$schema", "id", "dependencies", "patternProperties", "additionalItems")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def crd_problems(crd: dict[str, Any]) -> list[str]:
    """Everything about a CRD the API server would reject (or that would make it misbehave)."""
    spec = crd["spec"]
    names = spec["names"]
    problems: list[str] = []
    expected = f"{names['plural']}.{spec['group']}"
    if crd["metadata"]["name"] != expected:
        problems.append(f"metadata.name {crd['metadata']['name']!r} is not <plural>.<group> ({expected!r})")
    labels = {"plural": names["plural"], "singular": names["singular"]}
    labels.update({f"shortNames[{i}]": short for i, short in enumerate(names.get("shortNames", []))})
    for key, value in labels.items():
        if not _DNS_LABEL.match(value):
            problems.append(f"names.{key} {value!r} is not a lowercase DNS label")
    if names["listKind"] != names["kind"] + "List":
        problems.append(f"names.listKind should be {names['kind']}List")
    storage = [v["name"] for v in spec["versions"] if v["storage"]]
    if len(storage) != 1:
        problems.append(f"exactly one version must be the storage version, found {storage}")
    for version in spec["versions"]:
        where = f"versions[{version['name']}]"
        if not version["served"]:
            problems.append(f"{where} is not served")
        schema = version["schema"]["openAPIV3Schema"]
        problems += schema_problems(schema, f"{where}.schema")
        if "subresources" in version and "status" not in schema.get("properties", {}):
            problems.append(f"{where} has a status subresource but no status property")
        for column in version.get("additionalPrinterColumns", []):
            if not _path_exists(schema, column["jsonPath"]):
                problems.append(
                    f"{where} column {column['name']!r}: {column['jsonPath']} is not in the schema"
                )
    return problems


def schema_problems(root: Schema, where: str = "schema") -> list[str]:
    """Structural-schema violations of an ``openAPIV3Schema``."""
    problems: list[str] = []
    if root.get("type") != "object":
        problems.append(f"{where}: the root must be of type object")
    metadata = root.get("properties", {}).get("metadata")
    if metadata is not None and metadata != {"type": "object"}:
        problems.append(f"{where}.metadata: only `type: object` is allowed; the API server owns metadata")
    _check(root, where, problems)
    return problems


def _check(node: Schema, where: str, problems: list[str]) -> None:
    for key in _FORBIDDEN:
        if key in node:
            problems.append(f"{where}: `{key}` is not allowed in a structural schema")
    if node.get("uniqueItems") is True:
        problems.append(f"{where}: uniqueItems: true is not allowed")
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "type" not in node and not (int_or_string or keeps_unknown):
        problems.append(f"{where}: no type")
    if int_or_string:
        if "type" in node:
            problems.append(f"{where}: int-or-string must not also set a type")
        if node.get("anyOf") not in (None, [{"type": "integer"}, {"type": "string"}]):
            problems.append(f"{where}: int-or-string anyOf must be [integer, string]")
    elif any(k in node for k in ("anyOf", "oneOf", "allOf", "not")):
        problems.append(f"{where}: anyOf/oneOf/allOf/not are only allowed in the int-or-string form")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{where}: properties and additionalProperties are mutually exclusive")
    if node.get("type") == "array" and "items" not in node:
        problems.append(f"{where}: an array needs items")
    for name, sub in node.get("properties", {}).items():
        _check(sub, f"{where}.{name}", problems)
    for name in node.get("required", []):
        if name not in node.get("properties", {}):
            problems.append(f"{where}: required field {name!r} is not a property")
    if isinstance(node.get("additionalProperties"), dict):
        _check(node["additionalProperties"], f"{where}{{}}", problems)
    if isinstance(node.get("items"), dict):
        _check(node["items"], f"{where}[]", problems)


def _path_exists(schema: Schema, json_path: str) -> bool:
    node = schema
    for name in json_path.lstrip(".").split("."):
        properties = node.get("properties", {})
        if name not in properties:
            return False
        node = properties[name]
    return True


def to_json_schema(openapi: Schema, strict: bool = True) -> Schema:
    """The same schema for a JSON Schema (draft 4) validator: ``nullable`` becomes a ``null`` type, and
    with ``strict`` an object that does not keep unknown fields rejects them, as ``kubectl apply``'s
    strict field validation does (the API server would otherwise prune them silently)."""
    node = copy.deepcopy(openapi)
    return _convert(node, strict)


def _convert(node: Schema, strict: bool) -> Schema:
    for key in ("properties",):
        if key in node:
            node[key] = {name: _convert(sub, strict) for name, sub in node[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _convert(node[key], strict)
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        elif "anyOf" in node:
            node["anyOf"] = [*node["anyOf"], {"type": "null"}]
    if (
        strict
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node
