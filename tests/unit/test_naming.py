"""KLT's names and version rules against the values quoted in klt-facts (§1.1, §1.5-§1.8, §2)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.naming import (
    MAX_K8S_OBJECT_LENGTH,
    MIN_KEPTN_NAME_LEN,
    VersionError,
    app_version_name,
    compute_version_from_workloads,
    create_resource_name,
    derive_version,
    evaluation_name,
    generation_hash,
    get_label_or_annotation,
    image_tag,
    parse_metadata,
    resource_name,
    sanitize,
    split_list,
    task_name,
    workload_name,
    workload_version_name,
)


@dataclass
class Env:
    name: str
    value: str = ""


@dataclass
class Container:
    name: str
    image: str
    env: list[Env] = field(default_factory=list)


@pytest.mark.parametrize(("generation", "expected"), [(1, "6b86b273"), (2, "d4735e3a"), (3, "4e074085")])
def test_generation_hash_matches_klt(generation: int, expected: str) -> None:
    assert generation_hash(generation) == expected


def test_app_version_names_hash_the_generation() -> None:
    assert app_version_name("waiter", "0.4", 1) == "waiter-0.4-6b86b273"
    # restartable-app: revision 34 is irrelevant, generation 3 is hashed.
    assert app_version_name("podtato-head", "1.3", 3) == "podtato-head-1.3-4e074085"


def test_versions_with_underscores_are_sanitized_in_names() -> None:
    assert app_version_name("waiter", "0.4.0_1", 1) == "waiter-0.4.0-1-6b86b273"
    assert workload_version_name(workload_name("waiter", "waiter"), "0.4.0_1") == "waiter-waiter-0.4.0-1"


def test_workload_names_get_the_app_prefix() -> None:
    assert workload_name("waiter", "waiter") == "waiter-waiter"
    assert workload_version_name("waiter-waiter", "0.4") == "waiter-waiter-0.4"
    assert (
        workload_version_name(workload_name("podtato-head", "podtato-head-entry"), "0.1.0")
        == "podtato-head-podtato-head-entry-0.1.0"
    )


def test_sanitize_lowercases_and_replaces_underscores() -> None:
    assert sanitize("My_App") == "my-app"
    assert resource_name("My_App", "V1") == "my-app-v1"


def test_resource_name_keeps_short_names_whole() -> None:
    assert create_resource_name(253, 80, "a", "b", "c") == "a-b-c"


def test_resource_name_cuts_the_first_part_down_to_the_minimum_first() -> None:
    long_app = "a" * 200
    name = create_resource_name(MAX_K8S_OBJECT_LENGTH, MIN_KEPTN_NAME_LEN, long_app, "w" * 100, "1.0")
    assert len(name) == MAX_K8S_OBJECT_LENGTH
    assert name.endswith("-" + "w" * 100 + "-1.0")  # later parts untouched while the first can give
    assert name.startswith("a" * (253 - 100 - 3 - 2))


def test_resource_name_never_cuts_the_last_part_and_halves_the_minimum() -> None:
    # 4 parts x 80 > 253, so the minimum is halved to 40.
    name = create_resource_name(253, 80, "a" * 100, "b" * 100, "c" * 100, "d" * 30)
    assert name.split("-")[-1] == "d" * 30
    assert len(name) == 253
    assert name.split("-")[0] == "a" * 40


@given(st.lists(st.text(alphabet="abc-_XY0", min_size=1, max_size=150), min_size=1, max_size=5))
def test_resource_name_fits_when_the_minimums_allow(parts: list[str]) -> None:
    name = create_resource_name(253, 80, *parts)
    assert name == name.lower() and "_" not in name
    minimum = 80
    while len(parts) * minimum > 253:
        minimum //= 2
    floor = sum(min(len(p), minimum) for p in parts[:-1]) + len(parts[-1]) + len(parts) - 1
    assert len(name) <= max(253, floor)


def test_task_names_look_like_klt_and_are_deterministic() -> None:
    first = task_name("pre", "notify", "uid-1:WorkloadPreDeployTasks:notify")
    assert re.fullmatch(r"pre-notify-\d{5}", first)
    assert task_name("pre", "notify", "uid-1:WorkloadPreDeployTasks:notify") == first
    assert task_name("pre", "notify", "uid-2:WorkloadPreDeployTasks:notify") != first
    evaluation = evaluation_name("pre-eval", "evaluate-dependencies", "uid-1")
    assert re.fullmatch(r"pre-eval-evaluate-dependencies-\d{5}", evaluation)


@given(st.text(max_size=40))
def test_task_name_numbers_stay_in_klts_range(seed: str) -> None:
    number = int(task_name("post", "x", seed).rsplit("-", 1)[1])
    assert 10000 <= number < 99998


def test_label_or_annotation_order() -> None:
    labels = {"keptn.sh/workload": "from-label", "app.kubernetes.io/name": "k8s-label"}
    annotations = {"app.kubernetes.io/name": "k8s-annotation"}
    assert get_label_or_annotation(labels, annotations, "keptn.sh/workload", "app.kubernetes.io/name") == (
        "from-label"
    )
    annotations["keptn.sh/workload"] = "from-annotation"
    assert get_label_or_annotation(labels, annotations, "keptn.sh/workload", "app.kubernetes.io/name") == (
        "from-annotation"
    )
    assert (
        get_label_or_annotation(
            {}, {"app.kubernetes.io/name": "x"}, "keptn.sh/workload", "app.kubernetes.io/name"
        )
        == "x"
    )
    assert (
        get_label_or_annotation(
            {"app.kubernetes.io/name": "y"}, {}, "keptn.sh/workload", "app.kubernetes.io/name"
        )
        == "y"
    )
    assert get_label_or_annotation({}, {}, "keptn.sh/workload", "app.kubernetes.io/name") is None


def test_empty_values_do_not_count() -> None:
    assert get_label_or_annotation({"keptn.sh/app": "label"}, {"keptn.sh/app": ""}, "keptn.sh/app") == "label"
    assert (
        get_label_or_annotation({"keptn.sh/app": ""}, {}, "keptn.sh/app", "app.kubernetes.io/part-of") is None
    )


def test_lists_split_on_commas_without_trimming_and_drop_empty_items() -> None:
    assert split_list("a,b") == ["a", "b"]
    assert split_list("a, b") == ["a", " b"]
    assert split_list("a,,b,") == ["a", "b"]
    assert split_list(None) == []


def test_metadata_items_need_exactly_one_equals_sign() -> None:
    assert parse_metadata("k1=v1,k2=v2") == {"k1": "v1", "k2": "v2"}
    assert parse_metadata("ok=1,broken,a=b=c,=empty-key") == {"ok": "1", "": "empty-key"}
    assert parse_metadata("") == {}


def test_image_tag_is_after_the_last_colon() -> None:
    assert image_tag("busybox:1.36") == "1.36"
    assert image_tag("registry:5000/app") == "5000/app"  # KLT takes the text after the last ':'
    assert image_tag("busybox") == ""


def test_version_from_the_named_containers_tag() -> None:
    containers = [Container("side", "envoy:1.2"), Container("app", "busybox:1.36")]
    assert derive_version(containers, "app") == "1.36"


def test_latest_or_missing_tags_fall_back_to_the_hash() -> None:
    latest = [Container("app", "busybox:latest")]
    untagged = [Container("app", "busybox")]
    assert derive_version(latest, "app") == derive_version(latest)
    assert derive_version(untagged, "app") == derive_version(untagged)
    assert derive_version(latest).isdigit()


def test_version_hash_is_fnv32a_over_name_image_and_env() -> None:
    # FNV-32a of "appbusybox:1.36" + "MODEdev" + "EMPTY" (a valueFrom entry counts as "").
    containers = [Container("app", "busybox:1.36", [Env("MODE", "dev"), Env("EMPTY")])]
    assert derive_version(containers) == str(_fnv32a(b"appbusybox:1.36MODEdevEMPTY"))
    changed = [Container("app", "busybox:1.36", [Env("MODE", "prod"), Env("EMPTY")])]
    assert derive_version(changed) != derive_version(containers)


def _fnv32a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) % 2**32
    return h


def test_known_fnv32a_vectors() -> None:
    # Published FNV-1a 32-bit test vectors.
    assert derive_version([Container("", "")]) == str(0x811C9DC5)
    assert derive_version([Container("a", "")]) == str(0xE40C292C)
    assert derive_version([Container("foo", "")]) == str(0xA9F37ED7)


def test_naming_a_missing_container_is_an_error() -> None:
    with pytest.raises(VersionError, match=re.escape("'web' specified in keptn.sh/container does not match")):
        derive_version([Container("app", "busybox:1.36")], "web")


def test_app_version_from_workloads_matches_klts_podtato_head() -> None:
    parts = ["entry", "hat", "left-arm", "right-arm", "left-leg", "right-leg"]
    workloads = [(f"podtato-head-podtato-head-{p}", "0.1.0") for p in parts]
    version = compute_version_from_workloads(workloads)
    assert version == "95a0b0ddca"
    assert compute_version_from_workloads(reversed(workloads)) == version  # sorted by name
    assert app_version_name("podtato-head", version, 1) == "podtato-head-95a0b0ddca-6b86b273"


def test_a_single_workloads_version_is_the_apps_version() -> None:
    assert compute_version_from_workloads([("waiter-waiter", "0.4.0_1")]) == "0.4.0_1"
