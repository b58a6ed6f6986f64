"""Loading a folder of manifests into a ManifestSet, collecting every error on the way.

Namespaces: an object without ``metadata.namespace`` gets ``default_namespace``. When none is given,
klt does what a GitOps tool does with a folder: Argo CD and Flux apply a folder into one destination
namespace, and such folders usually declare that Namespace, so if the loaded files declare exactly
one Namespace it is the default; otherwise ``default`` is, as for ``kubectl apply``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path as FsPath

from shared.keptn.workloads import Secret, SecretDecodeError
from shared.manifests.converting import Converted, convert_document
from shared.manifests.errors import ManifestError, ManifestErrors
from shared.manifests.model import Locator, ManifestSet, ObjectKey, Source, metadata_of
from shared.manifests.paths import Path, format_path
from shared.manifests.reading import RawDocument, manifest_files, read_documents

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"
_SECRET_KINDS = frozenset({"Secret", "Namespace"})


def load_paths(paths: Sequence[str | FsPath], default_namespace: str | None = None) -> ManifestSet:
    """Read every manifest under ``paths`` (files or folders). Raises ``ManifestErrors`` with every
    error found (syntax, unknown version, wrong field type, duplicate object…) if there is any."""
    items, errors = _read_all(paths)
    namespace = _default_namespace(items, default_namespace)
    result = ManifestSet()
    explicit_contexts = {
        (metadata_of(c.obj).namespace or namespace, metadata_of(c.obj).name)
        for _, c in items
        if c.kind == "KeptnAppContext" and not c.implied
    }
    for doc, converted in items:
        meta = metadata_of(converted.obj)
        if converted.kind != "Namespace" and not meta.namespace:
            meta.namespace = namespace
        if converted.implied and (meta.namespace, meta.name) in explicit_contexts:
            log.debug(
                "%s: KeptnAppContext %s given explicitly; ignoring the KeptnApp's check lists",
                doc.path,
                meta.name,
            )
            continue
        _add(result, doc, converted, errors)
    if errors:
        raise ManifestErrors(errors)
    return result


def load_secrets(
    paths: Sequence[str | FsPath], default_namespace: str | None = None
) -> dict[tuple[str, str], dict[str, str]]:
    """Only the Secrets under ``paths``, decoded: ``{(namespace, name): {key: value}}``. For the
    task-runner and metrics-provider, which resolve secret references themselves. Raises
    ``ManifestErrors`` (naming keys, never values) for undecodable data or a broken file."""
    items, errors = _read_all(paths, _SECRET_KINDS)
    errors = [e for e in errors if e.kind in _SECRET_KINDS or not e.kind]
    namespace = _default_namespace(items, default_namespace)
    secrets: dict[tuple[str, str], dict[str, str]] = {}
    for doc, converted in items:
        if not isinstance(converted.obj, Secret):
            continue
        secret = converted.obj
        key = (secret.metadata.namespace or namespace, secret.metadata.name)
        try:
            values = secret.values()
        except SecretDecodeError as exc:
            errors.append(_doc_error(doc, converted, str(exc).partition(": ")[2], ("data", exc.key)))
            continue
        if key in secrets:
            errors.append(_doc_error(doc, converted, f"Secret {key[0]}/{key[1]} is defined twice"))
        secrets[key] = values
    if errors:
        raise ManifestErrors(errors)
    return secrets


def _read_all(
    paths: Sequence[str | FsPath], only_kinds: frozenset[str] | None = None
) -> tuple[list[tuple[RawDocument, Converted]], list[ManifestError]]:
    """Read and convert every document; with ``only_kinds``, documents of other kinds are skipped
    unread (so a broken task definition does not stop the task-runner from reading Secrets)."""
    files, errors = manifest_files(paths)
    items: list[tuple[RawDocument, Converted]] = []
    for file in files:
        documents, read_errors = read_documents(file)
        errors += read_errors
        for doc in documents:
            kind = doc.data.get("kind") if isinstance(doc.data, dict) else None
            if only_kinds is not None and kind not in only_kinds and kind != "List":
                continue
            converted, convert_errors = convert_document(doc)
            errors += convert_errors
            items += [(doc, c) for c in converted]
    return items, errors


def _default_namespace(items: list[tuple[RawDocument, Converted]], given: str | None) -> str:
    if given:
        return given
    declared = {metadata_of(c.obj).name for _, c in items if c.kind == "Namespace"}
    return declared.pop() if len(declared) == 1 else DEFAULT_NAMESPACE


def _add(result: ManifestSet, doc: RawDocument, converted: Converted, errors: list[ManifestError]) -> None:
    obj = converted.obj
    meta = metadata_of(obj)
    key: ObjectKey = (converted.kind, meta.namespace, meta.name)
    source = Source(
        doc.path,
        doc.index,
        doc.lines.get(converted.base, doc.line) if converted.base else doc.line,
        _original_kind(doc, converted),
        converted.api_version,
    )
    earlier = result.sources.get(key)
    if earlier is not None and converted.implied:
        return  # the KeptnApp it comes from is itself a duplicate, reported once
    if earlier is not None:
        where = f"{earlier.path}:{earlier.line}"
        ns_name = f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
        errors.append(
            _doc_error(
                doc, converted, f"{converted.kind} {ns_name} is defined twice; it is also defined at {where}"
            )
        )
        return
    if isinstance(obj, Secret):
        try:
            obj.values()
        except SecretDecodeError as exc:
            errors.append(_doc_error(doc, converted, str(exc).partition(": ")[2], ("data", exc.key)))
            return
    result.sources[key] = source
    result.locators[key] = Locator(source, doc.lines, converted.renames, converted.base)
    result.put(obj)
    if converted.implied:
        result.converted_contexts.add((meta.namespace, meta.name))


def _original_kind(doc: RawDocument, converted: Converted) -> str:
    data = doc.data
    for part in converted.base:
        data = data[part]
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else converted.kind


def _doc_error(doc: RawDocument, converted: Converted, message: str, path: Path = ()) -> ManifestError:
    full = (*converted.base, *path)
    return ManifestError(
        path=doc.path,
        document=doc.index,
        line=doc.lines.get(full, doc.line) if path else doc.line,
        kind=_original_kind(doc, converted),
        name=metadata_of(converted.obj).name,
        field=format_path(full) if path else "",
        message=message,
    )
