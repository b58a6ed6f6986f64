"""The retention limit, decided without I/O: which finished versions to delete (KLT #621).

KLT never deletes a KeptnAppVersion or KeptnWorkloadVersion, nor their KeptnTasks and
KeptnEvaluations, so every release adds objects to etcd for ever. klt keeps at most ``keep`` finished
versions per app (AppVersions) and per workload (WorkloadVersions), the newest by creationTimestamp
(then name, as the start gate orders them). A version still running is never deleted, nor the one the
app or workload is at now (``protected``): the watcher would create that one again at once, and it is
the one ``kubectl get`` should show. ``keep == 0`` keeps everything.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.watcher.index import Index
from shared.keptn.lifecycle import KeptnAppVersion, KeptnWorkloadVersion
from shared.naming import app_version_name, workload_version_name
from shared.phases import is_terminal

Version = KeptnAppVersion | KeptnWorkloadVersion


def expired(versions: Iterable[Version], keep: int, protected: Iterable[str] = ()) -> list[Version]:
    """The versions of one app (or one workload) to delete, oldest first."""
    if keep <= 0:
        return []
    spared = set(protected)
    finished = sorted(
        (v for v in versions if is_terminal(v)),
        key=lambda v: (v.metadata.creation_timestamp or "", v.metadata.name),
        reverse=True,
    )
    return [v for v in reversed(finished[keep:]) if v.metadata.name not in spared]


def siblings(index: Index, version: Version) -> tuple[list[Version], set[str]]:
    """The versions of ``version``'s app (or workload) and the name of its current one."""
    ns = version.metadata.namespace
    if isinstance(version, KeptnAppVersion):
        app = version.spec.app_name
        found = index.app(ns, app)
        current = (
            {app_version_name(app, found[0].spec.version, found[0].metadata.generation)} if found else set()
        )
        return list(index.app_versions_of(ns, app)), current
    workload = version.spec.workload_name
    versions = [
        kwv
        for kwv in index.objects("KeptnWorkloadVersion", ns).values()
        if kwv.spec.workload_name == workload
    ]
    held = index.workload(ns, workload)
    current = {workload_version_name(workload, held[0].status.current_version)} if held else set()
    return versions, current
