"""The Kubernetes manifests, rendered by kustomize as ``kubectl apply -k`` would, checked offline: every
built-in object against the Kubernetes 1.30 OpenAPI schemas (kubernetes-validate, strict), and the
wiring between objects that no schema sees (selectors, ports, certificates, RBAC, settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.metrics_provider.config import metrics_provider_config
from services.task_runner.config import task_runner_config
from services.task_runner.kube.access import REQUIRED as TASK_RUNNER_ACCESS
from services.watcher.config import watcher_config
from services.watcher.kube.access import required as watcher_access
from services.watcher.kube.projection_mapping import KINDS as PROJECTED
from services.watcher.kube.source import RESOURCES as SOURCE_RESOURCES
from tests.unit.crd_support import REPO, committed_crds
from tests.unit.deploy_support import SERVICES, container_env, env_problems, project_version, render

OVERLAYS = ("overlays/dev", "overlays/production")
K8S_VERSION = "1.30"  # the oldest release klt targets: scheduling gates are GA from 1.30
CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
}
CERT_MANAGER = "cert-manager.io/v1"


def _by_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _one(docs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    return _by_kind(docs, kind)[name]


def _config_maps(docs: tuple[dict[str, Any], ...]) -> dict[str, dict[str, str]]:
    return {name: cm.get("data", {}) for name, cm in _by_kind(docs, "ConfigMap").items()}


def _builtin(docs: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] != "CustomResourceDefinition" and d["apiVersion"] != CERT_MANAGER]


def test_base_files_are_valid_kubernetes_objects() -> None:
    """Without kustomize: each file of the base, as written, is valid on its own."""
    files = sorted((REPO / "deploy/kustomize/base").glob("*.yaml"))
    checked = 0
    for path in files:
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            checked += 1
    assert checked >= 25


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_valid_kubernetes(overlay: str) -> None:
    docs = render(overlay)
    for doc in _builtin(docs):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"} == set(
        committed_crds()
    )
    assert [d["spec"] for d in docs if d["kind"] == "CustomResourceDefinition"] == [
        committed_crds()[d["metadata"]["name"]]["spec"]
        for d in docs
        if d["kind"] == "CustomResourceDefinition"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_keptn_system(overlay: str) -> None:
    for doc in render(overlay):
        namespace = doc["metadata"].get("namespace")
        if doc["kind"] in CLUSTER_SCOPED:
            assert namespace is None, f"{doc['kind']} {doc['metadata']['name']} is cluster-scoped"
        else:
            assert namespace == "keptn-system", f"{doc['kind']} {doc['metadata']['name']}"
    assert (
        _one(render(overlay), "Namespace", "keptn-system")["metadata"]["labels"]["control-plane"]
        == "lifecycle-operator"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_deployment_per_service_from_the_klt_image(overlay: str) -> None:
    deployments = _by_kind(render(overlay), "Deployment")
    assert sorted(deployments) == sorted(f"klt-{s.replace('_', '-')}" for s in SERVICES)
    dockerfile = (REPO / "Dockerfile").read_text()
    for service in SERVICES:
        pod = deployments[f"klt-{service.replace('_', '-')}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == f"ghcr.io/klt-project/klt:{project_version()}"
        assert container["command"] == ["python", "-m", f"services.{service}"]
        assert pod["serviceAccountName"] == f"klt-{service.replace('_', '-')}"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert f"USER {pod['securityContext']['runAsUser']}:" in dockerfile
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_accepts_the_environment_it_is_given(overlay: str) -> None:
    docs = render(overlay)
    config_maps = _config_maps(docs)
    for service in SERVICES:
        deployment = _one(docs, "Deployment", f"klt-{service.replace('_', '-')}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = container_env(container, config_maps)
        assert env_problems(service, env) == [], service
        assert env["KLT_NATS_URL"] == "nats://klt-nats:4222"


@pytest.mark.parametrize(("overlay", "servers"), [("overlays/dev", 1), ("overlays/production", 3)])
def test_stream_replicas_match_the_nats_cluster(overlay: str, servers: int) -> None:
    docs = render(overlay)
    nats = _one(docs, "StatefulSet", "klt-nats")
    assert nats["spec"]["replicas"] == servers
    (config,) = [cm for name, cm in _config_maps(docs).items() if name.startswith("klt-config")]
    assert config["KLT_STREAM_REPLICAS"] == str(servers)
    conf = next(
        cm["nats.conf"] for name, cm in _config_maps(docs).items() if name.startswith("klt-nats-config")
    )
    assert "jetstream {" in conf
    routes = [f"nats://klt-nats-{i}.{nats['spec']['serviceName']}:6222" for i in range(servers)]
    if servers > 1:
        assert all(route in conf for route in routes)
        assert f"nats://klt-nats-{servers}." not in conf
    else:
        assert "cluster {" not in conf
    client = _one(docs, "Service", "klt-nats")
    assert client["spec"]["ports"][0]["port"] == 4222


@pytest.mark.parametrize(("overlay", "policy"), [("overlays/dev", "Ignore"), ("overlays/production", "Fail")])
def test_the_pod_webhook_reaches_the_watcher_with_klts_rules(overlay: str, policy: str) -> None:
    docs = render(overlay)
    (config,) = _by_kind(docs, "MutatingWebhookConfiguration").values()
    (hook,) = config["webhooks"]
    assert hook["failurePolicy"] == policy
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    excluded = {e["key"]: e for e in hook["namespaceSelector"]["matchExpressions"]}
    assert excluded["control-plane"] == {
        "key": "control-plane",
        "operator": "NotIn",
        "values": ["lifecycle-operator"],
    }
    names = excluded["kubernetes.io/metadata.name"]
    assert names["operator"] == "NotIn"
    assert {"kube-system", "kube-public", "kube-node-lease", "keptn-system"} <= set(names["values"])
    # The path from the API server to the watcher: Service 443 -> the watcher's webhook port 9443.
    target = hook["clientConfig"]["service"]
    assert target["path"] == "/mutate-v1-pod"
    service = _one(docs, "Service", target["name"])
    assert service["metadata"]["namespace"] == target["namespace"]
    (port,) = service["spec"]["ports"]
    assert port["port"] == target["port"] == 443
    watcher = _one(docs, "Deployment", "klt-watcher")["spec"]["template"]
    assert service["spec"]["selector"].items() <= watcher["metadata"]["labels"].items()
    (container,) = watcher["spec"]["containers"]
    assert {"name": "webhook", "containerPort": 9443} in container["ports"]
    assert port["targetPort"] == "webhook"
    # The certificate: cert-manager writes the Secret the watcher mounts, for the Service's DNS name,
    # and injects its CA into this configuration.
    certificate = _one(docs, "Certificate", "klt-webhook-cert")
    assert (
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "keptn-system/klt-webhook-cert"
    )
    assert f"{service['metadata']['name']}.{target['namespace']}.svc" in certificate["spec"]["dnsNames"]
    secret_volumes = [v["secret"]["secretName"] for v in watcher["spec"]["volumes"] if "secret" in v]
    assert secret_volumes == [certificate["spec"]["secretName"]]
    issuer = certificate["spec"]["issuerRef"]
    assert _one(docs, issuer["kind"], issuer["name"])["apiVersion"] == CERT_MANAGER


def _grants(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_rbac_grants_exactly_the_calls_the_kubernetes_mode_makes() -> None:
    """A call without its rule would be a 403 in a cluster; a rule without a call is more than needed."""
    roles = _by_kind(render("overlays/production"), "ClusterRole")
    watcher, runner = _grants(roles["klt-watcher"]), _grants(roles["klt-task-runner"])
    assert sorted(watcher_access() - watcher) == [], "rules missing from klt-watcher"
    assert sorted(watcher - watcher_access()) == [], "klt-watcher grants what the code does not call"
    assert sorted(TASK_RUNNER_ACCESS - runner) == [], "rules missing from klt-task-runner"
    assert sorted(runner - TASK_RUNNER_ACCESS) == [], "klt-task-runner grants what the code does not call"


def test_the_access_tables_cover_the_calls_they_are_derived_from() -> None:
    """The tables follow the code's own lists: a newly watched kind or projected kind needs RBAC."""
    need = watcher_access()
    for resource in SOURCE_RESOURCES:
        assert (resource.group, resource.plural, "watch") in need
    for info in PROJECTED.values():
        assert ("lifecycle.keptn.sh", f"{info.plural}/status", "patch") in need
        assert ("lifecycle.keptn.sh", info.plural, "create") in need
    assert ("argoproj.io", "rollouts", "watch") in need
    assert ("", "secrets", "get") not in need  # the watcher never reads Secrets
    assert ("", "secrets", "get") in TASK_RUNNER_ACCESS and ("", "secrets", "list") not in TASK_RUNNER_ACCESS


