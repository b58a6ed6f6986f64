"""Which OpenTelemetry spans a stored lifecycle object stands for (klt-facts §8.1): pure, no I/O.

KLT starts a span when a phase begins and ends it when the phase ends, keeping the open span in
memory. klt keeps nothing that matters in memory (DESIGN §2), so it derives every span from stored
state instead, once the object it describes has finished:

- a KeptnTask or KeptnEvaluation span when the item has an outcome;
- an AppVersion or WorkloadVersion root span, and one span per phase it reached, when the version is
  terminal.

Start and end times come from the stored timestamps (``startTime``/``endTime`` of versions and items,
``deploymentStartTime``); a phase starts where the previous one ended and ends with its last item
(AppDeploy: its last workload version; WorkloadDeploy: when the next phase's first item started, or
the version's end). Stored timestamps have second precision, so short phases show as zero-length
spans. Trace and span ids are derived from object uids (a hash), so the same object always yields the
same ids: a span sent again after a restart is the same span, never a second tree, and children find
their parents without any stored carrier (``status.phaseTraceIDs`` stays empty).

Tree: AppVersion root (its parent is the ``traceparent`` of ``spec.traceId``, if any) → app phase
spans (ShortName) → workload version root (under ``AppDeploy`` of the earliest AppVersion listing it,
else under its own ``spec.traceId``) → ``<workloadName>/<Phase>`` → task and evaluation spans.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.watcher.handlers import listed_workload_version_names, lists_workload
from shared.keptn.lifecycle import (
    ItemStatus,
    KeptnAppVersion,
    KeptnEvaluation,
    KeptnTask,
    KeptnWorkloadVersion,
)
from shared.keptn.states import KeptnState, Phase
from shared.phases import APP_TABLE, WORKLOAD_TABLE, PhaseKind, PhaseSpec, is_terminal

APP_TRACER = "keptn/lifecycle-operator/appversion"
WORKLOAD_TRACER = "keptn/lifecycle-operator/workloadversion"
"""KLT's tracer (instrumentation scope) names, so existing dashboards and queries find klt's spans."""

_UNREACHED = frozenset({KeptnState.PENDING, KeptnState.DEPRECATED})
"""Phase states that mean the phase never ran (KLT opens no span for them)."""
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SpanLink:
    trace_id: int
    span_id: int
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlannedSpan:
    """One finished span, with everything an exporter needs (all spans are of kind Consumer, §8.1)."""

    tracer: str
    name: str
    trace_id: int
    span_id: int
    parent_span_id: int | None
    start_ns: int
    end_ns: int
    ok: bool
    status_description: str
    attributes: dict[str, str] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()


class StateLookup(Protocol):
    """What the planner reads besides the object itself (the watcher's ``Index`` fits: its ``get``
    answers ``Stored(obj, revision)``, which ``_find`` unwraps; a plain object is fine too)."""

    def get(self, key: tuple[str, str, str]) -> Any | None: ...

    def app_versions_of(self, namespace: str, app: str) -> list[KeptnAppVersion]: ...


# --- ids and times ---------------------------------------------------------------------------------


def trace_id_of(uid: str) -> int:
    """The 128-bit trace id of a version's own tree (never 0, which OpenTelemetry treats as invalid)."""
    return int.from_bytes(hashlib.sha256(f"trace:{uid}".encode()).digest()[:16], "big") or 1


def span_id_of(uid: str, part: str = "") -> int:
    """The 64-bit span id of an object (``part``: a phase of it, empty for the object itself)."""
    return int.from_bytes(hashlib.sha256(f"span:{uid}:{part}".encode()).digest()[:8], "big") or 1


def parse_traceparent(value: str) -> tuple[int, int] | None:
    """(trace id, span id) of a W3C ``traceparent`` header value, or None if it is not one."""
    found = _TRACEPARENT.match(value.strip().lower())
    if found is None or set(found.group(1)) == {"0"} or set(found.group(2)) == {"0"}:
        return None
    return int(found.group(1), 16), int(found.group(2), 16)


def to_ns(timestamp: str | None) -> int | None:
    if not timestamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp()) * 1_000_000_000 + parsed.microsecond * 1000


def _find(lookup: StateLookup, kind: str, namespace: str, name: str) -> Any | None:
    found = lookup.get((kind, namespace, name))
    return getattr(found, "obj", found)


