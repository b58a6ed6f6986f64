"""``python -m services.watcher``: settings from the environment, logging, run until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from services.watcher.config import watcher_config
from services.watcher.service import serve
from shared.manifests import ManifestErrors
from shared.runtime.logs import setup_logging
from shared.runtime.serving import install_stop_signals
from shared.runtime.settings import SettingsError, common_settings


async def main() -> None:
    common = common_settings()
    config = watcher_config()
    setup_logging(common.log_level, common.log_json)
    stop = asyncio.Event()
    install_stop_signals(stop)
    await serve(common, config, stop)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (SettingsError, ManifestErrors) as exc:
        logging.getLogger("services.watcher").error("%s", exc)
        sys.exit(2)
