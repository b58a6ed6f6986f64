"""Resolving a RunTask into a plan: definitions, functionRef, code sources, parameters, secrets (§4.3)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.task_runner.contract import Runtime, data_json
from services.task_runner.resolving import SourceKind, TaskSetupError, plan_task
from shared.keptn.lifecycle import TaskContext
from shared.keptn.meta import ObjectMeta
from shared.keptn.resources import (
    HttpRef,
    InlineCode,
    KeptnTaskDefinition,
    KeptnTaskDefinitionSpec,
    NameRef,
    ParameterMap,
    RuntimeSpec,
    SecureParameters,
)
from shared.keptn.states import CheckType
from shared.messages import RunTask

KEPTN_NS = "keptn-system"


class Desired:
    """The desired-state bucket as a dict of (kind, namespace, name) -> JSON."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], bytes] = {}

    def add(self, kind: str, namespace: str, name: str, value: object) -> None:
        self.objects[(kind, namespace, name)] = msgspec.json.encode(value)

    def definition(self, name: str, namespace: str = "app", **spec: Any) -> None:
        value = KeptnTaskDefinition(
            metadata=ObjectMeta(name=name, namespace=namespace), spec=KeptnTaskDefinitionSpec(**spec)
        )
        self.add("KeptnTaskDefinition", namespace, name, value)

    async def get(self, kind: str, namespace: str, name: str) -> bytes | None:
        return self.objects.get((kind, namespace, name))


def command(definition: str, **fields: object) -> RunTask:
    return RunTask(
        namespace="app",
        name=f"pre-{definition}-12345",
        uid="uid-1",
        task_definition=definition,
        check_type=CheckType.PRE,
        context=TaskContext(),
        **fields,  # type: ignore[arg-type]
    )


def inline(code: str = "console.log(1)", **fields: object) -> RuntimeSpec:
    return RuntimeSpec(inline=InlineCode(code=code), **fields)  # type: ignore[arg-type]


async def test_function_ref_merges_parameters_as_klts_recursive_task_example() -> None:
    desired = Desired()
    desired.definition(
        "parent",
        deno=inline("parent code", parameters=ParameterMap(map={"user": "myotheruser", "data": "myotherdata",
                                                                 "other": "data"})),
    )  # fmt: skip
    desired.definition(
        "child",
        deno=RuntimeSpec(
            function_ref=NameRef(name="parent"),
            parameters=ParameterMap(map={"user": "myuser", "data": "mydata"}),
        ),
    )
    plan = await plan_task(command("child"), desired, KEPTN_NS)
    assert data_json(plan.parameters) == '{"data":"mydata","other":"data","user":"myuser"}'
    assert plan.source.code == "parent code"
    assert plan.definition == "child"


async def test_task_parameters_only_fill_missing_keys() -> None:
    desired = Desired()
    desired.definition("d", deno=inline(parameters=ParameterMap(map={"a": "def"})))
    plan = await plan_task(command("d", parameters={"a": "task", "b": "task"}), desired, KEPTN_NS)
    assert plan.parameters == {"a": "def", "b": "task"}


async def test_the_parents_runtime_and_code_are_used_and_child_settings_win() -> None:
    desired = Desired()
    desired.definition(
        "parent",
        python=RuntimeSpec(
            http_ref=HttpRef(url="http://example.invalid/t.py"),
            secure_parameters=SecureParameters(secret="parent-secret"),
            cmd_parameters="-u",
        ),
    )
    desired.definition("child", deno=RuntimeSpec(function_ref=NameRef(name="parent")))
    plan = await plan_task(command("child"), desired, KEPTN_NS)
    assert plan.runtime is Runtime.PYTHON
    assert (plan.source.kind, plan.source.url) == (SourceKind.HTTP, "http://example.invalid/t.py")
    assert (plan.secret, plan.cmd_args) == ("parent-secret", "-u")
    desired.definition(
        "child",
        deno=RuntimeSpec(
            function_ref=NameRef(name="parent"), secure_parameters=SecureParameters(secret="mine")
        ),
    )
    assert (await plan_task(command("child"), desired, KEPTN_NS)).secret == "mine"
    task_secret = command("child", secure_parameters_secret="task-level")
    assert (await plan_task(task_secret, desired, KEPTN_NS)).secret == "task-level"


async def test_python_is_chosen_only_when_deno_is_not_set() -> None:
    desired = Desired()
    desired.definition("both", deno=inline("deno code"), python=inline("python code"))
    desired.definition("py", python=inline("python code"))
    assert (await plan_task(command("both"), desired, KEPTN_NS)).runtime is Runtime.DENO
    assert (await plan_task(command("py"), desired, KEPTN_NS)).runtime is Runtime.PYTHON


async def test_definitions_fall_back_to_the_keptn_namespace() -> None:
    desired = Desired()
    desired.definition("shared", namespace=KEPTN_NS, deno=inline("from keptn ns"))
    assert (await plan_task(command("shared"), desired, KEPTN_NS)).source.code == "from keptn ns"
    desired.definition("shared", namespace="app", deno=inline("from app ns"))
    assert (await plan_task(command("shared"), desired, KEPTN_NS)).source.code == "from app ns"


async def test_config_map_code_wins_over_http_ref() -> None:
    desired = Desired()
    desired.add(
        "ConfigMap", "app", "fn", {"metadata": {"name": "fn", "namespace": "app"}, "data": {"code": "cm"}}
    )
    desired.definition(
        "d",
        deno=RuntimeSpec(config_map_ref=NameRef(name="fn"), http_ref=HttpRef(url="http://x.invalid/a.ts")),
    )
    plan = await plan_task(command("d"), desired, KEPTN_NS)
    assert (plan.source.kind, plan.source.code) == (SourceKind.CONFIG_MAP, "cm")


CANNOT_RUN: list[tuple[dict[str, Any], str]] = [
    ({"container": {"name": "c", "image": "busybox"}}, "'d': container runtime needs Kubernetes mode"),
    ({}, "'d' defines no runtime: set one of spec.deno, spec.python or spec.container"),
    ({"deno": RuntimeSpec()}, "'d' has no code"),
    ({"deno": RuntimeSpec(function_ref=NameRef(name="nope"))}, "'d': functionRef 'nope' was not found"),
    ({"deno": RuntimeSpec(config_map_ref=NameRef(name="gone"))}, "ConfigMap 'gone' (configMapRef of Keptn"),
]


@pytest.mark.parametrize(("spec", "message"), CANNOT_RUN)
async def test_definitions_that_cannot_run_give_a_clear_error(spec: dict[str, Any], message: str) -> None:
    desired = Desired()
    desired.definition("d", **spec)
    with pytest.raises(TaskSetupError) as raised:
        await plan_task(command("d"), desired, KEPTN_NS)
    assert message in str(raised.value)


async def test_a_missing_definition_names_both_namespaces() -> None:
    with pytest.raises(TaskSetupError) as raised:
        await plan_task(command("ghost"), Desired(), KEPTN_NS)
    assert (
        str(raised.value) == "KeptnTaskDefinition 'ghost' was not found in namespace 'app' or 'keptn-system'"
    )


async def test_a_config_map_without_code_key_is_reported() -> None:
    desired = Desired()
    desired.add("ConfigMap", "app", "fn", {"metadata": {"name": "fn"}, "data": {"script": "x"}})
    desired.definition("d", python=RuntimeSpec(config_map_ref=NameRef(name="fn")))
    with pytest.raises(TaskSetupError, match="has no key 'code'"):
        await plan_task(command("d"), desired, KEPTN_NS)
