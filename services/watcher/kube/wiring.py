"""What Kubernetes mode adds to the watcher's ``serve``: one ``ApiClient`` and the tasks that use it.

``service`` imports this module only in Kubernetes mode, so local mode (``klt run``) never loads
kubernetes-asyncio (a quarter of a second of start-up).

Tasks started by ``start``:
- the cluster as desired state (``source.ClusterSource``), cancelled by ``serve`` at the end;
- the pod mutating webhook (``webhook.serve_webhook``), unless ``webhook_enabled`` is off;
- scheduling-gate release (``gates.release_gates``), from pods and the state bucket;
- the projection of the state bucket into KLT's CRs (``projection.project_state``);
- lifecycle facts recorded as Kubernetes Events (``events.project_events``).
The others end by themselves once ``stop`` is set. ``release_step`` is the deploy adapter: the rollout
of the workload object (``rollouts.KubeDeployer``, §3.8) instead of local mode's immediate success.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio.client import ApiClient
from nats.js import JetStreamContext

from services.watcher.config import WatcherConfig
from services.watcher.deploying import ReleaseStep
from services.watcher.kube.client import api_client
from services.watcher.kube.events import project_events
from services.watcher.kube.gates import release_gates
from services.watcher.kube.projection import project_state
from services.watcher.kube.rollouts import KubeDeployer
from services.watcher.kube.source import ClusterSource
from services.watcher.kube.webhook import serve_webhook
from shared.runtime.settings import CommonSettings
from shared.subjects import Names


async def open_client(config: WatcherConfig, configuration: Any | None) -> ApiClient:
    """The watcher's API client: ``configuration`` (a kubernetes-asyncio ``Configuration``) when given."""
    return await api_client(config.kubeconfig, configuration)


def release_step(api: ApiClient, config: WatcherConfig) -> ReleaseStep:
    """WorkloadDeploy in Kubernetes mode: succeeds once the workload object runs (§3.8)."""
    return KubeDeployer(api, watch_timeout_s=config.watch_timeout_s)


async def start(
    group: asyncio.TaskGroup,
    api: ApiClient,
    js: JetStreamContext,
    common: CommonSettings,
    config: WatcherConfig,
    stop: asyncio.Event,
) -> tuple[ClusterSource, asyncio.Task[None]]:
    """Start Kubernetes mode's tasks in ``group``; returns the source and its task (which runs until
    cancelled). Wait for ``source.synced`` before deriving from the desired bucket."""
    names = Names(common.prefix)
    if config.webhook_enabled:
        group.create_task(
            serve_webhook(
                api,
                host=config.webhook_host,
                port=config.webhook_port,
                cert_file=config.webhook_cert_file,
                key_file=config.webhook_key_file,
                stop=stop,
            ),
            name="kube-webhook",
        )
    state_kv = await js.key_value(names.state_bucket)
    desired_kv = await js.key_value(names.desired_bucket)
    group.create_task(release_gates(api, state_kv, stop), name="kube-gates")
    group.create_task(project_state(api, js, names, stop), name="kube-projection")
    group.create_task(
        project_events(api, js, names, stop, namespace_of_klt=common.keptn_namespace), name="kube-events"
    )
    source = ClusterSource(
        api,
        desired_kv,
        common.keptn_namespace,
        settle_s=config.settle_s,
        watch_timeout_s=config.watch_timeout_s,
    )
    return source, group.create_task(source.run(), name="kube-source")
