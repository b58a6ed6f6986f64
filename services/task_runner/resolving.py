"""From a RunTask to a plan: which definition, which runtime, which code, which parameters (klt-facts §4.3).

Definitions and ConfigMaps are read through ``DesiredState`` (the desired-state KV bucket in the
service; a dict in tests), so every rule here is tested without NATS. A problem that makes the task
impossible to start raises ``TaskSetupError`` with a message naming the object and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import msgspec

from services.task_runner.contract import Runtime
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import KeptnTaskDefinition, RuntimeSpec
from shared.messages import RunTask

TASK_DEFINITION = "KeptnTaskDefinition"
CONFIG_MAP = "ConfigMap"
CODE_KEY = "code"
"""The ConfigMap key KLT reads a function's code from (§1.7)."""


class TaskSetupError(Exception):
    """The task cannot start as defined; it fails at once with this message."""


class DesiredState(Protocol):
    async def get(self, kind: str, namespace: str, name: str) -> bytes | None:
        """The stored JSON of one object, or None."""
        ...


class _ConfigMap(msgspec.Struct, kw_only=True):
    """The part of a ConfigMap the runner reads (decoded leniently: unknown fields ignored)."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    data: dict[str, str] = msgspec.field(default_factory=dict)


class SourceKind(StrEnum):
    INLINE = "inline"
    CONFIG_MAP = "configMapRef"
    HTTP = "httpRef"
    CONTAINER = "container"
    """No code: the definition's own container runs (Kubernetes mode)."""


@dataclass(frozen=True, slots=True)
class CodeSource:
    kind: SourceKind
    code: str = ""
    """The script, for inline and ConfigMap sources."""
    url: str = ""
    """Where to download the script, for ``httpRef``."""


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """Everything needed to run a task's attempts (the secret is named here, resolved later)."""

    definition: str
    runtime: Runtime
    source: CodeSource
    parameters: dict[str, str] = field(default_factory=dict)
    cmd_args: str = ""
    secret: str = ""
    resolved: KeptnTaskDefinition | None = None
    """The task's own definition (its labels, annotations, pod settings and container), for Jobs."""


def select_runtime(definition: KeptnTaskDefinition) -> tuple[Runtime, RuntimeSpec]:
    """Deno unless only python is set (§4.3); a container definition needs Kubernetes."""
    spec = definition.spec
    if spec.deno is not None:
        return Runtime.DENO, spec.deno
    if spec.python is not None:
        return Runtime.PYTHON, spec.python
    where = f"KeptnTaskDefinition '{definition.metadata.name}'"
    if spec.container is not None:
        raise TaskSetupError(f"{where}: container runtime needs Kubernetes mode")
    raise TaskSetupError(f"{where} defines no runtime: set one of spec.deno, spec.python or spec.container")


def merge_parameters(*layers: Mapping[str, str]) -> dict[str, str]:
    """Earlier layers win; later ones only fill missing keys (mergo.Merge, as KLT merges, §4.3)."""
    merged: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.items():
            merged.setdefault(key, value)
    return merged


async def find_definition(
    desired: DesiredState, name: str, namespaces: list[str]
) -> KeptnTaskDefinition | None:
    """The first definition named ``name`` in ``namespaces`` (task namespace, then Keptn's, §0)."""
    for namespace in dict.fromkeys(namespaces):
        raw = await desired.get(TASK_DEFINITION, namespace, name)
        if raw is None:
            continue
        try:
            return msgspec.json.decode(raw, type=KeptnTaskDefinition)
        except msgspec.ValidationError as exc:
            raise TaskSetupError(
                f"KeptnTaskDefinition '{name}' in namespace '{namespace}' is invalid: {exc}"
            ) from None
        except msgspec.DecodeError:
            raise TaskSetupError(
                f"KeptnTaskDefinition '{name}' in namespace '{namespace}' is stored as malformed JSON"
            ) from None
    return None


