"""Input errors with their place: file, document, line, object and field.

Every problem found while loading or checking manifests becomes one ``ManifestError``; a load collects
them all (``ManifestErrors``) instead of stopping at the first, so a user fixes a folder in one pass.
Messages never contain a Secret's values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from shared.manifests.paths import ANY_KEY, Path, format_path, lookup, parse_msgspec_path


@dataclass
class ManifestError:
    """One input error. ``document`` is 0-based (printed 1-based); ``line`` is 1-based, the line of
    the field when known, else of the document; ``field`` is a dotted path such as
    ``spec.objectives[0].evaluationTarget``."""

    path: str
    message: str
    document: int | None = None
    line: int | None = None
    kind: str = ""
    name: str = ""
    field: str = ""
    expected: str = ""

    def __str__(self) -> str:
        where = self.path or "<input>"
        if self.line:
            where += f":{self.line}"
        parts = [where]
        subject = f"{self.kind} {self.name}".strip()
        if self.document is not None:
            parts.append(f"document {self.document + 1}" + (f" ({subject})" if subject else ""))
        elif subject:
            parts.append(subject)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class ManifestErrors(Exception):
    """All the errors of one load; ``str()`` lists one per line."""

    def __init__(self, errors: list[ManifestError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


_EXPECTED_GOT = re.compile(r"Expected `([^`]+)`, got `([^`]+)`")
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "bool": bool,
    "object": dict,
    "array": list,
}


def describe_validation_error(exc: msgspec.ValidationError, data: Any) -> tuple[Path, str, str]:
    """Turn msgspec's ``Expected `str`, got `int` - at `$.spec.version``` into a field path, a message
    and what was expected. ``data`` is the document that failed, used to name the offending key where
    msgspec only says ``[...]``."""
    text = str(exc)
    message, _, at = text.partition(" - at `")
    path = parse_msgspec_path(at.rstrip("`")) if at else ()
    missing = _MISSING.fullmatch(message)
    if missing:
        return (*path, missing.group(1)), "required field is missing", "a value"
    if ANY_KEY in path:
        path = _name_any_key(path, data, message)
    expected_got = _EXPECTED_GOT.fullmatch(message)
    if expected_got:
        expected, got = expected_got.groups()
        hint = ""
        if expected.startswith("str") and got in ("int", "float", "bool"):
            hint = " (quote the value so YAML reads it as text)"
        return path, f"expected {_plain(expected)}, got {_plain(got)}{hint}", _plain(expected)
    return path, message[:1].lower() + message[1:], ""


def _plain(type_name: str) -> str:
    words = {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "object": "a mapping",
        "array": "a list",
        "null": "nothing (null)",
    }
    return " or ".join(words.get(t.strip(), f"`{t.strip()}`") for t in type_name.split("|"))


def _name_any_key(path: Path, data: Any, message: str) -> Path:
    """Replace msgspec's ``[...]`` with the first key whose value has the wrong type."""
    index = path.index(ANY_KEY)
    container = lookup(data, path[:index])
    expected_got = _EXPECTED_GOT.fullmatch(message)
    if isinstance(container, dict) and expected_got:
        wanted = _PYTHON_TYPES.get(expected_got.group(1))
        for key, value in container.items():
            bad = wanted is not None and (
                not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool))
            )
            if bad:
                return (*path[:index], str(key), *path[index + 1 :])
    return path


def field_text(path: Path) -> str:
    return format_path(path)
