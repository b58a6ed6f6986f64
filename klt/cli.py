"""The ``klt`` command line: ``run`` (one lifecycle, as a CI gate), ``up`` (the stack, long running),
``apply``, ``get``, ``describe``, ``events`` and ``logs`` (against a running stack)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from klt import applying, inspecting, running, serving_up
from shared.runtime.logs import setup_logging
from shared.runtime.settings import CommonSettings, SettingsError, common_settings

EXIT_ERROR = 2


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klt",
        description="Release-lifecycle orchestration compatible with the Keptn Lifecycle Toolkit.",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("KLT_LOG_LEVEL"),
        help="services' log level (run: ERROR, as its own report says what happened; others: WARNING)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the lifecycle of the workloads in PATHs once and exit (0 succeeded, 1 failed, 2 bad input)",
    )
    run.add_argument("paths", nargs="+", metavar="PATH", help="manifest files or folders")
    run.add_argument("--timeout", type=_positive_float, default=600.0, help="give up after S seconds (600)")
    run.add_argument("--output", "-o", choices=["text", "json"], default="text")
    run.add_argument("--nats-url", help="use this NATS server instead of starting an embedded one")
    run.add_argument("--data-dir", help="store the embedded NATS server's data here (default: a temp folder)")
    run.add_argument("--deploy-command", help="shell command that performs each workload's release step")
    run.add_argument("--namespace", "-n", help="namespace for manifests that name none")
    run.add_argument("--concurrency", type=_positive_int, default=4, help="tasks run at once (4)")
    live = run.add_mutually_exclusive_group()
    live.add_argument("--live", dest="live", action="store_true", default=None, help="live table view")
    live.add_argument("--no-live", dest="live", action="store_false", help="one line per change")

    up = commands.add_parser("up", help="run NATS (embedded unless --nats-url) and all four services")
    _add_connection(up)
    up.add_argument("--port", type=int, default=4222, help="port of the embedded NATS server (4222)")
    up.add_argument("--data-dir", help="embedded NATS data folder (default: ~/.local/share/klt/nats)")
    up.add_argument("--watch", nargs="*", default=[], metavar="PATH", help="keep these manifests applied")
    up.add_argument("--secrets", nargs="*", default=[], metavar="PATH", help="Secret manifests for tasks")
    up.add_argument("--deploy-command", help="shell command that performs each workload's release step")
    up.add_argument("--concurrency", type=_positive_int, default=4, help="tasks run at once (4)")
    up.add_argument("--metrics-port", type=int, default=9999, help="metrics HTTP port (9999; 0 disables)")

    apply = commands.add_parser("apply", help="store manifests as desired state in a running stack")
    _add_connection(apply)
    apply.add_argument("-f", "--filename", action="append", required=True, metavar="PATH")
    apply.add_argument("--namespace", "-n", help="namespace for manifests that name none")

    get = commands.add_parser(
        "get", help="list apps, appversions, workloadversions, tasks, evaluations, metrics"
    )
    _add_connection(get)
    get.add_argument("resource", help="apps | appversions | workloadversions | tasks | evaluations | metrics")
    get.add_argument("--namespace", "-n", help="only this namespace (default: all)")
    get.add_argument("--output", "-o", choices=["table", "wide", "json", "yaml"], default="table")

    describe = commands.add_parser("describe", help="show one object and its events")
    _add_connection(describe)
    describe.add_argument("resource")
    describe.add_argument("name")
    describe.add_argument("--namespace", "-n")

    events = commands.add_parser("events", help="show lifecycle events (-f to follow)")
    _add_connection(events)
    events.add_argument("--follow", "-f", action="store_true")
    events.add_argument("--namespace", "-n")

    logs = commands.add_parser("logs", help="show the output of a task's runs")
    _add_connection(logs)
    logs.add_argument("task")
    logs.add_argument("--namespace", "-n")
    return parser


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nats-url", help="NATS server of the stack (default: $KLT_NATS_URL or nats://127.0.0.1:4222)"
    )
    parser.add_argument("--prefix", help="klt installation prefix (default: $KLT_PREFIX or klt)")


def _settings(args: argparse.Namespace) -> CommonSettings:
    return common_settings(nats_url=getattr(args, "nats_url", None), prefix=getattr(args, "prefix", None))


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(dispatch(argv))


def dispatch(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or ("ERROR" if args.command == "run" else "WARNING"))
    try:
        return asyncio.run(_dispatch(args))
    except SettingsError as exc:
        sys.stderr.write(f"klt: {exc}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        request = running.RunRequest(
            paths=args.paths,
            timeout_s=args.timeout,
            output=args.output,
            nats_url=args.nats_url,
            data_dir=args.data_dir,
            deploy_command=args.deploy_command,
            namespace=args.namespace,
            task_concurrency=args.concurrency,
            live=args.live,
        )
        return await running.run(request)
    if args.command == "up":
        return await serving_up.up(args)
    settings = _settings(args)
    try:
        if args.command == "apply":
            return await applying.apply(settings, args.filename, args.namespace)
        if args.command == "get":
            resource = inspecting.RESOURCE_ALIASES.get(args.resource.lower())
            if resource is None:
                sys.stderr.write(f'klt get: unknown resource "{args.resource}"\n')
                return EXIT_ERROR
            await inspecting.get(settings, resource, args.namespace, args.output, sys.stdout)
        elif args.command == "describe":
            resource = inspecting.RESOURCE_ALIASES.get(args.resource.lower(), args.resource)
            await inspecting.describe(settings, resource, args.name, args.namespace, sys.stdout)
        elif args.command == "events":
            await inspecting.events(settings, args.namespace, args.follow, sys.stdout)
        elif args.command == "logs":
            await inspecting.logs(settings, args.task, args.namespace, sys.stdout)
    except (inspecting.NotFoundError, ConnectionError) as exc:
        sys.stderr.write(f"klt {args.command}: {exc}\n")
        return 1
    return 0
