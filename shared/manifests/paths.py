"""Field paths inside a manifest: how klt names a field in an error and finds the line it is on.

A path is a tuple of mapping keys and list indexes, e.g. ``("spec", "objectives", 0,
"evaluationTarget")``, printed as ``spec.objectives[0].evaluationTarget``. Keys that are not plain
identifiers (annotation keys such as ``keptn.sh/version``) print in brackets:
``metadata.annotations['keptn.sh/version']``.
"""

from __future__ import annotations

import re
from typing import Any

Path = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MSGSPEC_PART = re.compile(r"\.([A-Za-z0-9_$-]+)|\[(\d+)\]|\[(\.\.\.)\]|\['((?:[^'\\]|\\.)*)'\]")
ANY_KEY = "..."
"""msgspec's stand-in for "some key of this mapping" in a path (``$.data[...]``)."""


def format_path(path: Path) -> str:
    """``("spec", "objectives", 0, "evaluationTarget")`` → ``spec.objectives[0].evaluationTarget``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def parse_msgspec_path(text: str) -> Path:
    """msgspec's ``$.spec.objectives[0]`` → ``("spec", "objectives", 0)``; ``[...]`` becomes ``ANY_KEY``."""
    rest = text[1:] if text.startswith("$") else text
    parts: list[str | int] = []
    pos = 0
    while pos < len(rest):
        match = _MSGSPEC_PART.match(rest, pos)
        if match is None:
            break
        name, index, any_key, quoted = match.groups()
        if name is not None:
            parts.append(name)
        elif index is not None:
            parts.append(int(index))
        elif any_key is not None:
            parts.append(ANY_KEY)
        else:
            parts.append(quoted)
        pos = match.end()
    return tuple(parts)


def lookup(data: Any, path: Path) -> Any:
    """The value at ``path`` in plain YAML data, or ``None`` when there is none."""
    current = data
    for part in path:
        if isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            continue
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            current = current[part]
            continue
        return None
    return current


def startswith(path: Path, prefix: Path) -> bool:
    return path[: len(prefix)] == prefix
