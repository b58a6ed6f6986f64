"""Every NATS subject, stream, consumer and bucket name klt uses, in one place.

Names are built from a prefix (``klt`` by default) so that tests, and several klt installations on one
NATS server, stay apart. Kubernetes names may contain dots, which NATS treats as token separators;
``token()`` is the one function that escapes them (a dot becomes ``_``, which Kubernetes names cannot
contain, so the escape is unambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass

CLUSTER_SCOPE = "-"
"""The namespace token of a cluster-scoped object (a Namespace): an empty token is not a valid subject,
and ``-`` can never be a namespace (Kubernetes names start with a letter or digit)."""


def token(name: str) -> str:
    """Escape a Kubernetes name or namespace into one NATS subject token or KV key part."""
    return name.replace(".", "_") or CLUSTER_SCOPE


def untoken(escaped: str) -> str:
    """Undo ``token()``."""
    return "" if escaped == CLUSTER_SCOPE else escaped.replace("_", ".")


@dataclass(frozen=True, slots=True)
class Names:
    """The names derived from one prefix. Construct with ``Names(prefix)``; ``Names()`` is klt's own."""

    prefix: str = "klt"

    # --- streams --------------------------------------------------------------------------------
    @property
    def events_stream(self) -> str:
        """Past-tense facts (CloudEvents), retained by age; the watcher and notifiers consume it."""
        return f"{self.prefix.upper()}_EVENTS"

    @property
    def commands_stream(self) -> str:
        """Work to do; work-queue retention, one durable consumer per worker kind."""
        return f"{self.prefix.upper()}_COMMANDS"

    @property
    def events_all(self) -> str:
        return f"{self.prefix}.evt.>"

    @property
    def commands_all(self) -> str:
        return f"{self.prefix}.cmd.>"

    # --- subjects -------------------------------------------------------------------------------
    def event(self, entity: str, verb: str, namespace: str, name: str) -> str:
        return f"{self.prefix}.evt.{entity}.{verb}.{token(namespace)}.{token(name)}"

    def command(self, entity: str, verb: str, namespace: str, name: str) -> str:
        return f"{self.prefix}.cmd.{entity}.{verb}.{token(namespace)}.{token(name)}"

    def lifecycle_event(self, kind: str, namespace: str, name: str) -> str:
        """Where the watcher publishes a LifecycleEvent (KLT's Kubernetes Event, klt-facts §8.3) about
        one object: ``<prefix>.evt.lifecycle.<kind lowercased>.<namespace>.<name>``, e.g.
        ``klt.evt.lifecycle.keptnappversion.demo.shop-1_0-6b86b273``. Filter with
        ``events_of("lifecycle")`` for everything, or on the kind token for one kind."""
        return self.event("lifecycle", kind.lower(), namespace, name)

    def events_of(self, entity: str) -> str:
        """All facts about one entity, e.g. every ``task`` event."""
        return f"{self.prefix}.evt.{entity}.>"

    def commands_of(self, entity: str) -> str:
        return f"{self.prefix}.cmd.{entity}.>"

    def service(self, entity: str, verb: str) -> str:
        """A request/reply endpoint, e.g. ``klt.svc.metrics.fetch``."""
        return f"{self.prefix}.svc.{entity}.{verb}"

    # --- durable consumers ----------------------------------------------------------------------
    @property
    def watcher_consumer(self) -> str:
        return "watcher"

    @property
    def task_runner_consumer(self) -> str:
        return "task-runner"

    @property
    def evaluator_consumer(self) -> str:
        return "evaluator"

    @property
    def cloudevents_consumer(self) -> str:
        """The watcher's CloudEvents notifier (lifecycle facts to KeptnConfig ``cloudEventsEndpoint``)."""
        return "cloudevents"

    # --- KV buckets -----------------------------------------------------------------------------
    @property
    def desired_bucket(self) -> str:
        """Desired state read from the source (manifests or Kubernetes), Secrets excluded."""
        return f"{self.prefix}_desired"

    @property
    def state_bucket(self) -> str:
        """Lifecycle state; the watcher is its only writer (compare-and-set on every update)."""
        return f"{self.prefix}_state"

    @property
    def task_runs_bucket(self) -> str:
        """The task-runner's attempt book-keeping (how many runs started), so a crash never adds runs."""
        return f"{self.prefix}_task_runs"

    @property
    def task_logs_bucket(self) -> str:
        """Bounded stdout/stderr of each task, for ``klt logs``."""
        return f"{self.prefix}_task_logs"

    @property
    def evaluation_runs_bucket(self) -> str:
        """The evaluator's progress (retry count, sticky objectives), so a crash resumes, not restarts."""
        return f"{self.prefix}_evaluation_runs"

    @property
    def metrics_bucket(self) -> str:
        """KeptnMetric values written by the metrics-provider."""
        return f"{self.prefix}_metrics"

    @property
    def timers_bucket(self) -> str:
        """The watcher's durable deadlines."""
        return f"{self.prefix}_timers"


def object_key(kind: str, namespace: str, name: str) -> str:
    """The KV key of one object: ``<kind lowercased>.<namespace>.<name>``, tokens escaped."""
    return f"{kind.lower()}.{token(namespace)}.{token(name)}"


def kind_prefix(kind: str, namespace: str | None = None) -> str:
    """A KV key filter for every object of a kind (optionally in one namespace)."""
    if namespace is None:
        return f"{kind.lower()}.>"
    return f"{kind.lower()}.{token(namespace)}.>"
