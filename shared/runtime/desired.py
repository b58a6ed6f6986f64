"""Writing desired state (manifests, Secrets excluded) into the desired-state KV bucket.

Every source of desired state ends here: ``klt run`` and ``klt apply`` (a folder of manifests), the
watcher's local source, and later the Kubernetes source. The watcher, task-runner, evaluator and
metrics-provider read definitions from this bucket, never from files, so they behave the same in every mode.
Secrets never travel on NATS: the task-runner and metrics-provider resolve them from their own source.
"""

from __future__ import annotations

from nats.js.kv import KeyValue

from shared.manifests import ManifestSet, encode_object
from shared.runtime.natsio import list_entries
from shared.subjects import object_key

APPLIED_MARKER = "klt.applied.batch"
"""Written after a whole set of manifests was stored: the watcher derives at once instead of waiting for its
settle window (which is there for writers that trickle changes in, like a cluster watch)."""

_WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
_APP_KINDS = frozenset({"KeptnApp", "KeptnAppContext"})


def _write_order(item: tuple[str, str, str, object]) -> int:
    """Definitions and settings first, then apps, workloads last: the watcher starts a lifecycle the moment
    a workload appears, so everything it refers to should already be there (no transient 'not found')."""
    kind = item[0]
    return 2 if kind in _WORKLOAD_KINDS else 1 if kind in _APP_KINDS else 0


async def put_desired(kv: KeyValue, manifests: ManifestSet) -> int:
    """Store every object of ``manifests`` (Secrets excluded); unchanged values are not rewritten, so
    re-applying the same folder causes no churn downstream. Returns how many entries changed."""
    current = await list_entries(kv, ">")
    changed = 0
    for kind, namespace, name, obj in sorted(manifests.objects(), key=_write_order):
        key = object_key(kind, namespace, name)
        value = encode_object(obj)
        existing = current.get(key)
        if existing is not None and existing.value == value:
            continue
        await kv.put(key, value)
        changed += 1
    await kv.put(APPLIED_MARKER, str(changed).encode())
    return changed


async def replace_desired(kv: KeyValue, manifests: ManifestSet) -> int:
    """Make the bucket hold exactly ``manifests``: ``put_desired``, then delete what is no longer there."""
    changed = await put_desired(kv, manifests)
    wanted = {object_key(kind, ns, name) for kind, ns, name, _ in manifests.objects()} | {APPLIED_MARKER}
    for key in await list_entries(kv, ">"):
        if key not in wanted:
            await kv.delete(key)
            changed += 1
    return changed
