"""``python -m services.task_runner [--concurrency N]``: run the task-runner until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio

from services.task_runner.config import TaskRunnerConfig, task_runner_config
from services.task_runner.service import serve
from shared.runtime.binaries import BinaryNotFoundError
from shared.runtime.logs import setup_logging
from shared.runtime.serving import install_stop_signals
from shared.runtime.settings import CommonSettings, SettingsError, common_settings


async def _main(common: CommonSettings, config: TaskRunnerConfig) -> None:
    stop = asyncio.Event()
    install_stop_signals(stop)
    await serve(common, config, stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.task_runner", description=__doc__)
    parser.add_argument(
        "--concurrency", type=int, help="tasks run at once (KLT_TASK_RUNNER_CONCURRENCY, default 4)"
    )
    args = parser.parse_args(argv)
    try:
        common = common_settings()
        config = task_runner_config(concurrency=args.concurrency)
    except SettingsError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    setup_logging(common.log_level, common.log_json)
    try:
        asyncio.run(_main(common, config))
    except BinaryNotFoundError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")


if __name__ == "__main__":
    main()
