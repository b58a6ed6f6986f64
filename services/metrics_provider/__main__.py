"""``python -m services.metrics_provider``: run the metrics-provider until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio

from services.metrics_provider.config import metrics_provider_config
from services.metrics_provider.service import serve
from shared.runtime.logs import setup_logging
from shared.runtime.serving import install_stop_signals
from shared.runtime.settings import common_settings


async def main() -> None:
    common = common_settings()
    config = metrics_provider_config()
    setup_logging(common.log_level, common.log_json)
    stop = asyncio.Event()
    install_stop_signals(stop)
    await serve(common, config, stop)


if __name__ == "__main__":
    asyncio.run(main())
