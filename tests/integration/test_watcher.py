"""The watcher against a real nats-server: desired state in, lifecycle state and events out, with the
test playing the task-runner and evaluator."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from services.watcher.config import watcher_config
from shared.keptn.lifecycle import KeptnAppVersion, KeptnWorkloadVersion
from shared.keptn.states import KeptnState
from shared.naming import app_version_name
from shared.runtime.settings import CommonSettings
from tests.integration.watcher_support import (
    Workers,
    answering,
    lifecycle_events,
    manifests,
    put_manifests,
    running_watcher,
    stored,
    wait_terminal,
)
from tests.support.natsfix import nats_client

S, F, D, W = KeptnState.SUCCEEDED, KeptnState.FAILED, KeptnState.DEPRECATED, KeptnState.WARNING
AV = app_version_name("shop", "1.0", 1)
KWV = "shop-web-1.0"


async def test_a_release_with_app_and_workload_checks_succeeds(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    text = manifests(
        app_pre_tasks=("notify", "check-quota"),
        app_pre_evaluations=("cpu-free",),
        app_post_tasks=("announce",),
        workload_pre_tasks=("migrate",),
        workload_post_evaluations=("error-rate",),
    )
    async with (
        nats_client(klt_settings) as nc,
        lifecycle_events(nc, klt_settings) as events,
        answering(Workers(nc, klt_settings)) as workers,
        running_watcher(klt_settings),
    ):
        await put_manifests(nc, klt_settings, tmp_path, text)
        av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
        kwv = await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", KWV)
        await asyncio.sleep(0.1)  # let the last events arrive
    assert isinstance(av, KeptnAppVersion) and isinstance(kwv, KeptnWorkloadVersion)
    assert (av.status.status, av.status.current_phase) == (S, "Completed")
    assert [i.definition_name for i in av.status.pre_deployment_task_status] == ["notify", "check-quota"]
    assert all(i.status == S for i in av.status.pre_deployment_task_status)
    assert av.status.pre_deployment_evaluation_task_status[0].status == S
    assert av.status.workload_status[0].status == S
    assert av.spec.metadata == {"team": "shop"}
    assert (kwv.status.status, kwv.status.deployment_status) == (S, S)
    assert kwv.status.app_context_metadata == {"team": "shop"}
    assert kwv.status.deployment_start_time and kwv.status.end_time
    # Every item was asked for once, with its own deterministic id.
    assert sorted(c.name for c in workers.commands) == sorted(
        i.name
        for i in (
            *av.status.pre_deployment_task_status,
            *av.status.pre_deployment_evaluation_task_status,
            *av.status.post_deployment_task_status,
            *kwv.status.pre_deployment_task_status,
            *kwv.status.post_deployment_evaluation_task_status,
        )
    )
    assert len(set(workers.msg_ids)) == len(workers.msg_ids) == 6
    reasons = [e.reason for e in events]
    assert reasons.count("AppCompletedFinished") == 1
    assert reasons.count("WorkloadCompletedFinished") == 1
    assert reasons.index("AppPreDeployEvaluationsFinished") < reasons.index("WorkloadPreDeployTasksStarted")
    assert reasons.index("WorkloadCompletedFinished") < reasons.index("AppDeployFinished")
    finished = next(e for e in events if e.reason == "AppCompletedFinished")
    assert finished.message == f"App Completed: has finished / Namespace: demo, Name: {AV}, Version: 1.0"


async def test_a_failed_workload_pre_task_fails_the_release(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    text = manifests(app_post_tasks=("announce",), workload_pre_tasks=("migrate",))
    async with (
        nats_client(klt_settings) as nc,
        lifecycle_events(nc, klt_settings) as events,
        answering(Workers(nc, klt_settings, failing={"migrate"})) as workers,
        running_watcher(klt_settings),
    ):
        await put_manifests(nc, klt_settings, tmp_path, text)
        av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
        kwv = await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", KWV)
        await asyncio.sleep(0.1)
    assert isinstance(av, KeptnAppVersion) and isinstance(kwv, KeptnWorkloadVersion)
    status = kwv.status
    assert (status.status, status.current_phase, status.pre_deployment_status) == (
        F,
        "WorkloadPreDeployTasks",
        F,
    )
    assert (status.deployment_status, status.post_deployment_status) == (D, D)
    assert status.deployment_start_time is None  # the release step never ran
    assert status.message.startswith("Task 'migrate' of shop-web-1.0 failed: exit code 1")
    assert (av.status.status, av.status.current_phase, av.status.workload_overall_status) == (
        F,
        "AppDeploy",
        F,
    )
    assert (av.status.post_deployment_status, av.status.post_deployment_evaluation_status) == (D, D)
    assert "Workload version 'shop-web-1.0' failed" in av.status.message
    assert [c.task_definition for c in workers.commands if hasattr(c, "task_definition")] == ["migrate"]
    reasons = [e.reason for e in events]
    assert {
        "WorkloadPreDeployTasksFailed",
        "WorkloadCompletedFailed",
        "AppDeployFailed",
        "AppCompletedFailed",
    } <= set(reasons)


async def test_non_blocking_mode_lets_a_failed_app_task_pass(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    text = manifests(app_pre_tasks=("flaky",), block_deployment=False)
    async with (
        nats_client(klt_settings) as nc,
        answering(Workers(nc, klt_settings, failing={"flaky"})),
        running_watcher(klt_settings),
    ):
        await put_manifests(nc, klt_settings, tmp_path, text)
        av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
    assert isinstance(av, KeptnAppVersion)
    assert (av.status.status, av.status.current_phase, av.status.pre_deployment_status) == (S, "Completed", W)
    assert av.status.pre_deployment_task_status[0].status == F
    assert "(non-blocking)" in av.status.message


async def test_the_deploy_command_decides_the_deploy_phase(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    seen = tmp_path / "seen.txt"
    command = (
        f'echo "$KLT_APP $KLT_WORKLOAD $KLT_VERSION $KLT_NAMESPACE $KLT_WORKLOAD_VERSION" > {seen}; '
        "echo 'pulling image' >&2; echo 'rollout failed: quota' >&2; exit 3"
    )
    async with (
        nats_client(klt_settings) as nc,
        answering(Workers(nc, klt_settings)),
        running_watcher(klt_settings, watcher_config({}, deploy_command=command)),
    ):
        await put_manifests(nc, klt_settings, tmp_path / "m", manifests())
        kwv = await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", KWV)
        av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
    assert isinstance(kwv, KeptnWorkloadVersion) and isinstance(av, KeptnAppVersion)
    assert seen.read_text().split() == ["shop", "web", "1.0", "demo", "shop-web-1.0"]
    assert (kwv.status.status, kwv.status.deployment_status, kwv.status.current_phase) == (
        F,
        F,
        "WorkloadDeploy",
    )
    assert kwv.status.message == (
        "Deployment of shop-web-1.0 failed: deploy command exited with code 3: "
        "pulling image | rollout failed: quota"
    )
    assert av.status.status == F


async def test_a_deploy_command_past_the_observability_timeout_fails(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    async with (
        nats_client(klt_settings) as nc,
        lifecycle_events(nc, klt_settings) as events,
        running_watcher(klt_settings, watcher_config({}, deploy_command="sleep 30")),
    ):
        await put_manifests(nc, klt_settings, tmp_path, manifests(observability_timeout="500ms"))
        kwv = await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", KWV)
        await asyncio.sleep(0.1)
    assert isinstance(kwv, KeptnWorkloadVersion)
    assert (kwv.status.status, kwv.status.message) == (
        F,
        "Deployment of shop-web-1.0 failed: has reached timeout",
    )
    timeout = next(e for e in events if e.reason == "WorkloadDeployFinished")
    assert timeout.event_type == "Warning" and "has reached timeout" in timeout.message


async def test_a_new_app_generation_deprecates_the_older_one(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    async with (
        nats_client(klt_settings) as nc,
        answering(Workers(nc, klt_settings)),
        running_watcher(klt_settings),
    ):
        await put_manifests(nc, klt_settings, tmp_path, manifests(app_revision=1))
        first = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
        await put_manifests(nc, klt_settings, tmp_path, manifests(app_revision=2))
        second = await wait_terminal(nc, klt_settings, "KeptnAppVersion", app_version_name("shop", "1.0", 2))
        old = await stored(nc, klt_settings, "KeptnAppVersion", AV)
    assert isinstance(first, KeptnAppVersion) and isinstance(second, KeptnAppVersion)
    assert first.status.status == S
    assert second.status.status == S and second.spec.revision == 2
    assert isinstance(old, KeptnAppVersion) and old.status.status == D
    assert old.status.current_phase == "Completed"


async def test_a_restarted_watcher_resumes_without_repeating_commands(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    text = manifests(app_pre_tasks=("notify",), app_post_tasks=("announce",), workload_pre_tasks=("migrate",))
    async with nats_client(klt_settings) as nc:
        workers = Workers(nc, klt_settings)
        workers.paused.set()
        async with answering(workers):
            async with running_watcher(klt_settings):
                await put_manifests(nc, klt_settings, tmp_path, text)
                async with asyncio.timeout(10):
                    while not workers.commands:
                        await asyncio.sleep(0.02)
            # The watcher is down while the first task is answered; the answer waits in the stream.
            workers.paused.clear()
            await asyncio.sleep(0.2)
            async with running_watcher(klt_settings):
                av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
    assert isinstance(av, KeptnAppVersion) and av.status.status == S
    per_task = Counter(workers.msg_ids)
    assert len(per_task) == 3  # notify, migrate, announce
    assert sorted(c.name.split("-")[0] for c in workers.commands) == ["post", "pre", "pre"]


async def test_two_watcher_replicas_complete_one_release_without_duplicate_items(
    klt_settings: CommonSettings, tmp_path: Path
) -> None:
    text = manifests(
        app_pre_tasks=("notify", "check"), workload_pre_tasks=("migrate",), app_post_tasks=("bye",)
    )
    async with (
        nats_client(klt_settings) as nc,
        answering(Workers(nc, klt_settings)) as workers,
        running_watcher(klt_settings),
        running_watcher(klt_settings),
    ):
        await put_manifests(nc, klt_settings, tmp_path, text)
        av = await wait_terminal(nc, klt_settings, "KeptnAppVersion", AV)
        kwv = await wait_terminal(nc, klt_settings, "KeptnWorkloadVersion", KWV)
    assert isinstance(av, KeptnAppVersion) and isinstance(kwv, KeptnWorkloadVersion)
    assert (av.status.status, kwv.status.status) == (S, S)
    items = [*av.status.pre_deployment_task_status, *av.status.post_deployment_task_status]
    items += kwv.status.pre_deployment_task_status
    assert sorted(i.definition_name for i in items) == ["bye", "check", "migrate", "notify"]
    # Both replicas decided the same items (deterministic names and uids); each ran once.
    assert sorted({c.name for c in workers.commands}) == sorted(i.name for i in items)
    assert len(set(workers.msg_ids)) == 4