def test_every_keptn_crd_the_watcher_reads_or_writes_exists() -> None:
    crds = {(c["spec"]["group"], c["spec"]["names"]["plural"]) for c in committed_crds().values()}
    for group, resource, _ in watcher_access() | TASK_RUNNER_ACCESS:
        if group.endswith("keptn.sh"):
            assert (group, resource.split("/")[0]) in crds, resource


def test_rbac_is_least_privilege_per_service() -> None:
    docs = render("overlays/production")
    roles = _by_kind(docs, "ClusterRole")
    watcher = _grants(roles["klt-watcher"])
    assert ("", "secrets", "get") not in watcher
    assert not any(verb in {"update", "*"} for _, resource, verb in watcher if "/" not in resource)
    assert _grants(roles["klt-metrics-provider"]) == {("", "secrets", "get")}
    # Each binding names an existing account; the evaluator has none and no token.
    accounts = _by_kind(docs, "ServiceAccount")
    bound = {s["name"] for b in _by_kind(docs, "ClusterRoleBinding").values() for s in b["subjects"]}
    assert bound == {"klt-watcher", "klt-task-runner", "klt-metrics-provider"} and bound <= set(accounts)
    assert accounts["klt-evaluator"]["automountServiceAccountToken"] is False
    evaluator = _one(docs, "Deployment", "klt-evaluator")["spec"]["template"]["spec"]
    assert evaluator["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_watcher_task_runner_and_metrics_provider_run_in_kubernetes_mode_in_cluster(overlay: str) -> None:
    docs = render(overlay)
    config_maps = _config_maps(docs)
    watcher_pod = _one(docs, "Deployment", "klt-watcher")["spec"]["template"]["spec"]
    (container,) = watcher_pod["containers"]
    watcher = watcher_config(container_env(container, config_maps))
    assert watcher.kubernetes and watcher.kubeconfig == ""  # in-cluster service account
    assert watcher.webhook_enabled
    (port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "webhook"]
    assert watcher.webhook_port == port
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[watcher.webhook_cert_dir] == "webhook-certs"
    volumes = {v["name"]: v for v in watcher_pod["volumes"]}
    assert volumes["webhook-certs"]["secret"]["secretName"] == "klt-webhook-certs"
    (runner_container,) = _one(docs, "Deployment", "klt-task-runner")["spec"]["template"]["spec"][
        "containers"
    ]
    runner = task_runner_config(container_env(runner_container, config_maps))
    assert runner.kubernetes and runner.kubeconfig == ""
    (provider_container,) = _one(docs, "Deployment", "klt-metrics-provider")["spec"]["template"]["spec"][
        "containers"
    ]
    provider = metrics_provider_config(container_env(provider_container, config_maps))
    assert provider.kubernetes and provider.kubeconfig == ""  # secretKeyRef read from the API


def _pods(docs: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [d["spec"]["template"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_pdbs_and_policies_select_real_pods(overlay: str) -> None:
    docs = render(overlay)
    pods = _pods(docs)

    def matching(selector: dict[str, str]) -> list[dict[str, Any]]:
        return [p for p in pods if selector.items() <= p["metadata"]["labels"].items()]

    for service in _by_kind(docs, "Service").values():
        (pod,) = {id(p): p for p in matching(service["spec"]["selector"])}.values()
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, service["metadata"]["name"]
    for pdb in _by_kind(docs, "PodDisruptionBudget").values():
        assert len(matching(pdb["spec"]["selector"]["matchLabels"])) == 1, pdb["metadata"]["name"]
        assert pdb["spec"]["maxUnavailable"] == 1
    policy = _one(docs, "NetworkPolicy", "klt-nats")
    clients = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert len(matching(clients)) == len(pods), "every klt pod may reach NATS"


def test_metrics_provider_is_probed_on_its_health_port() -> None:
    deployment = _one(render("overlays/production"), "Deployment", "klt-metrics-provider")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "http", "containerPort": 9999} in container["ports"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}


@pytest.mark.parametrize(("overlay", "low", "high"), [("overlays/dev", 1, 2), ("overlays/production", 2, 10)])
def test_the_task_runner_scales_on_cpu(overlay: str, low: int, high: int) -> None:
    docs = render(overlay)
    (hpa,) = _by_kind(docs, "HorizontalPodAutoscaler").values()
    target = hpa["spec"]["scaleTargetRef"]
    deployment = _one(docs, target["kind"], target["name"])
    assert target["name"] == "klt-task-runner"
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a CPU request"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (low, high)
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_readme_documents_the_apply_command() -> None:
    readme = (REPO / "deploy/README.md").read_text()
    assert "kubectl apply -k deploy/kustomize/overlays/production" in readme
    assert Path(REPO / "deploy/kustomize/overlays/production/kustomization.yaml").exists()
