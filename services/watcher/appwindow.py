"""KLT's app-creation window (klt-facts §2.3, KeptnAppCreationRequest): in Kubernetes mode an app that klt
creates or updates from its workloads waits ``keptnAppCreationRequestTimeoutSeconds`` (KeptnConfig,
default 30 s) before it is written, so that all the workloads of a multi-workload app, whose pods arrive
one by one, are collected into one app version instead of one version per arriving workload.

- The window opens when the app klt would write first differs from the stored one (KLT: the first pod
  admitted creates the request) and closes ``timeout`` seconds later; then the app is written as derived
  at that moment. A further change after that opens a new window, as KLT's next pod admission does.
- Single-service apps (no workload of the app carries an app key; the app is named after its workload)
  and user-defined KeptnApps never wait, as in KLT.
- Meanwhile the workloads and their WorkloadVersions are created at once; the WorkloadVersions wait at
  their start gate for an AppVersion, as KLT's do.
- The window lives in memory: after a watcher restart it starts again (a delay of at most one more
  window, never a lost app).

Local mode does not use it: a folder is read as a whole, so there is nothing to wait for.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec

from services.watcher.handlers import DesiredView, StoredView
from shared.manifests.keys import workload_keys
from shared.naming import MANAGED_BY_KEPTN, MANAGED_BY_KEY

DEFAULT_WINDOW_S = 30.0
"""KeptnConfig ``keptnAppCreationRequestTimeoutSeconds`` default (§1.11)."""

_encoder = msgspec.json.Encoder()


def window_s(view: DesiredView) -> float:
    """The window of the desired state's KeptnConfig (the last one, as ``desired_view`` reads it)."""
    configs = view.manifests.configs
    if not configs:
        return DEFAULT_WINDOW_S
    return float(max(0, configs[-1].spec.keptn_app_creation_request_timeout_seconds))


def multi_service_apps(view: DesiredView) -> set[tuple[str, str]]:
    """Apps (namespace, name) with at least one workload that names its app explicitly."""
    found: set[tuple[str, str]] = set()
    derived, workloads = view.derived, view.manifests.workloads
    for (ns, kw_name), kw in derived.workloads.items():
        source = derived.sources.get((ns, kw_name))
        obj = workloads.get(source) if source is not None else None
        keys = workload_keys(obj) if obj is not None else None
        if keys is not None and keys.app is not None:
            found.add((ns, kw.spec.app))
    return found


class AppCreationWindow:
    """Holds back managed multi-service apps whose window is still open (in memory, per app)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._opened: dict[tuple[str, str], float] = {}

    def hold(self, view: DesiredView, stored: StoredView) -> float | None:
        """Remove from ``view.derived.apps`` the apps still inside their window; returns the seconds until
        the first of those windows closes (the caller syncs again then), or None when none is open."""
        now = self.clock()
        length = window_s(view)
        multi = multi_service_apps(view)
        waiting: dict[tuple[str, str], float] = {}
        for key, app in list(view.derived.apps.items()):
            if key not in multi or app.metadata.labels.get(MANAGED_BY_KEY) != MANAGED_BY_KEPTN:
                continue
            found = stored.app(*key)
            if found is not None and _encoder.encode(found[0].spec) == _encoder.encode(app.spec):
                continue  # nothing to write: no window
            opened = self._opened.setdefault(key, now)
            if now - opened < length:
                del view.derived.apps[key]
                waiting[key] = opened
        for key in [k for k in self._opened if k not in waiting]:
            del self._opened[key]  # written now (or gone): a later change opens a new window
        if not waiting:
            return None
        return max(0.0, min(opened + length for opened in waiting.values()) - now)
