"""End-to-end fixtures: `klt run` in-process against the session's nats-server (each run gets a prefix of
its own), and a helper to read its JSON output."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from klt.running import RunRequest, run
from shared.runtime.embedded_nats import RunningNats


@dataclass
class RunResult:
    code: int
    out: str
    err: str

    @property
    def objects(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.out)["items"]
        return items

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [item for item in self.objects if item["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
        return found[0]


KltRun = Callable[..., Awaitable[RunResult]]


@pytest.fixture
def klt_run(nats_server: RunningNats) -> KltRun:
    async def _run(*paths: Path, output: str = "json", timeout: float = 60, **options: Any) -> RunResult:
        out, err = io.StringIO(), io.StringIO()
        request = RunRequest(
            paths=[str(p) for p in paths],
            output=output,
            timeout_s=timeout,
            nats_url=nats_server.url,
            live=False,
            **options,
        )
        code = await run(request, out=out, err=err)
        return RunResult(code, out.getvalue(), err.getvalue())

    return _run
