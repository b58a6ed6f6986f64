"""Reading manifest files: which files a folder holds, and their YAML documents with line numbers.

Folders are read recursively in sorted order, taking ``*.yaml``, ``*.yml`` and ``*.json`` (what
Argo CD's directory source and ``kubectl apply -f DIR -R`` read); hidden files and folders (``.git``)
and ``kustomization.yaml`` are skipped. JSON is read as YAML, which it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from shared.manifests.errors import ManifestError
from shared.manifests.paths import Path, format_path

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")
_SKIPPED_NAMES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
_MAX_DEPTH = 64
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class RawDocument:
    """One non-empty YAML document: its data, where it starts, and the line of every field."""

    path: str
    index: int
    line: int
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)


def manifest_files(paths: Sequence[str | FsPath]) -> tuple[list[FsPath], list[ManifestError]]:
    """The files to read: each file given as is, each folder's manifest files (recursive, sorted)."""
    files: list[FsPath] = []
    errors: list[ManifestError] = []
    for given in paths:
        path = FsPath(given)
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path).parts
                if any(part.startswith(".") for part in relative):
                    continue
                if candidate.is_file() and candidate.suffix in SUFFIXES:
                    if candidate.name in _SKIPPED_NAMES:
                        log.debug("Skipping %s: kustomize configuration, not a manifest", candidate)
                        continue
                    files.append(candidate)
        elif path.is_file():
            files.append(path)
        else:
            errors.append(ManifestError(path=str(path), message="no such file or folder"))
    return files, errors


def read_documents(path: FsPath) -> tuple[list[RawDocument], list[ManifestError]]:
    """Every non-empty document of one file. A YAML syntax error ends the file (the parser cannot
    resume) and is reported with its line; documents before it are kept."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "cannot be read as UTF-8 text"
        return [], [ManifestError(path=shown, message=f"cannot read file: {reason}")]
    documents: list[RawDocument] = []
    errors: list[ManifestError] = []
    loader = _Loader(text)
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            if data is not None and node is not None:
                lines: dict[Path, int] = {}
                _index_lines(node, (), lines, shown, index, errors)
                documents.append(RawDocument(shown, index, node.start_mark.line + 1, data, lines))
            index += 1
    except yaml.MarkedYAMLError as exc:
        errors.append(_syntax_error(shown, index, exc))
    except yaml.YAMLError:
        errors.append(ManifestError(path=shown, document=index, message="YAML syntax error"))
    finally:
        loader.dispose()
    return documents, errors


def _syntax_error(shown: str, document: int, exc: yaml.MarkedYAMLError) -> ManifestError:
    """Only the problem and its place: PyYAML's own rendering quotes the line, which may hold a Secret's
    value. When the parser names a construct it was inside (an unclosed list or quote), where that
    construct starts is said too, since the problem is often only noticed at the end of the file."""
    problem = exc.problem or exc.context or "invalid YAML"
    problem_line = exc.problem_mark.line + 1 if exc.problem_mark else None
    context_line = exc.context_mark.line + 1 if exc.context_mark else None
    message = f"YAML syntax error: {problem}"
    if exc.problem and exc.context and context_line and context_line != problem_line:
        message += f" ({exc.context} that starts at line {context_line})"
    return ManifestError(path=shown, document=document, line=problem_line or context_line, message=message)


def _index_lines(
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    shown: str,
    document: int,
    errors: list[ManifestError],
    depth: int = 0,
) -> None:
    """Record the 1-based line of every mapping key and list item under ``node``, and report
    duplicate keys (YAML keeps the last silently; Kubernetes rejects them)."""
    if depth > _MAX_DEPTH:  # a self-referencing anchor; the data itself is checked later
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == "<<":
                continue
            child = (*path, key)
            if key in seen:
                errors.append(
                    ManifestError(
                        path=shown,
                        document=document,
                        line=key_node.start_mark.line + 1,
                        field=format_path(child),
                        message="key given twice in the same mapping",
                    )
                )
            seen.add(key)
            lines.setdefault(child, key_node.start_mark.line + 1)
            _index_lines(value_node, child, lines, shown, document, errors, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*path, i)
            lines.setdefault(child, item.start_mark.line + 1)
            _index_lines(item, child, lines, shown, document, errors, depth + 1)


def iter_documents(files: Sequence[FsPath]) -> Iterator[tuple[list[RawDocument], list[ManifestError]]]:
    for file in files:
        yield read_documents(file)
