"""The test server's pure parts: patches, selectors, the resource table, and store semantics without HTTP."""

from __future__ import annotations

import pytest

from tests.k8s.clock import Clock
from tests.k8s.errors import ApiError
from tests.k8s.patching import json_patch, merge_patch, strategic_merge_patch
from tests.k8s.resources import ResourceTable
from tests.k8s.selectors import labels_match, parse_field_selector, parse_label_selector
from tests.k8s.store import Store


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]}) == {
        "a": "z",
        "c": {"d": "e"},
        "l": [3],
    }
    assert target["c"] == {"d": "e", "f": "g"}, "the target is not modified"


def test_strategic_merge_merges_keyed_lists_and_honours_delete_directives() -> None:
    spec = {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}], "finalizers": ["x"]}
    patched = strategic_merge_patch(
        spec,
        {"containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}], "finalizers": ["y"]},
    )
    assert patched == {"containers": [{"name": "b", "image": "2"}], "finalizers": ["x", "y"]}


def test_json_patch_operations_and_errors() -> None:
    doc = {"a": {"b": [1, 2]}}
    assert json_patch(
        doc,
        [
            {"op": "move", "from": "/a/b/0", "path": "/a/c"},
            {"op": "copy", "from": "/a/c", "path": "/a/b/-"},
            {"op": "add", "path": "/a/k~1x", "value": True},
        ],
    ) == {"a": {"b": [2, 1], "c": 1, "k/x": True}}
    with pytest.raises(ApiError) as missing:
        json_patch(doc, [{"op": "remove", "path": "/nope"}])
    assert missing.value.code == 422
    with pytest.raises(ApiError) as not_a_list:
        json_patch(doc, {"op": "add"})
    assert not_a_list.value.code == 400


def test_label_selector_parsing_and_errors() -> None:
    reqs = parse_label_selector("app.kubernetes.io/name in (a,b), !legacy, tier!=db")
    assert labels_match(reqs, {"metadata": {"labels": {"app.kubernetes.io/name": "a"}}})
    assert not labels_match(reqs, {"metadata": {"labels": {"app.kubernetes.io/name": "a", "legacy": ""}}})
    with pytest.raises(ApiError):
        parse_label_selector("a in b")
    assert parse_field_selector("involvedObject.name=x", "events")({"involvedObject": {"name": "x"}})
    with pytest.raises(ApiError):
        parse_field_selector("involvedObject.name=x", "pods")


def test_resource_table_lookups() -> None:
    table = ResourceTable()
    assert table.lookup("pods").api_version == "v1"
    assert table.lookup("events").group == ""
    assert table.lookup("Deployment").group == "apps"
    assert table.lookup("keptnapps").version == "v1"
    assert table.lookup("kwv").kind == "KeptnWorkloadVersion"
    assert table.lookup("lifecycle.keptn.sh/v1alpha3/keptnapps").version == "v1alpha3"
    assert table.groups()["lifecycle.keptn.sh"][-1] == "v1"
    with pytest.raises(KeyError):
        table.lookup("widgets")


def test_versions_share_storage_and_namespace_deletion_empties_it() -> None:
    store = Store(ResourceTable(), Clock())
    store.create("namespaces", {"metadata": {"name": "team"}})
    old = store.create(
        "lifecycle.keptn.sh/v1alpha3/keptnapps", {"metadata": {"name": "app", "namespace": "team"}}
    )
    assert store.get("keptnapps", "team", "app")["metadata"]["uid"] == old["metadata"]["uid"]
    store.create("configmaps", {"metadata": {"name": "c", "namespace": "team"}})
    store.delete("namespaces", None, "team")
    assert store.list("keptnapps") == [] and store.list("configmaps") == []
    with pytest.raises(ApiError) as gone:
        store.create("configmaps", {"metadata": {"name": "c", "namespace": "team"}})
    assert gone.value.code == 404


def test_custom_resource_update_needs_a_resource_version() -> None:
    store = Store(ResourceTable(), Clock(), strict_namespaces=False)
    made = store.create("keptntasks", {"metadata": {"name": "t", "namespace": "default"}, "spec": {}})
    del made["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as missing:
        store.replace("keptntasks", made)
    assert missing.value.code == 422
