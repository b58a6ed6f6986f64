"""`klt run` with a task whose code comes from a local HTTP server (httpRef)."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from shared.runtime.embedded_nats import free_port
from tests.e2e import cases
from tests.e2e.conftest import KltRun


async def test_http_ref_code_is_fetched_and_run(tmp_path: Path, klt_run: KltRun) -> None:
    out = tmp_path / "http.txt"
    script = f"await Deno.writeTextFile({json.dumps(str(out))}, Deno.env.get('KEPTN_CONTEXT') ?? '');\n"

    async def serve_script(_: web.Request) -> web.Response:
        return web.Response(text=script)

    app = web.Application()
    app.router.add_get("/tasks/record.ts", serve_script)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        cases.write(
            tmp_path / "m",
            "all.yaml",
            cases.namespace(),
            cases.deployment("web", pre_tasks="remote"),
            f"""
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnTaskDefinition
metadata:
  name: remote
  namespace: shop
spec:
  deno:
    httpRef:
      url: http://127.0.0.1:{port}/tasks/record.ts
""",
        )
        result = await klt_run(tmp_path / "m")
    finally:
        await runner.cleanup()
    assert result.code == 0, result.err
    assert json.loads(out.read_text())["workloadName"] == "web-web"
