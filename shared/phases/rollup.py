"""How a phase's state is computed from its items, exactly as KLT's ``GetOverallState`` (§3.3)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.keptn.states import KeptnState


def rollup(items: Iterable[KeptnState | str], total: int) -> KeptnState:
    """The state of a phase whose definitions list has ``total`` names and whose items are ``items``.

    KLT counts items by state, ``""`` as Pending, and does not count ``Warning`` at all; then, in order:
    any Failed or Deprecated → Failed; any Progressing → Progressing; any Pending → Pending; any
    Unknown → Unknown; counted items != total → Pending (a definition that was never found never gets
    an item, so its phase waits forever); otherwise Succeeded. With ``total == 0`` a phase passes.
    """
    failed = progressing = pending = unknown = counted = 0
    for raw in items:
        state = raw or KeptnState.PENDING
        if state == KeptnState.WARNING:
            continue
        counted += 1
        if state in (KeptnState.FAILED, KeptnState.DEPRECATED):
            failed += 1
        elif state == KeptnState.PROGRESSING:
            progressing += 1
        elif state == KeptnState.PENDING:
            pending += 1
        elif state != KeptnState.SUCCEEDED:
            unknown += 1
    if failed:
        return KeptnState.FAILED
    if progressing:
        return KeptnState.PROGRESSING
    if pending:
        return KeptnState.PENDING
    if unknown:
        return KeptnState.UNKNOWN
    if counted != total:
        return KeptnState.PENDING
    return KeptnState.SUCCEEDED


def unblocked(state: KeptnState, block_deployment: bool) -> KeptnState:
    """KLT's ``GetOverallStateBlockedDeployment``: in non-blocking mode a Failed phase is a Warning (§3.3)."""
    if state == KeptnState.FAILED and not block_deployment:
        return KeptnState.WARNING
    return state
