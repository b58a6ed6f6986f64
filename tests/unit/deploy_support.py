"""Helpers for the deployment tests: render kustomize, and check a service's environment the way the
service itself reads it."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import pytest
import yaml

from shared.runtime.settings import CommonSettings, common_settings
from tests.unit.crd_support import REPO

SERVICES = ("watcher", "task_runner", "evaluator", "metrics_provider")
SHARED_ENV = {"KLT_SECRETS_PATHS", "KLT_DEFAULT_NAMESPACE"}
"""Variables read by ``shared.runtime.secrets`` on behalf of several services."""


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    """``kubectl kustomize deploy/kustomize/<overlay>``: the objects ``kubectl apply -k`` would send."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (for `kubectl kustomize`) is not installed; the base files are still checked")
    result = subprocess.run(
        [kubectl, "kustomize", str(REPO / "deploy" / "kustomize" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay} failed:\n{result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def settings_loader(service: str) -> Callable[[Mapping[str, str]], object] | None:
    """The service's own ``<service>_config(env)``, or None while the service has no config module."""
    try:
        module = importlib.import_module(f"services.{service}.config")
    except ModuleNotFoundError:
        return None
    loader: Callable[[Mapping[str, str]], object] = getattr(module, f"{service}_config")
    return loader


def env_problems(service: str, env: Mapping[str, str]) -> list[str]:
    """Why ``service`` would refuse (or silently ignore part of) ``env``; empty when it takes all of it."""
    problems = []
    common = {f"KLT_{name.upper()}" for name in CommonSettings.__struct_fields__}
    own_prefix = f"KLT_{service.upper()}_"
    for name in sorted(env):
        if name.startswith("KLT_") and name not in common | SHARED_ENV and not name.startswith(own_prefix):
            problems.append(f"{name} is neither a common setting nor one of {own_prefix}*")
    try:
        common_settings(env)
        loader = settings_loader(service)
        if loader is not None:
            loader(env)
    except ValueError as exc:
        problems.append(str(exc))
    return problems


def container_env(container: dict[str, Any], config_maps: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """A container's environment as the kubelet builds it (``envFrom`` ConfigMaps, then ``env``); a
    ``fieldRef`` to the namespace resolves to ``keptn-system``, other references to a placeholder."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = "keptn-system"
        else:
            env[var["name"]] = "1"
    return env
