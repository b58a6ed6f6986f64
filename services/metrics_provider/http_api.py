"""The metrics-provider's HTTP endpoints, as KLT's metrics-operator serves them on ``:9999`` (§6.3).

- ``GET /api/v1/metrics/{namespace}/{name}`` → ``{"namespace", "metric", "value"}``; 404 with a JSON error
  when there is no such KeptnMetric (a defined metric not fetched yet has the value ``""``, as in KLT).
- ``GET /metrics`` → one Prometheus gauge per KeptnMetric.
- ``GET /healthz`` → 200 while the service runs.

The routes read through ``MetricsView``, so this module knows nothing about NATS.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web

from services.metrics_provider.exposition import render

log = logging.getLogger(__name__)

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsView(Protocol):
    async def metric_value(self, namespace: str, name: str) -> str | None:
        """The stored value of a KeptnMetric (``""`` before its first fetch); None if it does not exist."""
        ...

    async def all_values(self) -> list[tuple[str, str, str]]:
        """``(namespace, name, value)`` of every KeptnMetric."""
        ...


_VIEW: web.AppKey[MetricsView] = web.AppKey("view", MetricsView)


async def _metric(request: web.Request) -> web.Response:
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    value = await request.app[_VIEW].metric_value(namespace, name)
    if value is None:
        return web.json_response(
            {"error": f"KeptnMetric '{name}' not found in namespace '{namespace}'"}, status=404
        )
    return web.json_response({"namespace": namespace, "metric": name, "value": value})


async def _exposition(request: web.Request) -> web.Response:
    text = render(await request.app[_VIEW].all_values())
    return web.Response(body=text.encode(), headers={"Content-Type": EXPOSITION_CONTENT_TYPE})


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app(view: MetricsView) -> web.Application:
    app = web.Application()
    app[_VIEW] = view
    app.router.add_get("/api/v1/metrics/{namespace}/{name}", _metric)
    app.router.add_get("/metrics", _exposition)
    app.router.add_get("/healthz", _healthz)
    return app


async def start_http(view: MetricsView, host: str, port: int) -> web.AppRunner:
    """Listen on ``host:port``; the caller calls ``runner.cleanup()`` on stop."""
    runner = web.AppRunner(build_app(view), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("metrics-provider HTTP listening on %s:%d", host, port)
    return runner
