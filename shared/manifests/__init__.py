"""KLT manifests in, klt objects out: loading, conversion to v1, validation and the stored form.

``load_paths`` reads files and folders (multi-document YAML and JSON) into a ``ManifestSet`` holding
the kinds klt acts on — Namespace, Secret, ConfigMap, Deployment, StatefulSet, DaemonSet, ReplicaSet
and the Keptn input kinds in every served version, converted to v1 — and ignores every other kind.
Errors carry file, document, line and field (``ManifestError``); a load reports them all at once.
``validate`` then checks what the schema cannot: one runtime per task definition, durations,
evaluation targets, and that every name a manifest refers to exists.
"""

from shared.manifests.codec import decode_object, encode_object, manifest_set_from_objects
from shared.manifests.converting import KIND_TYPES, SERVED, Converted, convert_object
from shared.manifests.errors import ManifestError, ManifestErrors
from shared.manifests.loading import load_paths, load_secrets
from shared.manifests.model import Locator, ManifestSet, ObjectKey, Source, metadata_of
from shared.manifests.validating import validate

__all__ = [
    "KIND_TYPES",
    "SERVED",
    "Converted",
    "Locator",
    "ManifestError",
    "ManifestErrors",
    "ManifestSet",
    "ObjectKey",
    "Source",
    "convert_object",
    "decode_object",
    "encode_object",
    "load_paths",
    "load_secrets",
    "manifest_set_from_objects",
    "metadata_of",
    "validate",
]
