"""Commands and events exchanged over NATS: one frozen, tagged msgspec struct per message.

Commands (``klt.cmd.>``) ask a worker to do something; events (``klt.evt.>``) state what happened.
Every message carries a deterministic id (``Nats-Msg-Id``), so a redelivered or re-published message
is recognised and applied once. New fields must always get defaults, so that old and new services can
talk to each other. CloudEvents attributes travel in NATS headers (``shared.runtime.cloudevents``).
Secrets are never part of a message: a task names its Secret; the task-runner resolves the value.
"""

from __future__ import annotations

import msgspec

from shared.keptn.lifecycle import EvaluationStatusItem, TaskContext
from shared.keptn.states import CheckType, KeptnState


class _Message(msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag_field="type"):
    """Base of every wire message."""


# --- commands -----------------------------------------------------------------------------------


class RunTask(_Message, frozen=True, kw_only=True, tag="task.run"):
    """Run a KeptnTask to completion: at most ``retries + 1`` attempts, all within ``timeout``."""

    namespace: str
    name: str
    uid: str
    task_definition: str
    check_type: CheckType
    context: TaskContext
    parameters: dict[str, str] = msgspec.field(default_factory=dict)
    secure_parameters_secret: str = ""
    retries: int = 10
    timeout: str = "5m"

    @property
    def msg_id(self) -> str:
        return f"{self.uid}:run"


class RunEvaluation(_Message, frozen=True, kw_only=True, tag="evaluation.run"):
    """Evaluate a KeptnEvaluation: up to ``retries`` rounds, ``retryInterval`` apart."""

    namespace: str
    name: str
    uid: str
    evaluation_definition: str
    check_type: CheckType
    retries: int = 10
    retry_interval: str = "5s"
    app_name: str = ""
    app_version: str = ""
    workload: str = ""
    workload_version: str = ""

    @property
    def msg_id(self) -> str:
        return f"{self.uid}:run"


Command = RunTask | RunEvaluation


# --- events from the workers --------------------------------------------------------------------


class TaskStarted(_Message, frozen=True, kw_only=True, tag="task.started"):
    """An attempt of a task began (attempt counts from 1)."""

    namespace: str
    name: str
    uid: str
    attempt: int
    start_time: str
    job_name: str = ""

    @property
    def msg_id(self) -> str:
        return f"{self.uid}:started:{self.attempt}"


class TaskFinished(_Message, frozen=True, kw_only=True, tag="task.finished"):
    """A task ended for good: Succeeded, or Failed after its last attempt or at its deadline."""

    namespace: str
    name: str
    uid: str
    status: KeptnState
    attempts: int
    start_time: str
    end_time: str
    reason: str = ""
    message: str = ""

    @property
    def msg_id(self) -> str:
        return f"{self.uid}:finished"


class EvaluationProgressed(_Message, frozen=True, kw_only=True, tag="evaluation.progressed"):
    """One evaluation round ended without a final result; another follows after retryInterval."""

    namespace: str
    name: str
    uid: str
    retry_count: int
    evaluation_status: dict[str, EvaluationStatusItem]
    start_time: str

    @property
    def msg_id(self) -> str:
        return f"{self.uid}:progressed:{self.retry_count}"


class EvaluationFinished(_Message, frozen=True, kw_only=True, tag="evaluation.finished"):
    """An evaluation ended: every objective met (Succeeded) or retries exhausted (Failed)."""

    namespace: str
    name: str
    uid: str
    overall_status: KeptnState
    retry_count: int
    evaluation_status: dict[str, EvaluationStatusItem]
    start_time: str
    end_time: str
    message: str = ""

    @property
    def msg_id(self) -> str:
        return f"{self.uid}:finished"


class DeployFinished(_Message, frozen=True, kw_only=True, tag="deploy.finished"):
    """The release step of a KeptnWorkloadVersion ended (local deploy command or rollout observed)."""

    namespace: str
    name: str
    """The KeptnWorkloadVersion name."""
    uid: str
    status: KeptnState
    message: str = ""

    @property
    def msg_id(self) -> str:
        return f"{self.uid}:deployed"


WorkerEvent = TaskStarted | TaskFinished | EvaluationProgressed | EvaluationFinished | DeployFinished


# --- facts the watcher publishes ----------------------------------------------------------------


class LifecycleEvent(_Message, frozen=True, kw_only=True, tag="lifecycle.event"):
    """What KLT would record as a Kubernetes Event (klt-facts §8.3), published on ``klt.evt.lifecycle.>``.

    ``reason`` is ``<Phase><PhaseState>`` (e.g. ``AppPreDeployTasksStarted``), ``type`` is Normal or
    Warning, ``message`` is KLT's ``"<LongName>: <msg> / Namespace: <ns>, Name: <name>[, Version: <v>]"``.
    """

    reason: str
    event_type: str
    message: str
    kind: str
    namespace: str
    name: str
    phase: str
    long_name: str = ""
    state: str = ""
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    timestamp: str = ""
    id: str = ""
    """Deterministic id (also the ``Nats-Msg-Id``) so a re-published fact is stored once."""


AnyMessage = RunTask | RunEvaluation | WorkerEvent | LifecycleEvent

command_decoder = msgspec.json.Decoder(Command)
worker_event_decoder = msgspec.json.Decoder(WorkerEvent)
any_decoder = msgspec.json.Decoder(AnyMessage)
encoder = msgspec.json.Encoder()
