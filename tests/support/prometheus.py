"""A real Prometheus for tests and the demo: an exporter plus the Debian ``prometheus`` binary.

``running_prometheus()`` starts

- an exporter (an aiohttp server in this process) serving the Prometheus text format with
  ``kube_node_status_capacity{node="<hostname>",resource="cpu",unit="core"} <os.cpu_count()>`` — the
  kube-state-metrics series, so KLT's and the seed's query ``sum(kube_node_status_capacity{resource='cpu'})``
  works unchanged — and any extra gauges the caller sets;
- ``/usr/bin/prometheus`` on a free loopback port, scraping the exporter every second, with a temporary
  configuration and TSDB folder;

waits until Prometheus answers a query for the exporter's series with a sample (its first scrape takes a
few seconds), and stops both on exit. It imports nothing from pytest, so the demo can use it too::

    async with running_prometheus({"queue_length": 3}) as prom:
        prom.url                   # e.g. http://127.0.0.1:41234, the KeptnMetricsProvider targetServer
        prom.set_value("queue_length", 0)
        await prom.wait_for_value("queue_length", 0)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

PROMETHEUS_BINARY = "/usr/bin/prometheus"
CAPACITY_METRIC = "kube_node_status_capacity"
CPU_QUERY = "sum(kube_node_status_capacity{resource='cpu'})"
"""The query of the seed's and KLT's example KeptnMetric."""

_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?$")


class PrometheusNotAvailableError(RuntimeError):
    """The Prometheus binary is missing or did not come up."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _format(value: float) -> str:
    return repr(float(value)) if value == value else "NaN"


