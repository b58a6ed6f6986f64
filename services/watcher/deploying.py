"""The release step of a workload version: what makes WorkloadDeploy succeed or fail in local mode.

In Kubernetes, KLT watches the rollout (§3.8); locally there is nothing to watch, so the step is either
immediate success (the default: the manifests describe what is being released) or the user's own
deploy command, whose exit status decides. Either way the result is *published* as a DeployFinished
fact, never written to state directly: it then takes the same path as every task result and survives
a watcher crash (the durable consumer still has it).

The command runs in a shell with ``KLT_APP``, ``KLT_WORKLOAD`` (the workload name without the app
prefix), ``KLT_VERSION``, ``KLT_NAMESPACE``, ``KLT_WORKLOAD_VERSION`` (the KeptnWorkloadVersion name),
``KLT_RESOURCE_KIND`` and ``KLT_RESOURCE_NAME`` (the workload object) added to the watcher's own
environment, bounded by KeptnConfig ``observabilityTimeout`` (KLT's "has reached timeout" when it
runs out, §3.8). After a watcher restart a deployment still Progressing is started again, so the
command must be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import signal
from dataclasses import dataclass
from typing import Protocol

from shared.keptn.lifecycle import KeptnWorkloadVersion
from shared.keptn.states import KeptnState
from shared.phases import DEPLOY_TIMEOUT_TEXT

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 5
"""How many last lines of the command's stderr go into the failure message."""
_STDERR_MAX_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Release:
    """One workload version to release."""

    namespace: str
    app: str
    workload: str
    version: str
    workload_version: str
    resource_kind: str
    resource_name: str
    timeout_s: float

    @classmethod
    def of(cls, kwv: KeptnWorkloadVersion, timeout_s: float) -> Release:
        spec = kwv.spec
        return cls(
            namespace=kwv.metadata.namespace,
            app=spec.app,
            workload=spec.workload_name.removeprefix(f"{spec.app}-"),
            version=spec.version,
            workload_version=kwv.metadata.name,
            resource_kind=spec.resource_reference.kind,
            resource_name=spec.resource_reference.name,
            timeout_s=_remaining(kwv.status.deployment_start_time, timeout_s),
        )


def _remaining(started: str | None, timeout_s: float) -> float:
    """What is left of ``observabilityTimeout`` since the deploy phase started (``deploymentStartTime``), so
    a release step restarted after a watcher restart keeps the original deadline instead of a fresh one."""
    if not started:
        return timeout_s
    try:
        begun = dt.datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return timeout_s
    elapsed = (dt.datetime.now(dt.UTC) - begun).total_seconds()
    return max(0.0, timeout_s - max(0.0, elapsed))


class ReleaseStep(Protocol):
    async def run(self, release: Release) -> tuple[KeptnState, str]:
        """Perform the release; returns Succeeded or Failed and, on failure, why."""
        ...


class ImmediateRelease:
    """Local mode without a deploy command: the release step succeeds at once."""

    async def run(self, release: Release) -> tuple[KeptnState, str]:
        return KeptnState.SUCCEEDED, ""


class CommandRelease:
    """Runs the user's deploy command; exit status 0 is success."""

    def __init__(self, command: str) -> None:
        self.command = command

    async def run(self, release: Release) -> tuple[KeptnState, str]:
        env = {
            **os.environ,
            "KLT_APP": release.app,
            "KLT_WORKLOAD": release.workload,
            "KLT_VERSION": release.version,
            "KLT_NAMESPACE": release.namespace,
            "KLT_WORKLOAD_VERSION": release.workload_version,
            "KLT_RESOURCE_KIND": release.resource_kind,
            "KLT_RESOURCE_NAME": release.resource_name,
        }
        process = await asyncio.create_subprocess_shell(
            self.command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=release.timeout_s)
        except TimeoutError:
            await _stop(process)
            return KeptnState.FAILED, DEPLOY_TIMEOUT_TEXT
        except asyncio.CancelledError:
            await _stop(process)
            raise
        if process.returncode == 0:
            return KeptnState.SUCCEEDED, ""
        tail = stderr[-_STDERR_MAX_BYTES:].decode(errors="replace").strip().splitlines()[-STDERR_TAIL_LINES:]
        message = f"deploy command exited with code {process.returncode}"
        if tail:
            message += ": " + " | ".join(line.strip() for line in tail)
        return KeptnState.FAILED, message


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill the command's whole process group (the shell and what it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await process.wait()


def release_step(deploy_command: str) -> ReleaseStep:
    """The release step for the watcher's configuration."""
    return CommandRelease(deploy_command) if deploy_command.strip() else ImmediateRelease()
