"""KLT's names, keys and version rules, exactly as KLT computes them (klt-facts §1.1, §1.5-§1.8, §2).

Everything here is pure string arithmetic. The watcher, the CLI and the tests all name objects through
these functions so that a klt object carries the very name KLT would have given it (``waiter-waiter-0.4``,
``podtato-head-1.3-4e074085``), which is what users grep for in ``kubectl get`` output and dashboards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

MAX_K8S_OBJECT_LENGTH = 253
"""Longest Kubernetes object name (``MaxK8sObjectLength``)."""
MIN_KEPTN_NAME_LEN = 80
"""Shortest a name part is cut to when a generated name is too long (``MinKeptnNameLen``)."""

# --- §2.1 keys: each is read from annotations or labels --------------------------------------------
WORKLOAD_KEY = "keptn.sh/workload"
VERSION_KEY = "keptn.sh/version"
APP_KEY = "keptn.sh/app"
PRE_DEPLOYMENT_TASKS_KEY = "keptn.sh/pre-deployment-tasks"
POST_DEPLOYMENT_TASKS_KEY = "keptn.sh/post-deployment-tasks"
PRE_DEPLOYMENT_EVALUATIONS_KEY = "keptn.sh/pre-deployment-evaluations"
POST_DEPLOYMENT_EVALUATIONS_KEY = "keptn.sh/post-deployment-evaluations"
CONTAINER_KEY = "keptn.sh/container"
METADATA_KEY = "keptn.sh/metadata"
NAMESPACE_ENABLED_KEY = "keptn.sh/lifecycle-toolkit"
"""Namespace *annotation* that opts a namespace in; its value must be ``"enabled"``."""
SCHEDULING_GATE_REMOVED_KEY = "keptn.sh/scheduling-gate-removed"
TASK_NAME_KEY = "keptn.sh/task-name"
K8S_WORKLOAD_KEY = "app.kubernetes.io/name"
K8S_VERSION_KEY = "app.kubernetes.io/version"
K8S_APP_KEY = "app.kubernetes.io/part-of"
MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY_KEPTN = "keptn"
APP_TYPE_KEY = "keptn.sh/app-type"
SCHEDULING_GATE = "keptn-prechecks-gate"

WORKLOAD_KEYS = (WORKLOAD_KEY, K8S_WORKLOAD_KEY)
VERSION_KEYS = (VERSION_KEY, K8S_VERSION_KEY)
APP_KEYS = (APP_KEY, K8S_APP_KEY)
COPIED_KEYS: tuple[tuple[str, str | None], ...] = (
    (WORKLOAD_KEY, K8S_WORKLOAD_KEY),
    (VERSION_KEY, K8S_VERSION_KEY),
    (APP_KEY, K8S_APP_KEY),
    (PRE_DEPLOYMENT_TASKS_KEY, None),
    (POST_DEPLOYMENT_TASKS_KEY, None),
    (PRE_DEPLOYMENT_EVALUATIONS_KEY, None),
    (POST_DEPLOYMENT_EVALUATIONS_KEY, None),
    (METADATA_KEY, None),
)
"""(primary, fallback) keys the webhook copies from a workload object onto a pod that has no
workload key of its own (§2.2 step 3)."""


class VersionError(ValueError):
    """The version of a workload cannot be derived (``keptn.sh/container`` names no container)."""


def sanitize(name: str) -> str:
    """Lowercase and turn ``_`` into ``-`` (the last step of KLT's name builder, §2.2)."""
    return name.lower().replace("_", "-")


def create_resource_name(max_len: int, min_substr_len: int, *parts: str) -> str:
    """KLT's ``CreateResourceName`` (§2.2): join ``parts`` with ``-``, shortening the leading parts
    (never below ``min_substr_len``, the last part never) until the result fits ``max_len``."""
    cut_parts = list(parts)
    while len(cut_parts) * min_substr_len > max_len:
        min_substr_len //= 2
    for i in range(len(cut_parts) - 1):
        joined = "-".join(cut_parts)
        if len(joined) <= max_len:
            break
        if len(cut_parts[i]) <= min_substr_len:
            continue
        cut = len(joined) - max_len
        if cut > len(cut_parts[i]) - min_substr_len:
            cut_parts[i] = cut_parts[i][:min_substr_len]
        else:
            cut_parts[i] = cut_parts[i][: len(cut_parts[i]) - cut]
    return sanitize("-".join(cut_parts))


def resource_name(*parts: str) -> str:
    """``create_resource_name`` with KLT's limits (253, 80), as every generated KLT name uses."""
    return create_resource_name(MAX_K8S_OBJECT_LENGTH, MIN_KEPTN_NAME_LEN, *parts)


def generation_hash(generation: int) -> str:
    """KLT's ``Hash(generation)``: the first 8 hex characters of ``sha256(str(generation))`` (§1.1)."""
    return hashlib.sha256(str(generation).encode()).hexdigest()[:8]


def app_version_name(app_name: str, version: str, generation: int) -> str:
    """``<app>-<version>-<hash(generation)>``, e.g. ``waiter-0.4-6b86b273`` (§1.1). The hash is of
    ``metadata.generation``, not of ``spec.revision`` (§12)."""
    return resource_name(app_name, version, generation_hash(generation))


def workload_name(app_name: str, workload: str) -> str:
    """The KeptnWorkload name ``<app>-<workload>`` (§1.5)."""
    return resource_name(app_name, workload)


def workload_version_name(workload_full_name: str, version: str) -> str:
    """The KeptnWorkloadVersion name ``<app>-<workload>-<version>`` (§1.6)."""
    return resource_name(workload_full_name, version)


def _seeded_number(seed: str) -> int:
    """A number in KLT's random range [10000, 99998), fixed by ``seed`` so that deciding again
    gives the same name (klt's idempotency; KLT draws it at random)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return 10000 + int.from_bytes(digest[:8], "big") % (99998 - 10000)


def task_name(check_type: str, definition: str, seed: str) -> str:
    """A KeptnTask name ``<checkType>-<definition>-<5 digits>``, e.g. ``pre-notify-12345`` (§1.8).

    ``seed`` should identify the decision (parent uid, phase, definition), so a replayed decision
    produces the same task instead of a duplicate."""
    return resource_name(check_type, definition, str(_seeded_number(seed)))


def evaluation_name(check_type: str, definition: str, seed: str) -> str:
    """A KeptnEvaluation name, e.g. ``pre-eval-evaluate-dependencies-48213`` (§1.10)."""
    return resource_name(check_type, definition, str(_seeded_number(seed)))


def get_label_or_annotation(
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
    primary: str,
    fallback: str | None = None,
) -> str | None:
    """KLT's ``GetLabelOrAnnotation`` (§2.1): annotation[primary], label[primary],
    annotation[fallback], label[fallback]; the first non-empty value wins, else ``None``."""
    keys = (primary,) if not fallback else (primary, fallback)
    for key in keys:
        for source in (annotations or {}, labels or {}):
            value = source.get(key)
            if value:
                return value
    return None


def split_list(value: str | None) -> list[str]:
    """A list-valued key (``keptn.sh/pre-deployment-tasks: a,b``): split on ``,`` without trimming,
    as KLT does; empty items (``a,,b`` or a trailing comma) are dropped."""
    if not value:
        return []
    return [item for item in value.split(",") if item]


def parse_metadata(value: str | None) -> dict[str, str]:
    """``keptn.sh/metadata: "k1=v1,k2=v2"`` → ``{"k1": "v1", "k2": "v2"}``; an item that does not
    split on ``=`` into exactly two parts is ignored (§2.1)."""
    result: dict[str, str] = {}
    for item in split_list(value):
        pieces = item.split("=")
        if len(pieces) == 2:
            result[pieces[0]] = pieces[1]
    return result


class EnvVarLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...


class ContainerLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def image(self) -> str: ...

    @property
    def env(self) -> Sequence[EnvVarLike]: ...


def _fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def image_tag(image: str) -> str:
    """The text after the image's last ``:`` (``busybox:1.36`` → ``1.36``), or ``""`` without one."""
    _, sep, tag = image.rpartition(":")
    return tag if sep else ""


def derive_version(containers: Sequence[ContainerLike], container_key_value: str | None = None) -> str:
    """KLT's ``calculateVersion`` for a pod without a version key (§2.2).

    With ``keptn.sh/container`` naming a container whose image tag is set and not ``latest``, that tag
    is the version. Otherwise the version is the FNV-32a hash, in decimal, of every container's
    ``name + image + Σ(env.name + env.value)`` in order. Naming a container that does not exist is
    an error, as in KLT (which then leaves the pod without a workload)."""
    if container_key_value:
        matching = [c for c in containers if c.name == container_key_value]
        if not matching:
            raise VersionError(
                f"The container name '{container_key_value}' specified in {CONTAINER_KEY} "
                "does not match any containers in the pod"
            )
        tag = image_tag(matching[0].image)
        if tag and tag != "latest":
            return tag
    text = "".join(c.name + c.image + "".join(env.name + env.value for env in c.env) for c in containers)
    return str(_fnv32a(text.encode()))


def compute_version_from_workloads(workloads: Iterable[tuple[str, str]]) -> str:
    """The version of an auto-created KeptnApp (§2.3): with one workload, its version; otherwise the
    first 10 hex characters of ``sha256(Σ name + "-" + version)`` over the full KeptnWorkload names
    (``<app>-<workload>``), sorted by name."""
    items = sorted(workloads)
    if len(items) == 1:
        return items[0][1]
    text = "".join(f"{name}-{version}" for name, version in items)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