def _uid(obj: Any) -> str:
    return str(obj.metadata.uid or f"{obj.kind}/{obj.metadata.namespace}/{obj.metadata.name}")


# --- where a span hangs ----------------------------------------------------------------------------


def app_context(av: KeptnAppVersion) -> tuple[int, int | None]:
    """(trace id, parent span id) of an AppVersion root span."""
    carrier = parse_traceparent(av.spec.trace_id.get("traceparent", ""))
    return carrier if carrier is not None else (trace_id_of(_uid(av)), None)


def listing_app_version(kwv: KeptnWorkloadVersion, lookup: StateLookup) -> KeptnAppVersion | None:
    """The earliest AppVersion listing ``kwv`` (the earliest stays the same when newer ones appear)."""
    listing = [
        av for av in lookup.app_versions_of(kwv.metadata.namespace, kwv.spec.app) if lists_workload(av, kwv)
    ]
    if not listing:
        return None
    return min(listing, key=lambda av: (av.metadata.creation_timestamp or "", av.metadata.name))


def workload_context(kwv: KeptnWorkloadVersion, lookup: StateLookup) -> tuple[int, int | None]:
    """(trace id, parent span id) of a WorkloadVersion root span: the ``AppDeploy`` span of its
    AppVersion, else the ``traceparent`` of its ``spec.traceId``, else a tree of its own."""
    av = listing_app_version(kwv, lookup)
    if av is not None:
        return app_context(av)[0], span_id_of(_uid(av), Phase.APP_DEPLOY.value)
    carrier = parse_traceparent(kwv.spec.trace_id.get("traceparent", ""))
    return carrier if carrier is not None else (trace_id_of(_uid(kwv)), None)


def _version_trace(version: KeptnAppVersion | KeptnWorkloadVersion, lookup: StateLookup) -> int:
    if isinstance(version, KeptnAppVersion):
        return app_context(version)[0]
    return workload_context(version, lookup)[0]


def phase_span_name(version: KeptnAppVersion | KeptnWorkloadVersion, phase: Phase) -> str:
    """``AppDeploy`` for an app phase, ``<workloadName>/WorkloadDeploy`` for a workload phase (§8.1)."""
    if isinstance(version, KeptnAppVersion):
        return phase.value
    return f"{version.spec.workload_name}/{phase.value}"


# --- versions --------------------------------------------------------------------------------------


def plan_version(version: KeptnAppVersion | KeptnWorkloadVersion, lookup: StateLookup) -> list[PlannedSpan]:
    """The root span and phase spans of a terminal version; nothing while it is still moving."""
    if not is_terminal(version):
        return []
    uid = _uid(version)
    if isinstance(version, KeptnAppVersion):
        trace_id, parent = app_context(version)
        tracer, table = APP_TRACER, APP_TABLE
        started_text = "App Version Pre-Deployment Tasks started"
        attributes = {
            "keptn.deployment.app.name": version.spec.app_name,
            "keptn.deployment.app.version": version.spec.version,
            "keptn.deployment.app.namespace": version.metadata.namespace,
            **version.spec.metadata,
        }
    else:
        trace_id, parent = workload_context(version, lookup)
        tracer, table = WORKLOAD_TRACER, WORKLOAD_TABLE
        started_text = "WorkloadVersion Pre-Deployment Tasks started"
        attributes = {
            "keptn.deployment.app.name": version.spec.app,
            "keptn.deployment.workload.name": version.spec.workload_name,
            "keptn.deployment.workload.version": version.spec.version,
            "keptn.deployment.workload.namespace": version.metadata.namespace,
        }
    status = version.status
    start = to_ns(status.start_time) or to_ns(version.metadata.creation_timestamp) or 0
    phases = _phase_spans(version, table, lookup, trace_id, span_id_of(uid), start, tracer)
    end = to_ns(status.end_time) or max([p.end_ns for p in phases] + [start])
    ok = status.status == KeptnState.SUCCEEDED
    name = version.metadata.name
    root = PlannedSpan(
        tracer=tracer,
        name=name,
        trace_id=trace_id,
        span_id=span_id_of(uid),
        parent_span_id=parent,
        start_ns=start,
        end_ns=max(end, start),
        ok=ok,
        status_description=_outcome(status.status, "Finished"),
        attributes=attributes,
        events=(
            SpanEvent(started_text, start),
            SpanEvent(f"{name} has finished" if ok else f"{name} has failed", max(end, start)),
        ),
        links=tuple(_links(version.spec.span_links)) if isinstance(version, KeptnAppVersion) else (),
    )
    return [root, *phases]


