"""The four services in one process, for ``klt run`` and ``klt up``.

Each service still connects to NATS on its own and shares nothing with the others but the contracts in
``shared``: running them together is a deployment choice, not a coupling (each also runs alone as
``python -m services.<name>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from services.evaluator.config import evaluator_config
from services.evaluator.service import serve as serve_evaluator
from services.metrics_provider.config import metrics_provider_config
from services.metrics_provider.service import serve as serve_metrics_provider
from services.task_runner.config import task_runner_config
from services.task_runner.service import serve as serve_task_runner
from services.watcher.config import watcher_config
from services.watcher.service import serve as serve_watcher
from shared.runtime.settings import CommonSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackOptions:
    """What the CLI tells the services beyond the shared settings."""

    deploy_command: str | None = None
    secret_paths: tuple[str, ...] = ()
    default_namespace: str | None = None
    task_concurrency: int = 4
    metrics_http_port: int = 9999


class ServiceCrashedError(RuntimeError):
    """A service ended on its own while the stack was meant to run."""


@contextlib.asynccontextmanager
async def running_services(settings: CommonSettings, options: StackOptions) -> AsyncIterator[None]:
    """Run the watcher, task-runner, evaluator and metrics-provider until the context exits."""
    stop = asyncio.Event()
    services: dict[str, Coroutine[Any, Any, None]] = {
        "watcher": serve_watcher(
            settings,
            watcher_config(
                deploy_command=options.deploy_command, default_namespace=options.default_namespace
            ),
            stop,
        ),
        "task-runner": serve_task_runner(
            settings,
            task_runner_config(
                concurrency=options.task_concurrency,
                secret_paths=options.secret_paths,
                default_namespace=options.default_namespace,
            ),
            stop,
        ),
        "evaluator": serve_evaluator(settings, evaluator_config(), stop),
        "metrics-provider": serve_metrics_provider(
            settings,
            metrics_provider_config(http_port=options.metrics_http_port, secret_paths=options.secret_paths),
            stop,
        ),
    }
    tasks = {name: asyncio.create_task(coro, name=f"klt-{name}") for name, coro in services.items()}
    crashed: list[str] = []

    def _watch(task: asyncio.Task[None]) -> None:
        if not stop.is_set() and not task.cancelled():
            crashed.append(task.get_name())
            error = task.exception()
            log.error("Service %s stopped unexpectedly: %s", task.get_name(), error or "it returned")

    for task in tasks.values():
        task.add_done_callback(_watch)
    try:
        yield
    finally:
        stop.set()
        _, pending = await asyncio.wait(tasks.values(), timeout=15)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    if crashed:
        raise ServiceCrashedError(f"service(s) stopped unexpectedly: {', '.join(crashed)}")
