"""What KLT's webhook and app controller would create for a folder (klt-facts §2.1-§2.3)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

from shared.derivation import DerivedLifecycle, derive, resource_uid
from shared.manifests import load_paths
from shared.naming import app_version_name, workload_version_name

DATA = Path(__file__).parent / "data"


def derived(tmp_path: Path, *documents: str) -> DerivedLifecycle:
    path = tmp_path / "manifests.yaml"
    path.write_text("---\n".join(dedent(d).lstrip("\n") for d in documents))
    return derive(load_paths([path], default_namespace="shop"))


def deployment(
    name: str, pod_annotations: str = "", *, own: str = "", image: str = "web:1", labels: str = ""
) -> str:
    return dedent(f"""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          annotations: {{{own}}}
        spec:
          template:
            metadata:
              labels: {{{labels}}}
              annotations: {{{pod_annotations}}}
            spec:
              containers:
                - name: {name}
                  image: "{image}"
    """)


def problems_of(result: DerivedLifecycle, tmp_path: Path) -> list[str]:
    return [str(p).replace(f"{tmp_path}/manifests.yaml:", "") for p in result.problems]


def test_simplenode_dev_gives_klts_objects() -> None:
    result = derive(load_paths([DATA / "simplenode-dev"]))
    workload = result.workloads[("simplenode-dev", "simplenode-simplenode")]
    assert workload.spec.app == "simplenode" and workload.spec.version == "1.0.2"
    assert workload.spec.pre_deployment_tasks == ["notify"] and workload.spec.post_deployment_tasks == [
        "notify"
    ]
    assert workload.spec.pre_deployment_evaluations == ["evaluate-dependencies"]
    assert workload.spec.post_deployment_evaluations == ["evaluate-deployment"]
    ref = workload.spec.resource_reference
    assert (ref.kind, ref.name, ref.uid) == (
        "Deployment",
        "simplenode",
        resource_uid("Deployment", "simplenode-dev", "simplenode"),
    )
    app = result.apps[("simplenode-dev", "simplenode")]
    assert app.metadata.labels == {"app.kubernetes.io/managed-by": "keptn"}
    assert app.spec.version == "1.0.2" and [(w.name, w.version) for w in app.spec.workloads] == [
        ("simplenode", "1.0.2")
    ]
    assert (
        app_version_name(app.metadata.name, app.spec.version, app.metadata.generation)
        == "simplenode-1.0.2-6b86b273"
    )
    assert (
        workload_version_name(workload.metadata.name, workload.spec.version) == "simplenode-simplenode-1.0.2"
    )
    assert result.contexts[("simplenode-dev", "simplenode")].spec.pre_deployment_tasks == []
    assert result.problems == [] and result.skipped == []
    assert result.sources[("simplenode-dev", "simplenode-simplenode")] == (
        "Deployment",
        "simplenode-dev",
        "simplenode",
    )


def test_uids_are_stable_and_distinct() -> None:
    assert resource_uid("Deployment", "a", "b") == resource_uid("Deployment", "a", "b")
    assert resource_uid("Deployment", "a", "b") != resource_uid("StatefulSet", "a", "b")


def test_versions_are_lowercased_and_sanitized_only_in_names(tmp_path: Path) -> None:
    result = derived(
        tmp_path, deployment("waiter", "keptn.sh/workload: waiter, keptn.sh/version: 0.4.0_1-RC")
    )
    workload = result.workloads[("shop", "waiter-waiter")]
    assert workload.spec.version == "0.4.0_1-rc"
    app = result.apps[("shop", "waiter")]
    assert app_version_name("waiter", app.spec.version, 1) == "waiter-0.4.0-1-rc-6b86b273"
    assert workload_version_name(workload.metadata.name, workload.spec.version) == "waiter-waiter-0.4.0-1-rc"


def test_recommended_kubernetes_labels_work_as_fallbacks(tmp_path: Path) -> None:
    labels = (
        "app.kubernetes.io/name: cart, app.kubernetes.io/part-of: shop-app, app.kubernetes.io/version: '2.0'"
    )
    result = derived(tmp_path, deployment("cart-v2", labels=labels))
    workload = result.workloads[("shop", "shop-app-cart")]
    assert (workload.spec.app, workload.spec.version) == ("shop-app", "2.0")


def test_without_a_version_key_the_version_comes_from_the_containers(tmp_path: Path) -> None:
    tagged = deployment(
        "web", "keptn.sh/workload: web, keptn.sh/container: web", image="registry.example.org/web:3.1"
    )
    latest = deployment("api", "keptn.sh/workload: api, keptn.sh/container: api", image="api:latest")
    result = derived(tmp_path, tagged, latest)
    assert result.workloads[("shop", "web-web")].spec.version == "3.1"
    assert result.workloads[("shop", "api-api")].spec.version.isdigit()


def test_a_missing_container_name_is_a_problem(tmp_path: Path) -> None:
    result = derived(tmp_path, deployment("web", "keptn.sh/workload: web, keptn.sh/container: nginx"))
    assert result.workloads == {}
    assert problems_of(result, tmp_path) == [
        "10: document 1 (Deployment web): spec.template.metadata.annotations['keptn.sh/container']: The "
        "container "
        "name 'nginx' specified in keptn.sh/container does not match any containers in the pod; set "
        "keptn.sh/version or name an existing container"
    ]


def test_keys_are_copied_from_the_workload_object_when_the_pod_has_none(tmp_path: Path) -> None:
    own = (
        "keptn.sh/workload: db, keptn.sh/app: store, keptn.sh/pre-deployment-tasks: 'backup,check', "
        "keptn.sh/metadata: 'team=data,tier=1'"
    )
    result = derived(
        tmp_path, deployment("postgres", "keptn.sh/version: ignored-without-workload-key", own=own)
    )
    workload = result.workloads[("shop", "store-db")]
    assert workload.spec.app == "store"
    assert workload.spec.pre_deployment_tasks == ["backup", "check"]
    assert workload.spec.metadata == {"team": "data", "tier": "1"}
    # The parent has no version, so the webhook derives one from the pod, ignoring the pod's own key.
    assert workload.spec.version.isdigit()


def test_workload_objects_without_a_workload_key_are_skipped_with_a_reason(tmp_path: Path) -> None:
    result = derived(tmp_path, deployment("plain", "keptn.sh/version: '1'"))
    assert result.workloads == {} and result.apps == {}
    assert result.skipped == [
        "Deployment shop/plain has no keptn.sh/workload or app.kubernetes.io/name label or annotation (on "
        "its "
        "pod template or itself), so it is not a Keptn workload"
    ]


def test_a_multi_workload_app_gets_klts_version_hash(tmp_path: Path) -> None:
    parts = ["entry", "hat", "left-arm", "right-arm", "left-leg", "right-leg"]
    documents = [
        deployment(
            f"podtato-head-{p}",
            f"keptn.sh/app: podtato-head, keptn.sh/workload: podtato-head-{p}, keptn.sh/version: 0.1.0",
        )
        for p in parts
    ]
    result = derived(tmp_path, *documents)
    app = result.apps[("shop", "podtato-head")]
    assert app.spec.version == "95a0b0ddca"
    assert app_version_name("podtato-head", app.spec.version, 1) == "podtato-head-95a0b0ddca-6b86b273"
    assert sorted(w.name for w in app.spec.workloads) == sorted(f"podtato-head-{p}" for p in parts)
    assert ("shop", "podtato-head-podtato-head-entry") in result.workloads


def test_a_user_app_is_kept_and_checked_against_the_workloads(tmp_path: Path) -> None:
    app = """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnApp
        metadata: {name: shop-app}
        spec:
          version: "1.0.0"
          workloads:
            - {name: cart, version: "2.0"}
            - {name: search, version: "1.0"}
            - {name: ghost, version: "1.0"}
    """
    cart = deployment("cart", "keptn.sh/app: shop-app, keptn.sh/workload: cart, keptn.sh/version: '2.0'")
    search = deployment(
        "search", "keptn.sh/app: shop-app, keptn.sh/workload: search, keptn.sh/version: '1.1'"
    )
    extra = deployment("extra", "keptn.sh/app: shop-app, keptn.sh/workload: extra, keptn.sh/version: '1'")
    result = derived(tmp_path, app, cart, search, extra)
    kept = result.apps[("shop", "shop-app")]
    assert kept.spec.version == "1.0.0" and "app.kubernetes.io/managed-by" not in kept.metadata.labels
    assert not result.is_managed("shop", "shop-app")
    assert problems_of(result, tmp_path) == [
        "8: document 1 (KeptnApp shop-app): spec.workloads[1].version: workload 'search' has version '1.1' "
        "in its "
        "manifest, not '1.0'; the app would wait for version '1.0' forever",
        "9: document 1 (KeptnApp shop-app): spec.workloads[2].name: workload 'ghost' is not in the "
        "manifests: no "
        "Deployment, StatefulSet, DaemonSet or ReplicaSet in namespace 'shop' has keptn.sh/app: shop-app and "
        "keptn.sh/workload: ghost; the app would wait for it forever",
        "50: document 4 (Deployment extra): spec.template.metadata.annotations['keptn.sh/app']: its app "
        "'shop-app' "
        "is a KeptnApp that does not list workload 'extra'; add {name: extra, version: 1} to spec.workloads "
        "of "
        "KeptnApp shop-app",
    ]


def test_a_managed_user_app_is_synced_like_an_auto_created_one(tmp_path: Path) -> None:
    app = """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnApp
        metadata: {name: web, labels: {app.kubernetes.io/managed-by: keptn}}
        spec: {version: "old", workloads: [{name: gone, version: "1"}]}
    """
    result = derived(tmp_path, app, deployment("web", "keptn.sh/workload: web, keptn.sh/version: '5'"))
    synced = result.apps[("shop", "web")]
    assert synced.spec.version == "5" and [w.name for w in synced.spec.workloads] == ["web"]
    assert result.is_managed("shop", "web") and result.problems == []


def test_old_app_lists_become_the_apps_context(tmp_path: Path) -> None:
    app = """
        apiVersion: lifecycle.keptn.sh/v1alpha3
        kind: KeptnApp
        metadata: {name: simpleapp}
        spec:
          version: "1.0.0"
          workloads: [{name: simplenode, version: 1.0.2}]
          preDeploymentEvaluations: [app-pre-deploy-eval]
    """
    node = deployment(
        "simplenode", "keptn.sh/app: simpleapp, keptn.sh/workload: simplenode, keptn.sh/version: 1.0.2"
    )
    result = derived(tmp_path, app, node)
    assert result.problems == []
    assert result.apps[("shop", "simpleapp")].spec.version == "1.0.0"
    assert result.contexts[("shop", "simpleapp")].spec.pre_deployment_evaluations == ["app-pre-deploy-eval"]


def test_two_objects_claiming_one_workload_is_a_problem(tmp_path: Path) -> None:
    result = derived(
        tmp_path,
        deployment("a", "keptn.sh/workload: same, keptn.sh/version: '1'"),
        deployment("b", "keptn.sh/workload: same, keptn.sh/version: '2'"),
    )
    assert len(result.workloads) == 1
    (problem,) = problems_of(result, tmp_path)
    assert "Deployment a is already the workload 'same' of app 'same'" in problem
    assert problem.startswith("25: document 2 (Deployment b)")


def test_a_context_without_an_app_is_a_problem(tmp_path: Path) -> None:
    context = """
        apiVersion: lifecycle.keptn.sh/v1
        kind: KeptnAppContext
        metadata: {name: typo}
    """
    result = derived(tmp_path, context, deployment("web", "keptn.sh/workload: web, keptn.sh/version: '1'"))
    assert problems_of(result, tmp_path) == [
        "3: document 1 (KeptnAppContext typo): metadata.name: no app named 'typo' in namespace 'shop': no "
        "KeptnApp and no workload with keptn.sh/app: typo, so this context is never used"
    ]


def test_a_bare_replica_set_has_no_parent_to_copy_keys_from(tmp_path: Path) -> None:
    replica_set = deployment("rs", own="keptn.sh/workload: rs").replace(
        "kind: Deployment", "kind: ReplicaSet"
    )
    result = derived(tmp_path, replica_set)
    assert result.workloads == {}
    assert result.skipped[0].startswith("ReplicaSet shop/rs has no keptn.sh/workload")
    pod_keys = deployment("rs", "keptn.sh/workload: rs, keptn.sh/version: '1'").replace(
        "kind: Deployment", "kind: ReplicaSet"
    )
    resource = derived(tmp_path, pod_keys).workloads[("shop", "rs-rs")].spec.resource_reference
    assert (resource.kind, resource.name) == ("ReplicaSet", "rs")
