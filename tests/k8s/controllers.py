"""The controller manager the test drives: ``await step()`` runs every controller once, ``settle()`` steps
until nothing changes, ``start()``/``stop()`` run it in the background (waking on every write).

The test decides what pods do: ``plan_pods(fn)`` installs a function from pod to ``PodPlan`` (``None``
for the default: long-running pods become Running and Ready, Job pods exit 0), and
``script_job(namespace, name, exit_codes)`` scripts a Job's attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable

from tests.k8s.errors import ApiError
from tests.k8s.gateway import Gateway
from tests.k8s.jobs import Attempt, JobController
from tests.k8s.kubelet import Kubelet, PodPlan, PodPlanner
from tests.k8s.objects import controller_uid
from tests.k8s.store import Obj, Store, StoredEvent
from tests.k8s.workloads import Workloads

log = logging.getLogger(__name__)


class Controllers:
    def __init__(self, store: Store, gateway: Gateway) -> None:
        self.store = store
        self.logs: dict[tuple[str, str], str] = {}
        self.workloads = Workloads(store, gateway)
        self.jobs = JobController(store, gateway)
        self.kubelet = Kubelet(store, self._plan_for, self.logs)
        self._planner: PodPlanner | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        store.add_listener(self._on_write)

    # -- what the test decides -------------------------------------------------------------------------

    def plan_pods(self, planner: PodPlanner | None) -> None:
        """Decide what each scheduled pod does (re-read on every step); None restores the default."""
        self._planner = planner
        self._wake.set()

    def script_job(
        self, namespace: str, name: str, exit_codes: Iterable[int | None], logs: Iterable[str] | None = None
    ) -> None:
        """Exit codes of a Job's successive attempts (the last one repeats); None runs until the deadline."""
        codes = list(exit_codes)
        texts = list(logs or [])
        self.jobs.scripts[(namespace, name)] = deque(
            Attempt(code, texts[i] if i < len(texts) else "") for i, code in enumerate(codes)
        )
        self._wake.set()

    def _plan_for(self, pod: Obj) -> PodPlan:
        meta = pod["metadata"]
        attempt = self.jobs.attempts.get((meta["namespace"], meta["name"]))
        plan = self._planner(pod) if self._planner is not None else None
        job_pod = any(ref.get("kind") == "Job" for ref in meta.get("ownerReferences") or [])
        if attempt is not None:
            base = plan or PodPlan()
            return PodPlan(
                base.start, base.ready, base.waiting_reason, attempt.exit_code, attempt.log or base.log
            )
        if plan is not None:
            return plan
        return PodPlan(exit_code=0) if job_pod and controller_uid(pod) else PodPlan()

    # -- running ---------------------------------------------------------------------------------------

    async def step(self) -> None:
        """Run every controller once: workloads, jobs, then the scheduler and kubelet."""
        async with self._lock:
            for run in (self.workloads.step, self.jobs.step):
                try:
                    await run()
                except ApiError as exc:  # a write raced with the test's own; the next step catches up
                    log.debug("Controller step hit %s: %s", exc.code, exc.message)
            try:
                self.kubelet.step()
            except ApiError as exc:
                log.debug("Kubelet step hit %s: %s", exc.code, exc.message)

    async def settle(self, max_steps: int = 50) -> int:
        """Step until a whole step writes nothing; returns the number of steps taken."""
        for count in range(1, max_steps + 1):
            before = self.store.resource_version
            await self.step()
            if self.store.resource_version == before:
                return count
        raise AssertionError(f"the controllers did not settle within {max_steps} steps")

    def start(self, interval: float = 0.05) -> None:
        """Run the controllers in the background: after every write, and at least every ``interval`` s."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(interval), name="k8s-test-controllers"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None

    async def _run(self, interval: float) -> None:
        while True:
            self._wake.clear()
            try:
                await self.settle()
            except AssertionError:
                log.warning("The test server's controllers did not settle; continuing")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
            # arrives as the wait completes, and stop() would then wait for a loop that never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    def _on_write(self, _event: StoredEvent) -> None:
        self._wake.set()