def _outcome(state: KeptnState, success: str) -> str:
    if state == KeptnState.SUCCEEDED:
        return success
    return "Deprecated" if state == KeptnState.DEPRECATED else "Failed"


def _links(span_links: Iterable[str]) -> Iterable[SpanLink]:
    for value in span_links:
        carrier = parse_traceparent(value)
        if carrier is not None:
            yield SpanLink(carrier[0], carrier[1], {"opentracing.ref_type": "follows-from"})


def _phase_spans(
    version: KeptnAppVersion | KeptnWorkloadVersion,
    table: Sequence[PhaseSpec],
    lookup: StateLookup,
    trace_id: int,
    root_id: int,
    start: int,
    tracer: str,
) -> list[PlannedSpan]:
    status = version.status
    version_end = to_ns(status.end_time)
    reached = [spec for spec in table if getattr(status, spec.state_field) not in _UNREACHED]
    items = {spec.phase: _items(status, spec) for spec in reached}
    spans: list[PlannedSpan] = []
    cursor = start
    for position, spec in enumerate(reached):
        state: KeptnState = getattr(status, spec.state_field)
        begin = cursor
        ends = [t for t in (to_ns(item.end_time) for item in items[spec.phase]) if t is not None]
        if spec.kind == PhaseKind.DEPLOY:
            if isinstance(version, KeptnWorkloadVersion):
                begin = max(begin, to_ns(version.status.deployment_start_time) or begin)
            ends = _deploy_ends(version, lookup)
        if ends:
            end = max(ends)
        elif spec.kind == PhaseKind.DEPLOY:
            later = [
                t
                for later_spec in reached[position + 1 :]
                for t in (to_ns(item.start_time) for item in items[later_spec.phase])
                if t is not None
            ]
            end = min(later) if later else (version_end or begin)
        else:
            end = begin
        end = max(end, begin)
        if version_end is not None:
            end = min(end, max(version_end, begin))
        cursor = end
        succeeded = state == KeptnState.SUCCEEDED
        long_name = spec.phase.long_name
        events = [SpanEvent(f"{long_name} has succeeded" if succeeded else f"{long_name} has failed", end)]
        events.extend(_failure_events(version, items[spec.phase], spec, lookup))
        spans.append(
            PlannedSpan(
                tracer=tracer,
                name=phase_span_name(version, spec.phase),
                trace_id=trace_id,
                span_id=span_id_of(_uid(version), spec.phase.value),
                parent_span_id=root_id,
                start_ns=begin,
                end_ns=end,
                ok=succeeded,
                status_description=_outcome(state, "Succeeded"),
                events=tuple(events),
            )
        )
    return spans


def _items(status: Any, spec: PhaseSpec) -> list[ItemStatus]:
    return list(getattr(status, spec.items_field)) if spec.items_field else []


def _deploy_ends(version: KeptnAppVersion | KeptnWorkloadVersion, lookup: StateLookup) -> list[int]:
    """AppDeploy ends with the last of its workload versions; WorkloadDeploy has no stored end."""
    if not isinstance(version, KeptnAppVersion):
        return []
    ends = []
    for name in listed_workload_version_names(version):
        kwv = _find(lookup, "KeptnWorkloadVersion", version.metadata.namespace, name)
        end = to_ns(kwv.status.end_time) if kwv is not None else None
        if end is not None:
            ends.append(end)
    return ends


