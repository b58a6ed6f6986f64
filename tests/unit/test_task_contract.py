"""The runtime contract a deno or python task sees (klt-facts §4.3): variables, encodings, commands."""

from __future__ import annotations

import json

import msgspec
import pytest

from services.task_runner.contract import (
    context_json,
    data_json,
    deno_command,
    deno_environment,
    python_command,
    python_environment,
    task_variables,
)
from shared.keptn.lifecycle import TaskContext

WAITER = TaskContext(
    workload_name="waiter-waiter",
    app_name="waiter",
    app_version="",
    workload_version="0.4",
    task_type="pre",
    object_type="Workload",
)


def test_keptn_context_is_klts_exact_string_for_the_waiter_example() -> None:
    assert context_json(WAITER) == (
        '{"workloadName":"waiter-waiter","appName":"waiter","appVersion":"","workloadVersion":"0.4",'
        '"taskType":"pre","objectType":"Workload"}'
    )


def test_keptn_context_writes_metadata_last_and_only_when_non_empty() -> None:
    with_metadata = msgspec.structs.replace(WAITER, metadata={"commit": "abc"})
    assert context_json(with_metadata).endswith(',"objectType":"Workload","metadata":{"commit":"abc"}}')
    empty = msgspec.structs.replace(WAITER, metadata={})
    assert "metadata" not in context_json(empty)


def test_data_has_sorted_keys_compact_separators_and_go_html_escaping() -> None:
    assert data_json({"user": "myuser", "data": "mydata", "other": "data"}) == (
        '{"data":"mydata","other":"data","user":"myuser"}'
    )
    escaped = data_json({"q": "a<b>&c", "u": "ü\n"})
    assert escaped == '{"q":"a\\u003cb\\u003e\\u0026c","u":"ü\\n"}'
    assert json.loads(escaped) == {"q": "a<b>&c", "u": "ü\n"}


def test_variables_follow_klts_order_and_presence_rules() -> None:
    full = task_variables(
        parameters={"a": "1"}, context=WAITER, cmd_args="-u", secure_data="s3cret", script="/s.py"
    )
    assert list(full) == ["DATA", "KEPTN_CONTEXT", "CMD_ARGS", "SECURE_DATA", "SCRIPT"]
    bare = task_variables(parameters={}, context=WAITER, cmd_args="", secure_data=None, script="/s.py")
    assert list(bare) == ["KEPTN_CONTEXT", "CMD_ARGS", "SCRIPT"]
    assert bare["CMD_ARGS"] == ""


def test_python_gets_exactly_the_documented_variables_and_nothing_of_the_runner() -> None:
    variables = task_variables(
        parameters={"a": "1"}, context=WAITER, cmd_args="", secure_data="x", script="/s.py"
    )
    env = python_environment(variables, path="/usr/bin:/bin")
    assert set(env) == {"DATA", "KEPTN_CONTEXT", "CMD_ARGS", "SECURE_DATA", "SCRIPT", "PATH"}


def test_python_command_puts_cmd_args_before_the_script_in_isolated_mode() -> None:
    assert python_command("/py", "-u -W 'ignore::DeprecationWarning'", "/run/f.py") == [
        "/py", "-I", "-u", "-W", "ignore::DeprecationWarning", "/run/f.py",
    ]  # fmt: skip
    assert python_command("/py", "", "/run/f.py") == ["/py", "-I", "/run/f.py"]
    with pytest.raises(ValueError):
        python_command("/py", "-c 'unbalanced", "/run/f.py")


def test_deno_runs_with_klts_permission_flags_and_only_what_it_needs() -> None:
    assert deno_command("/deno", "/run/f.ts") == [
        "/deno", "run", "--allow-net", "--allow-write", "--allow-read",
        "--allow-env=DATA,SECURE_DATA,KEPTN_CONTEXT", "--no-prompt", "/run/f.ts",
    ]  # fmt: skip
    variables = task_variables(parameters={}, context=WAITER, cmd_args="", secure_data=None, script="/f.ts")
    env = deno_environment(variables, deno_dir="/cache", home="/home")
    assert set(env) - set(variables) == {"DENO_DIR", "HOME", "NO_COLOR", "DENO_NO_UPDATE_CHECK"}
    assert env["DENO_DIR"] == "/cache"
