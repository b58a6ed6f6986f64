"""``klt get``, ``describe``, ``events`` and ``logs``: reading a running stack's buckets and streams."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, TextIO

import msgspec
import nats.errors
import yaml
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from klt.objects import Snapshot, decode_state_entry
from klt.tables import (
    APP_VERSIONS,
    EVALUATIONS,
    TASKS,
    WORKLOAD_VERSIONS,
    Columns,
    Table,
    metrics_table,
)
from shared.keptn.lifecycle import KeptnAppVersion, KeptnEvaluation, KeptnTask, KeptnWorkloadVersion
from shared.keptn.resources import KeptnMetric
from shared.messages import LifecycleEvent
from shared.runtime.natsio import connect, get_entry, list_entries
from shared.runtime.settings import CommonSettings
from shared.subjects import Names, kind_prefix, object_key, token, untoken

RESOURCE_ALIASES: dict[str, str] = {
    "app": "apps",
    "apps": "apps",
    "keptnapp": "apps",
    "keptnapps": "apps",
    "appversion": "appversions",
    "appversions": "appversions",
    "keptnappversion": "appversions",
    "keptnappversions": "appversions",
    "kav": "appversions",
    "workloadversion": "workloadversions",
    "workloadversions": "workloadversions",
    "keptnworkloadversion": "workloadversions",
    "keptnworkloadversions": "workloadversions",
    "kwv": "workloadversions",
    "task": "tasks",
    "tasks": "tasks",
    "keptntask": "tasks",
    "keptntasks": "tasks",
    "evaluation": "evaluations",
    "evaluations": "evaluations",
    "keptnevaluation": "evaluations",
    "keptnevaluations": "evaluations",
    "ke": "evaluations",
    "metric": "metrics",
    "metrics": "metrics",
    "keptnmetric": "metrics",
    "keptnmetrics": "metrics",
}

KIND_OF_RESOURCE = {
    "appversions": "KeptnAppVersion",
    "workloadversions": "KeptnWorkloadVersion",
    "tasks": "KeptnTask",
    "evaluations": "KeptnEvaluation",
}


class NotFoundError(Exception):
    """The object asked for is not in the stack's state."""


@contextlib.asynccontextmanager
async def session(settings: CommonSettings) -> AsyncIterator[Client]:
    try:
        nc = await connect(settings, "klt-cli")
    except Exception as exc:  # nats raises several unrelated types when nothing listens
        raise ConnectionError(
            f"cannot reach NATS at {settings.nats_url} (is `klt up` running? set --nats-url or KLT_NATS_URL)"
        ) from exc
    try:
        yield nc
    finally:
        await nc.drain()


async def load_snapshot(nc: Client, names: Names, namespace: str | None) -> Snapshot:
    kv = await nc.jetstream().key_value(names.state_bucket)
    snapshot = Snapshot()
    for key, entry in (await list_entries(kv, ">")).items():
        obj = decode_state_entry(key, entry.value)
        if obj is not None and (namespace is None or obj.metadata.namespace == namespace):
            snapshot.add(obj)
    return snapshot


async def get(
    settings: CommonSettings, resource: str, namespace: str | None, output: str, out: TextIO
) -> None:
    names = Names(settings.prefix)
    wide = output == "wide"
    async with session(settings) as nc:
        if resource == "metrics":
            out.write(_format(await _metric_rows(nc, names, namespace), output, metrics=True) + "\n")
            return
        if resource == "apps":
            kv = await nc.jetstream().key_value(names.state_bucket)
            apps = [
                msgspec.json.decode(entry.value)
                for entry in (await list_entries(kv, kind_prefix("KeptnApp"))).values()
            ]
            apps = [a for a in apps if namespace is None or a["metadata"].get("namespace") == namespace]
            if output in {"json", "yaml"}:
                out.write(_dump({"apiVersion": "v1", "kind": "List", "items": apps}, output) + "\n")
                return
            rows = [
                [a["metadata"].get("namespace", ""), a["metadata"]["name"], a["spec"].get("version", "")]
                for a in sorted(
                    apps, key=lambda a: (a["metadata"].get("namespace", ""), a["metadata"]["name"])
                )
            ]
            out.write(Table(["NAMESPACE", "NAME", "VERSION"], rows).render() + "\n")
            return
        snapshot = await load_snapshot(nc, names, namespace)
    kinds: dict[str, tuple[type[Any], Columns[Any]]] = {
        "appversions": (KeptnAppVersion, APP_VERSIONS),
        "workloadversions": (KeptnWorkloadVersion, WORKLOAD_VERSIONS),
        "tasks": (KeptnTask, TASKS),
        "evaluations": (KeptnEvaluation, EVALUATIONS),
    }
    kind, columns = kinds[resource]
    objects = snapshot.of_kind(kind)
    table = columns.table(objects, wide)
    if output in {"json", "yaml"}:
        items = [msgspec.to_builtins(obj) for obj in objects]
        out.write(_dump({"apiVersion": "v1", "kind": "List", "items": items}, output) + "\n")
    else:
        out.write(table.render() + "\n")


async def _metric_rows(
    nc: Client, names: Names, namespace: str | None
) -> list[tuple[str, str, str, str, str]]:
    js = nc.jetstream()
    desired = await js.key_value(names.desired_bucket)
    values = await js.key_value(names.metrics_bucket)
    rows = []
    for entry in (await list_entries(desired, kind_prefix("KeptnMetric", namespace))).values():
        metric = msgspec.json.decode(entry.value, type=KeptnMetric)
        stored = await get_entry(
            values, object_key("KeptnMetric", metric.metadata.namespace, metric.metadata.name)
        )
        value = ""
        if stored is not None:
            value = str(msgspec.json.decode(stored.value).get("value", ""))
        rows.append(
            (
                metric.metadata.namespace,
                metric.metadata.name,
                metric.spec.provider.name,
                metric.spec.query,
                value,
            )
        )
    return sorted(rows)