class CapacityExporter:
    """The exporter's state: the node capacity series and the extra gauges (``name`` or ``name{labels}``)."""

    def __init__(self, extra_series: Mapping[str, float] | None = None) -> None:
        self.cpu_count = os.cpu_count() or 1
        self.node = socket.gethostname()
        self._extra: dict[str, float] = {}
        for series, value in (extra_series or {}).items():
            self.set_value(series, value)

    def set_value(self, series: str, value: float) -> None:
        """Set (or add) a gauge; ``series`` is a metric name, optionally with labels: ``q{zone="a"}``."""
        if not _SERIES.match(series):
            raise ValueError(f"{series!r} is not a Prometheus series (name or name{{labels}})")
        self._extra[series] = float(value)

    def remove(self, series: str) -> None:
        self._extra.pop(series, None)

    def render(self) -> str:
        lines = [
            f"# HELP {CAPACITY_METRIC} The capacity for different resources of a node.",
            f"# TYPE {CAPACITY_METRIC} gauge",
            f'{CAPACITY_METRIC}{{node="{self.node}",resource="cpu",unit="core"}} {self.cpu_count}',
        ]
        typed: set[str] = set()
        for series, value in sorted(self._extra.items()):
            match = _SERIES.match(series)
            assert match is not None
            name = match.group(1)
            if name not in typed:
                typed.add(name)
                lines.append(f"# TYPE {name} gauge")
            lines.append(f"{series} {_format(value)}")
        return "\n".join(lines) + "\n"

    async def _serve_metrics(self, _: web.Request) -> web.Response:
        return web.Response(
            body=self.render().encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        return app


@dataclass
class PrometheusHandle:
    """A running Prometheus: ``url`` is what a KeptnMetricsProvider's ``targetServer`` points at."""

    url: str
    exporter_url: str
    exporter: CapacityExporter
    data_dir: Path
    _session: aiohttp.ClientSession = field(repr=False)

    @property
    def cpu_count(self) -> int:
        return self.exporter.cpu_count

    def set_value(self, series: str, value: float) -> None:
        """Change (or add) an extra gauge; Prometheus sees it at its next scrape (within ~1 s)."""
        self.exporter.set_value(series, value)

    def remove(self, series: str) -> None:
        self.exporter.remove(series)

    async def query(self, promql: str) -> list[dict[str, object]]:
        """Run an instant query; returns ``data.result`` (raises on an API error)."""
        async with self._session.post(f"{self.url}/api/v1/query", data={"query": promql}) as response:
            body = await response.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus query {promql!r} failed: {body.get('error')}")
        result: list[dict[str, object]] = body["data"]["result"]
        return result

    async def wait_for_value(self, promql: str, value: float, timeout_s: float = 15.0) -> None:
        """Wait until ``promql`` yields exactly one sample equal to ``value`` (e.g. after ``set_value``)."""
        deadline = time.monotonic() + timeout_s
        seen: object = None
        while time.monotonic() < deadline:
            result = await self.query(promql)
            if len(result) == 1:
                sample = result[0].get("value")
                seen = sample[1] if isinstance(sample, list) else sample
                if isinstance(seen, str) and float(seen) == float(value):
                    return
            await asyncio.sleep(0.2)
        raise TimeoutError(
            f"Prometheus never showed {promql} == {value} within {timeout_s:.0f}s (last: {seen!r})"
        )

    async def wait_for_series(self, promql: str, timeout_s: float = 30.0) -> None:
        """Wait until ``promql`` returns at least one sample."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, RuntimeError):
                if await self.query(promql):
                    return
            await asyncio.sleep(0.25)
        raise TimeoutError(f"Prometheus returned no sample for {promql} within {timeout_s:.0f}s")


def _config(exporter_port: int) -> str:
    return (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: capacity-exporter\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
    )


@contextlib.asynccontextmanager
async def running_prometheus(
    extra_series: dict[str, float] | None = None,
    *,
    binary: str = PROMETHEUS_BINARY,
    startup_timeout_s: float = 60.0,
) -> AsyncIterator[PrometheusHandle]:
    """Start the exporter and Prometheus; yield a ``PrometheusHandle``; stop both on exit."""
    path = binary if Path(binary).is_file() else shutil.which("prometheus")
    if not path:
        raise PrometheusNotAvailableError(
            f"the Prometheus binary was not found at {binary} or on PATH; "
            "install it (apt-get install prometheus)"
        )
    exporter = CapacityExporter(extra_series)
    exporter_port = _free_port()
    runner = web.AppRunner(exporter.app(), access_log=None)
    await runner.setup()
    process: asyncio.subprocess.Process | None = None
    with tempfile.TemporaryDirectory(prefix="klt-prometheus-") as tmp:
        data_dir = Path(tmp)
        try:
            await web.TCPSite(runner, "127.0.0.1", exporter_port).start()
            (data_dir / "prometheus.yml").write_text(_config(exporter_port))
            port = _free_port()
            log_file = (data_dir / "prometheus.log").open("wb")
            try:
                process = await asyncio.create_subprocess_exec(
                    path,
                    f"--config.file={data_dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={data_dir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                    stdout=log_file,
                    stderr=log_file,
                    stdin=asyncio.subprocess.DEVNULL,
                )
            finally:
                log_file.close()
            async with aiohttp.ClientSession() as session:
                handle = PrometheusHandle(
                    url=f"http://127.0.0.1:{port}",
                    exporter_url=f"http://127.0.0.1:{exporter_port}/metrics",
                    exporter=exporter,
                    data_dir=data_dir,
                    _session=session,
                )
                series = exporter_series(extra_series)
                await _wait_ready(handle, process, data_dir, startup_timeout_s, series)
                yield handle
        finally:
            if process is not None and process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), timeout=10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            await runner.cleanup()


def exporter_series(extra_series: Mapping[str, float] | None) -> list[str]:
    return [CAPACITY_METRIC, *(extra_series or {})]


async def _wait_ready(
    handle: PrometheusHandle,
    process: asyncio.subprocess.Process,
    data_dir: Path,
    timeout_s: float,
    series: list[str],
) -> None:
    deadline = time.monotonic() + timeout_s
    for promql in series:
        while True:
            if process.returncode is not None:
                log_text = (data_dir / "prometheus.log").read_text(errors="replace")[-2000:]
                raise PrometheusNotAvailableError(
                    f"prometheus exited with status {process.returncode} while starting:\n{log_text}"
                )
            with contextlib.suppress(aiohttp.ClientError, RuntimeError, ValueError):
                if await handle.query(promql):
                    break
            if time.monotonic() > deadline:
                raise PrometheusNotAvailableError(
                    f"prometheus at {handle.url} had no sample of {promql} after {timeout_s:.0f}s"
                )
            await asyncio.sleep(0.25)