def _failure_events(
    version: KeptnAppVersion | KeptnWorkloadVersion,
    items: list[ItemStatus],
    spec: PhaseSpec,
    lookup: StateLookup,
) -> list[SpanEvent]:
    """KLT's span events for the failed items of a phase (§8.1)."""
    events = []
    namespace = version.metadata.namespace
    for item in items:
        if item.status != KeptnState.FAILED or not item.name:
            continue
        when = to_ns(item.end_time) or 0
        if spec.kind == PhaseKind.TASKS:
            task = _find(lookup, "KeptnTask", namespace, item.name)
            reason = task.status.message if task is not None else ""
            events.append(SpanEvent(f"task '{item.definition_name}' failed with reason: '{reason}'", when))
        elif spec.kind == PhaseKind.EVALUATIONS:
            evaluation = _find(lookup, "KeptnEvaluation", namespace, item.name)
            for metric, result in (
                evaluation.status.evaluation_status.items() if evaluation is not None else ()
            ):
                if result.status == KeptnState.FAILED:
                    text = (
                        f"evaluation of '{metric}' failed with value: '{result.value}' "
                        f"and reason: '{result.message}'"
                    )
                    events.append(SpanEvent(text, when))
    return events


# --- tasks and evaluations -------------------------------------------------------------------------


def plan_item(item: KeptnTask | KeptnEvaluation, lookup: StateLookup) -> PlannedSpan | None:
    """The span of a finished task or evaluation, under its phase span; None while it runs or when its
    parent version is not known (yet)."""
    if isinstance(item, KeptnTask):
        state, start_text, end_text = item.status.status, item.status.start_time, item.status.end_time
        context = item.spec.context
        attributes = {
            "keptn.deployment.app.name": context.app_name,
            "keptn.deployment.app.version": context.app_version,
            "keptn.deployment.workload.name": context.workload_name,
            "keptn.deployment.workload.version": context.workload_version,
            "keptn.deployment.task.name": item.metadata.name,
            "keptn.deployment.task.type": item.spec.check_type.value,
        }
    else:
        status = item.status
        state, start_text, end_text = status.overall_status, status.start_time, status.end_time
        spec = item.spec
        attributes = {
            "keptn.deployment.app.name": spec.app_name,
            "keptn.deployment.app.version": spec.app_version,
            "keptn.deployment.workload.name": spec.workload,
            "keptn.deployment.workload.version": spec.workload_version,
            "keptn.deployment.evaluation.name": item.metadata.name,
            "keptn.deployment.evaluation.type": spec.check_type.value,
        }
    if state not in (KeptnState.SUCCEEDED, KeptnState.FAILED):
        return None
    parent = _parent_version(item, lookup)
    if parent is None:
        return None
    table = APP_TABLE if isinstance(parent, KeptnAppVersion) else WORKLOAD_TABLE
    phase = next((spec.phase for spec in table if spec.check_type == item.spec.check_type), None)
    if phase is None:
        return None
    end = to_ns(end_text) or to_ns(item.metadata.creation_timestamp) or 0
    start = min(to_ns(start_text) or end, end)
    ok = state == KeptnState.SUCCEEDED
    name = item.metadata.name
    return PlannedSpan(
        tracer=APP_TRACER if isinstance(parent, KeptnAppVersion) else WORKLOAD_TRACER,
        name=name,
        trace_id=_version_trace(parent, lookup),
        span_id=span_id_of(_uid(item)),
        parent_span_id=span_id_of(_uid(parent), phase.value),
        start_ns=start,
        end_ns=end,
        ok=ok,
        status_description="Succeeded" if ok else "Failed",
        attributes={key: value for key, value in attributes.items() if value},
        events=(SpanEvent(f"{name} has finished" if ok else f"{name} has failed", end),),
    )


def _parent_version(
    item: KeptnTask | KeptnEvaluation, lookup: StateLookup
) -> KeptnAppVersion | KeptnWorkloadVersion | None:
    for ref in item.metadata.owner_references:
        if ref.kind in ("KeptnAppVersion", "KeptnWorkloadVersion"):
            obj = _find(lookup, ref.kind, item.metadata.namespace, ref.name)
            if isinstance(obj, KeptnAppVersion | KeptnWorkloadVersion):
                return obj
    return None


def plan(obj: Any, lookup: StateLookup) -> list[PlannedSpan]:
    """Every span ``obj`` (any stored lifecycle object) stands for now; empty while it is unfinished."""
    if isinstance(obj, KeptnAppVersion | KeptnWorkloadVersion):
        return plan_version(obj, lookup)
    if isinstance(obj, KeptnTask | KeptnEvaluation):
        span = plan_item(obj, lookup)
        return [] if span is None else [span]
    return []