def _format(rows: list[tuple[str, str, str, str, str]], output: str, metrics: bool) -> str:
    if output in {"json", "yaml"}:
        items = [
            dict(zip(("namespace", "name", "provider", "query", "value"), row, strict=True)) for row in rows
        ]
        return _dump({"apiVersion": "v1", "kind": "List", "items": items}, output)
    return metrics_table(rows).render()


def _dump(data: object, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False).rstrip()


async def find_namespace(nc: Client, names: Names, kind: str, name: str, namespace: str | None) -> str:
    """The namespace of the object called ``name``: the given one, or the only one that has such an object."""
    if namespace is not None:
        return namespace
    kv = await nc.jetstream().key_value(names.state_bucket)
    found = sorted(key.split(".")[1] for key in await list_entries(kv, f"{kind.lower()}.*.{token(name)}"))
    if not found:
        raise NotFoundError(f'{kind} "{name}" not found in any namespace')
    if len(found) > 1:
        raise NotFoundError(f'{kind} "{name}" exists in namespaces {", ".join(found)}: choose one with -n')
    return untoken(found[0])


async def describe(
    settings: CommonSettings, resource: str, name: str, namespace: str | None, out: TextIO
) -> None:
    """The object as YAML, followed by the lifecycle events recorded about it."""
    names = Names(settings.prefix)
    kind = KIND_OF_RESOURCE.get(resource)
    if kind is None:
        raise NotFoundError(
            f"describe supports appversions, workloadversions, tasks and evaluations, not {resource}"
        )
    async with session(settings) as nc:
        namespace = await find_namespace(nc, names, kind, name, namespace)
        kv = await nc.jetstream().key_value(names.state_bucket)
        entry = await get_entry(kv, object_key(kind, namespace, name))
        if entry is None:
            raise NotFoundError(f'{kind} "{name}" not found in namespace "{namespace}"')
        out.write(yaml.safe_dump(msgspec.json.decode(entry.value), sort_keys=False))
        events = [e async for e in read_events(nc, names, follow=False) if e.name == name and e.kind == kind]
    out.write("Events:\n")
    if not events:
        out.write("  <none>\n")
    for event in events:
        out.write(f"  {event.timestamp}  {event.event_type:7}  {event.reason:40}  {event.message}\n")


async def read_events(nc: Client, names: Names, follow: bool) -> AsyncIterator[LifecycleEvent]:
    """Every lifecycle event on the events stream, oldest first; with ``follow``, then new ones too."""
    js = nc.jetstream()
    subject = f"{names.prefix}.evt.lifecycle.>"
    sub = await js.subscribe(
        subject,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    decoder = msgspec.json.Decoder(LifecycleEvent)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5 if not follow else 3600)
            except (nats.errors.TimeoutError, TimeoutError):
                if follow:
                    continue
                return
            try:
                yield decoder.decode(msg.data)
            except msgspec.ValidationError:
                continue
            if not follow and msg.metadata.num_pending == 0:
                return
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def events(settings: CommonSettings, namespace: str | None, follow: bool, out: TextIO) -> None:
    names = Names(settings.prefix)
    async with session(settings) as nc:
        async for event in read_events(nc, names, follow):
            if namespace is not None and event.namespace != namespace:
                continue
            out.write(
                f"{event.timestamp}  {event.event_type:7}  {event.reason:40}  "
                f"{event.kind}/{event.name}  {event.message}\n"
            )
            out.flush()


async def logs(settings: CommonSettings, task: str, namespace: str | None, out: TextIO) -> None:
    """The stored output of a task's runs, oldest run first."""
    names = Names(settings.prefix)
    async with session(settings) as nc:
        namespace = await find_namespace(nc, names, "KeptnTask", task, namespace)
        kv = await nc.jetstream().key_value(names.task_logs_bucket)
        entry = await get_entry(kv, object_key("KeptnTask", namespace, task))
    if entry is None:
        raise NotFoundError(f'no output recorded for task "{task}" in namespace "{namespace}"')
    out.write(render_task_logs(msgspec.json.decode(entry.value)))


def render_task_logs(record: dict[str, Any]) -> str:
    """A task's runs as the user reads them: a header, then each attempt's outcome and output."""
    lines = [
        f"Task {record.get('name')} (definition {record.get('taskDefinition')}, "
        f"{record.get('runtime') or 'runtime ?'}): {record.get('status')}"
        + (f" - {record.get('reason')}: {record.get('message')}" if record.get("reason") else "")
    ]
    for attempt in record.get("attempts", []):
        exit_code = attempt.get("exitCode")
        lines.append(
            f"--- run {attempt.get('attempt')} started {attempt.get('startTime')}: {attempt.get('outcome')}"
            + (f" (exit code {exit_code})" if exit_code is not None else "")
        )
        for stream in ("stdout", "stderr"):
            text = attempt.get(stream) or ""
            if not text:
                continue
            cut = " (only the end was kept)" if attempt.get(f"{stream}Truncated") else ""
            lines.append(f"{stream}{cut}:")
            lines.extend("  " + line for line in text.rstrip("\n").splitlines())
    return "\n".join(lines) + "\n"
