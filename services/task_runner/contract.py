"""What a deno or python task is given: KLT's runtime contract (klt-facts §4.3), byte for byte.

Pure: the environment variables, their JSON encoding and the command lines. The subprocess itself is
started by ``running``; this module only decides what it sees.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from enum import StrEnum

import msgspec

from shared.keptn.lifecycle import TaskContext

DATA = "DATA"
KEPTN_CONTEXT = "KEPTN_CONTEXT"
CMD_ARGS = "CMD_ARGS"
SECURE_DATA = "SECURE_DATA"
SCRIPT = "SCRIPT"

TASK_VARIABLES = (DATA, KEPTN_CONTEXT, CMD_ARGS, SECURE_DATA, SCRIPT)
"""KLT's variables, in the order KLT puts them on the container."""

DENO_FLAGS = (
    "--allow-net",
    "--allow-write",
    "--allow-read",
    f"--allow-env={DATA},{SECURE_DATA},{KEPTN_CONTEXT}",
    "--no-prompt",
)
"""KLT's deno entrypoint permissions (§4.3), plus ``--no-prompt`` since no one could answer a prompt."""


class Runtime(StrEnum):
    DENO = "deno"
    PYTHON = "python"
    CONTAINER = "container"
    """The user's own container as a Kubernetes Job (Kubernetes mode only, §4.4)."""


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(text: str) -> str:
    """Apply Go's ``json.Marshal`` HTML escaping to compact JSON text.

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 inside strings; those characters can only occur
    inside strings in JSON, so replacing them in the whole text is exact.
    """
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text


def data_json(parameters: Mapping[str, str]) -> str:
    """``DATA``: the merged parameters as Go marshals a ``map[string]string`` (sorted keys, compact)."""
    raw = json.dumps(dict(parameters), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return go_json(raw)


def context_json(context: TaskContext) -> str:
    """``KEPTN_CONTEXT``: the TaskContext in KLT's field order; ``metadata`` only when non-empty (§1.8)."""
    if isinstance(context.metadata, dict) and not context.metadata:
        context = msgspec.structs.replace(context, metadata=msgspec.UNSET)
    return go_json(msgspec.json.encode(context).decode())


def task_variables(
    *,
    parameters: Mapping[str, str],
    context: TaskContext,
    cmd_args: str,
    secure_data: str | None,
    script: str,
) -> dict[str, str]:
    """KLT's five variables (§4.3): ``DATA`` only with parameters, ``SECURE_DATA`` only with a secret."""
    variables: dict[str, str] = {}
    if parameters:
        variables[DATA] = data_json(parameters)
    variables[KEPTN_CONTEXT] = context_json(context)
    variables[CMD_ARGS] = cmd_args
    if secure_data is not None:
        variables[SECURE_DATA] = secure_data
    variables[SCRIPT] = script
    return variables


def deno_command(deno: str, script_path: str) -> list[str]:
    """``deno run <KLT's flags> <script>``; deno ignores ``CMD_ARGS``, as KLT's entrypoint does."""
    return [deno, "run", *DENO_FLAGS, script_path]


def deno_environment(variables: Mapping[str, str], *, deno_dir: str, home: str) -> dict[str, str]:
    """The task's variables plus what deno itself needs: a module cache, a home, no colour codes."""
    return {
        **variables,
        "DENO_DIR": deno_dir,
        "HOME": home,
        "NO_COLOR": "1",
        "DENO_NO_UPDATE_CHECK": "1",
    }


def python_command(python: str, cmd_args: str, script_path: str) -> list[str]:
    """``python3 $CMD_ARGS $SCRIPT`` as KLT's entrypoint runs it, in isolated mode (``-I``).

    ``CMD_ARGS`` goes before the script, so it holds interpreter options (``-u``, ``-W ignore``). It is
    split with shell quoting rules (``shlex``); raises ``ValueError`` on unbalanced quotes.
    """
    return [python, "-I", *shlex.split(cmd_args), script_path]


def python_environment(variables: Mapping[str, str], *, path: str) -> dict[str, str]:
    """A clean environment: exactly the task's variables and ``PATH``, nothing of the runner's."""
    return {**variables, "PATH": path}
