"""``python -m services.evaluator``: run the evaluator until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio

from services.evaluator.config import evaluator_config
from services.evaluator.service import serve
from shared.runtime.logs import setup_logging
from shared.runtime.serving import install_stop_signals
from shared.runtime.settings import common_settings


async def main() -> None:
    common = common_settings()
    config = evaluator_config()
    setup_logging(common.log_level, common.log_json)
    stop = asyncio.Event()
    install_stop_signals(stop)
    await serve(common, config, stop)


if __name__ == "__main__":
    asyncio.run(main())
