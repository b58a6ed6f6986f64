"""OpenAPI v3 *structural* schemas from the project's msgspec models, for CustomResourceDefinitions.

A CRD schema must be structural (every node typed, no ``$ref``, ``anyOf`` only in the int-or-string
form), so ``msgspec.json.schema_components`` (references, ``anyOf`` for optionals) is not used: this
walks ``msgspec.inspect`` type information instead and inlines everything. The wire names are the
models' own (``rename="camel"`` and explicit names), so the CRD can never drift from what klt writes.

Rules, each chosen to keep the API server's behaviour equal to klt's decoding:
- ``X | None`` becomes ``nullable: true`` (klt writes ``null`` for unset timestamps).
- A union of ``str`` and ``int`` (a Kubernetes quantity) becomes ``x-kubernetes-int-or-string``.
- ``dict[str, object]`` and ``Any`` keep whatever the user wrote (``x-kubernetes-preserve-unknown-fields``),
  e.g. a TaskDefinition's ``container``, which is handed to Kubernetes unchanged.
- Scalar defaults that are not the zero value become ``default``, so the API server fills in what
  klt would assume (``retries: 10``, ``timeout: 5m``, states ``Pending``); zero values are left out.
- Descriptions come from the models' class and attribute docstrings (``kubectl explain`` shows them).
"""

from __future__ import annotations

import ast
import enum
import inspect
import textwrap
from functools import cache
from typing import Any

import msgspec
import msgspec.inspect as mi

Schema = dict[str, Any]


class SchemaError(TypeError):
    """A model uses a type that has no structural OpenAPI form; the message names the model and field."""


def schema_of(tp: Any) -> Schema:
    """The structural schema of a Python type (a msgspec Struct, a scalar, a container)."""
    return _walk(mi.type_info(tp), where=getattr(tp, "__name__", repr(tp)))


def _walk(info: mi.Type, where: str) -> Schema:
    if isinstance(info, mi.StructType):
        return _struct(info, where)
    if isinstance(info, mi.StrType):
        return _compact({"type": "string", "pattern": info.pattern, **_lengths(info)})
    if isinstance(info, mi.BoolType):
        return {"type": "boolean"}
    if isinstance(info, mi.IntType):
        return _compact({"type": "integer", **_bounds(info)})
    if isinstance(info, mi.FloatType):
        return _compact({"type": "number", **_bounds(info)})
    if isinstance(info, mi.BytesType):
        return {"type": "string", "format": "byte"}
    if isinstance(info, mi.EnumType):
        values = [member.value for member in info.cls]
        if not all(isinstance(v, str) for v in values):
            raise SchemaError(f"{where}: only string enums are supported, got {info.cls.__name__}")
        return {"type": "string", "enum": values}
    if isinstance(info, mi.LiteralType) and all(isinstance(v, str) for v in info.values):
        return {"type": "string", "enum": list(info.values)}
    if isinstance(info, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return _compact({"type": "array", "items": _walk(info.item_type, f"{where}[]"), **_lengths(info)})
    if isinstance(info, mi.DictType):
        if not isinstance(info.key_type, mi.StrType | mi.EnumType):
            raise SchemaError(f"{where}: map keys must be strings")
        if _is_any(info.value_type):
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "additionalProperties": _walk(info.value_type, f"{where}{{}}")}
    if _is_any(info):
        return {"x-kubernetes-preserve-unknown-fields": True}
    if isinstance(info, mi.UnionType):
        return _union(info, where)
    if isinstance(info, mi.Metadata):
        return _walk(info.type, where)
    raise SchemaError(f"{where}: {type(info).__name__} has no structural OpenAPI form")


def _is_any(info: mi.Type) -> bool:
    """``Any`` or ``object``: a value klt keeps as written."""
    return isinstance(info, mi.AnyType) or (isinstance(info, mi.CustomType) and info.cls is object)


def _union(info: mi.UnionType, where: str) -> Schema:
    members = [t for t in info.types if not isinstance(t, mi.NoneType)]
    nullable = len(members) < len(info.types)
    if len(members) == 1:
        schema = _walk(members[0], where)
    elif {type(m) for m in members} <= {mi.StrType, mi.IntType, mi.FloatType} and any(
        isinstance(m, mi.StrType) for m in members
    ):
        patterns = [m.pattern for m in members if isinstance(m, mi.StrType) and m.pattern]
        schema = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
        if patterns:
            schema["pattern"] = patterns[0]
    else:
        names = ", ".join(type(m).__name__ for m in members)
        raise SchemaError(f"{where}: a union of {names} has no structural OpenAPI form")
    return {**schema, "nullable": True} if nullable else schema


def _struct(info: mi.StructType, where: str) -> Schema:
    docs = _field_docs(info.cls)
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for field in info.fields:
        node = _walk(field.type, f"{where}.{field.encode_name}")
        default = _default(field)
        if default is not None:
            node["default"] = default
        if field.name in docs:
            node["description"] = docs[field.name]  # what the field means beats what its type is
        properties[field.encode_name] = node
        if field.required:
            required.append(field.encode_name)
    schema: Schema = {"type": "object"}
    doc = class_doc(info.cls)
    if doc:
        schema["description"] = doc
    schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema


def _default(field: mi.Field) -> object | None:
    """A field's default for the CRD: scalars that are not the zero value, enums by value."""
    value = field.default
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return value or None
    if isinstance(value, str | int | float) and value:
        return value
    return None


def _bounds(info: mi.IntType | mi.FloatType) -> Schema:
    bounds: Schema = {}
    if info.ge is not None:
        bounds["minimum"] = info.ge
    if info.gt is not None:
        bounds.update(minimum=info.gt, exclusiveMinimum=True)
    if info.le is not None:
        bounds["maximum"] = info.le
    if info.lt is not None:
        bounds.update(maximum=info.lt, exclusiveMaximum=True)
    return bounds


def _lengths(info: Any) -> Schema:
    """minLength/maxLength for strings, minItems/maxItems for arrays."""
    low, high = info.min_length, info.max_length
    if isinstance(info, mi.StrType):
        return _compact({"minLength": low, "maxLength": high})
    return _compact({"minItems": low, "maxItems": high})


def _compact(schema: Schema) -> Schema:
    return {k: v for k, v in schema.items() if v is not None}


def class_doc(cls: type) -> str:
    """The first paragraph of a model's own docstring (not an inherited one)."""
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return ""
    return _plain(inspect.cleandoc(doc).split("\n\n")[0])


@cache
def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string right after ``name: type = ...``) of a class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ in {"builtins", "msgspec"} or not issubclass(klass, msgspec.Struct):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        for node, after in zip(body.body, body.body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = _plain(inspect.cleandoc(after.value.value))
    return docs


def _plain(text: str) -> str:
    """One line of prose: reST double backticks become single ones, line breaks become spaces."""
    return " ".join(text.replace("``", "`").split())
