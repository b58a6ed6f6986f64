"""Label and field selectors, parsed and matched as the API server does.

Label selector syntax: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a`` (exists),
``!a`` (does not exist), joined by commas (AND). ``!=`` and ``notin`` also match objects without the
label, as in Kubernetes. Field selectors support ``=``, ``==`` and ``!=`` on the fields the API server
supports for the kind (``metadata.name`` and ``metadata.namespace`` everywhere; a few more for pods,
events, secrets, jobs and namespaces); any other field is a 400, as it is on a real cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.k8s.errors import ApiError, bad_request


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


_SET_RE = re.compile(r"^\s*(?P<key>[^\s!=()]+)\s+(?P<op>in|notin)\s+\((?P<values>[^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*(?P<key>[^\s!=()]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)\s*$")
_KEY_RE = re.compile(r"^\s*(?P<neg>!?)\s*(?P<key>[^\s!=()]+)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_label_selector(selector: str | None) -> list[Requirement]:
    """Parse a label selector string; a malformed one is a 400 naming it."""
    if not selector:
        return []
    requirements = []
    for part in _split(selector):
        if m := _SET_RE.match(part):
            values = frozenset(v.strip() for v in m["values"].split(",") if v.strip())
            requirements.append(Requirement(m["key"], m["op"], values))
        elif m := _CMP_RE.match(part):
            op = "=" if m["op"] in ("=", "==") else "!="
            requirements.append(Requirement(m["key"], op, frozenset({m["value"]})))
        elif m := _KEY_RE.match(part):
            requirements.append(Requirement(m["key"], "!" if m["neg"] else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {part.strip()!r} in label selector {selector!r}")
    return requirements


def selector_from_spec(spec: Mapping[str, Any] | None) -> list[Requirement]:
    """A ``LabelSelector`` object (``matchLabels``/``matchExpressions``) as requirements."""
    if not spec:
        return []
    out = [Requirement(k, "=", frozenset({v})) for k, v in (spec.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in spec.get("matchExpressions") or []:
        out.append(Requirement(expr["key"], ops[expr["operator"]], frozenset(expr.get("values") or ())))
    return out


def labels_match(requirements: list[Requirement], obj: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


_EXTRA_FIELDS: dict[str, frozenset[str]] = {
    "pods": frozenset(
        {
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        }
    ),
    "events": frozenset(
        {
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        }
    ),
    "secrets": frozenset({"type"}),
    "jobs": frozenset({"status.successful"}),
    "namespaces": frozenset({"status.phase"}),
    "replicasets": frozenset({"status.replicas"}),
}


def _field(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if path == "source" and isinstance(value, Mapping):
        value = value.get("component")
    return "" if value is None else str(value)


def parse_field_selector(selector: str | None, plural: str) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for a field selector; an unsupported field is a 400 as on a real cluster."""
    if not selector:
        return lambda _obj: True
    checks: list[tuple[str, bool, str]] = []
    allowed = {"metadata.name", "metadata.namespace"} | _EXTRA_FIELDS.get(plural, frozenset())
    for part in _split(selector):
        m = _CMP_RE.match(part)
        if m is None:
            raise bad_request(f"invalid selector: {selector!r}; can't understand {part.strip()!r}")
        if m["key"] not in allowed:
            raise ApiError(400, "BadRequest", f"field label not supported: {m['key']}")
        checks.append((m["key"], m["op"] != "!=", m["value"]))

    def predicate(obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, key) == value) == equal for key, equal, value in checks)

    return predicate
