"""Builders of small but valid objects for the test server's tests (and for other tests that need them)."""

from __future__ import annotations

from typing import Any


def pod_template(app: str, image: str = "ghcr.io/example/app:1.0", **labels: str) -> Any:
    return {
        "metadata": {"labels": {"app": app, **labels}},
        "spec": {"containers": [{"name": app, "image": image}]},
    }


def deployment(
    name: str,
    replicas: int = 1,
    image: str = "ghcr.io/example/app:1.0",
    annotations: dict[str, str] | None = None,
) -> Any:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, image),
        },
    }


def pod(name: str, labels: dict[str, str] | None = None, image: str = "ghcr.io/example/app:1.0") -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def job(name: str, *, backoff_limit: int = 0, deadline: int | None = None) -> Any:
    spec: dict[str, Any] = {
        "backoffLimit": backoff_limit,
        "template": {
            "spec": {"restartPolicy": "OnFailure", "containers": [{"name": "task", "image": "busybox:1.36"}]}
        },
    }
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def keptn_workload_version(name: str, app: str = "waiter", version: str = "0.4") -> Any:
    return {
        "apiVersion": "lifecycle.keptn.sh/v1",
        "kind": "KeptnWorkloadVersion",
        "metadata": {"name": name},
        "spec": {
            "app": app,
            "version": version,
            "workloadName": f"{app}-{name}",
            "resourceReference": {"uid": "x", "kind": "ReplicaSet", "name": "r"},
        },
    }