async def _config_map_code(desired: DesiredState, name: str, namespaces: list[str], owner: str) -> str:
    for namespace in dict.fromkeys(namespaces):
        raw = await desired.get(CONFIG_MAP, namespace, name)
        if raw is None:
            continue
        try:
            config_map = msgspec.json.decode(raw, type=_ConfigMap)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise TaskSetupError(f"ConfigMap '{name}' in namespace '{namespace}' is invalid: {exc}") from None
        if CODE_KEY not in config_map.data:
            raise TaskSetupError(
                f"ConfigMap '{name}' in namespace '{namespace}' (configMapRef of {owner}) "
                f"has no key '{CODE_KEY}'"
            )
        return config_map.data[CODE_KEY]
    shown = "' or '".join(dict.fromkeys(namespaces))
    raise TaskSetupError(f"ConfigMap '{name}' (configMapRef of {owner}) was not found in namespace '{shown}'")


async def code_source(
    desired: DesiredState, runtime_spec: RuntimeSpec, definition: KeptnTaskDefinition, namespaces: list[str]
) -> CodeSource | None:
    """The definition's own code: inline, else its ConfigMap, else its URL (a ConfigMap wins, §4.3)."""
    owner = f"KeptnTaskDefinition '{definition.metadata.name}'"
    if runtime_spec.inline is not None and runtime_spec.inline.code:
        return CodeSource(SourceKind.INLINE, code=runtime_spec.inline.code)
    if runtime_spec.config_map_ref is not None and runtime_spec.config_map_ref.name:
        lookup = [definition.metadata.namespace, *namespaces] if definition.metadata.namespace else namespaces
        code = await _config_map_code(desired, runtime_spec.config_map_ref.name, lookup, owner)
        return CodeSource(SourceKind.CONFIG_MAP, code=code)
    if runtime_spec.http_ref is not None and runtime_spec.http_ref.url:
        return CodeSource(SourceKind.HTTP, url=runtime_spec.http_ref.url)
    return None


async def plan_task(
    command: RunTask, desired: DesiredState, keptn_namespace: str, *, containers: bool = False
) -> TaskPlan:
    """Resolve the definition (and its ``functionRef`` parent, one level) into a ``TaskPlan``.

    Parameters: the child's, then the parent's missing keys, then the task's missing keys. The secret:
    the task's, else the child's, else the parent's. Code and runtime: the parent's (§4.3).
    ``containers``: the container runtime is available (Kubernetes mode); a definition with only
    ``spec.container`` then plans as ``Runtime.CONTAINER`` (§4.4).
    """
    namespaces = [command.namespace, keptn_namespace]
    definition = await find_definition(desired, command.task_definition, namespaces)
    if definition is None:
        raise TaskSetupError(
            f"KeptnTaskDefinition '{command.task_definition}' was not found in namespace "
            f"'{command.namespace}' or '{keptn_namespace}'"
        )
    only_container = definition.spec.deno is None and definition.spec.python is None
    if containers and only_container and definition.spec.container is not None:
        return TaskPlan(
            definition=definition.metadata.name or command.task_definition,
            runtime=Runtime.CONTAINER,
            source=CodeSource(SourceKind.CONTAINER),
            resolved=definition,
        )
    runtime, spec = select_runtime(definition)
    layers: list[Mapping[str, str]] = [spec.parameters.map]
    secret = spec.secure_parameters.secret
    cmd_args = spec.cmd_parameters
    source = await code_source(desired, spec, definition, namespaces)
    parent_ref = spec.function_ref.name if spec.function_ref is not None else ""
    if parent_ref:
        parent = await find_definition(desired, parent_ref, namespaces)
        if parent is None:
            raise TaskSetupError(
                f"KeptnTaskDefinition '{definition.metadata.name}': functionRef '{parent_ref}' was not "
                f"found in namespace '{command.namespace}' or '{keptn_namespace}'"
            )
        runtime, parent_spec = select_runtime(parent)
        layers.append(parent_spec.parameters.map)
        secret = secret or parent_spec.secure_parameters.secret
        cmd_args = cmd_args or parent_spec.cmd_parameters
        source = await code_source(desired, parent_spec, parent, namespaces) or source
    if source is None:
        raise TaskSetupError(
            f"KeptnTaskDefinition '{definition.metadata.name}' has no code: set inline.code, "
            f"configMapRef.name, httpRef.url or functionRef.name under spec.{runtime}"
        )
    layers.append(command.parameters)
    return TaskPlan(
        definition=definition.metadata.name or command.task_definition,
        runtime=runtime,
        source=source,
        parameters=merge_parameters(*layers),
        cmd_args=cmd_args,
        secret=command.secure_parameters_secret or secret,
        resolved=definition,
    )
