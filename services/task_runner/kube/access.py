"""The Kubernetes API access the task-runner's Kubernetes mode needs, as ``(group, resource, verb)``.

``deploy/kustomize/base/rbac.yaml`` must grant exactly this to ``klt-task-runner`` (a unit test compares
them), so a new API call without its RBAC rule fails in the test suite instead of with a 403 in a
cluster. Each entry names the call that needs it; keep the two together.
"""

from __future__ import annotations

Access = tuple[str, str, str]
"""``(API group, resource, verb)``; ``""`` is the core group, a subresource is ``<plural>/<sub>``."""

REQUIRED: frozenset[Access] = frozenset(
    {
        # runner.py KubeJobs.run/_read/_wait/_delete: create (or adopt) the Job, read it, list+watch it
        # by name until it ends, delete it past its deadline.
        ("batch", "jobs", "create"),
        ("batch", "jobs", "get"),
        ("batch", "jobs", "list"),
        ("batch", "jobs", "watch"),
        ("batch", "jobs", "delete"),
        # runner.py _pod_result: the Job's pods (label job-name) and the newest one's log.
        ("", "pods", "list"),
        ("", "pods/log", "get"),
        # runner.py apply_config_map: a deno/python function's code for a function Job (create, or
        # merge-patch the data when it exists).
        ("", "configmaps", "create"),
        ("", "configmaps", "patch"),
        # runner.py task_owner: the projected KeptnTask, the Job's controller owner.
        ("lifecycle.keptn.sh", "keptntasks", "get"),
        # jobs.py owner_reference sets blockOwnerDeletion: OwnerReferencesPermissionEnforcement wants
        # update on the owner's finalizers.
        ("lifecycle.keptn.sh", "keptntasks/finalizers", "update"),
        # shared.runtime.secrets.KubernetesSecretSource: a task's SECURE_DATA Secret, read by name.
        ("", "secrets", "get"),
    }
)
