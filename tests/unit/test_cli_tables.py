"""`klt get` tables: KLT's printer columns, and what `-o wide` adds."""

from __future__ import annotations

from klt.tables import APP_VERSIONS, WORKLOAD_VERSIONS
from shared.keptn.lifecycle import (
    KeptnAppVersion,
    KeptnAppVersionSpec,
    KeptnWorkloadVersion,
    KeptnWorkloadVersionSpec,
    ResourceReference,
)
from shared.keptn.meta import ObjectMeta
from shared.keptn.states import KeptnState


def test_app_versions_show_klts_columns_and_wide_adds_the_phase_statuses() -> None:
    av = KeptnAppVersion(
        metadata=ObjectMeta(name="podtato-head-0.1.1-6b86b273", namespace="demo"),
        spec=KeptnAppVersionSpec(app_name="podtato-head", version="0.1.1"),
    )
    av.status.current_phase = "AppPreDeployTasks"
    av.status.status = KeptnState.FAILED
    av.status.pre_deployment_status = KeptnState.FAILED
    av.status.workload_overall_status = KeptnState.DEPRECATED
    narrow = APP_VERSIONS.table([av], wide=False).render().splitlines()
    assert narrow[0].split() == ["NAMESPACE", "NAME", "APPNAME", "VERSION", "PHASE", "STATUS"]
    assert narrow[1].split() == [
        "demo",
        "podtato-head-0.1.1-6b86b273",
        "podtato-head",
        "0.1.1",
        "AppPreDeployTasks",
        "Failed",
    ]
    wide = APP_VERSIONS.table([av], wide=True).render().splitlines()
    assert wide[0].split()[6:] == [
        "PREDEPLOYMENTSTATUS",
        "PREDEPLOYMENTEVALUATIONSTATUS",
        "WORKLOADOVERALLSTATUS",
        "POSTDEPLOYMENTSTATUS",
        "POSTDEPLOYMENTEVALUATIONSTATUS",
    ]
    assert wide[1].split()[6:] == ["Failed", "Pending", "Deprecated", "Pending", "Pending"]


def test_workload_versions_wide_shows_the_deployment_status_and_an_empty_table_says_so() -> None:
    wv = KeptnWorkloadVersion(
        metadata=ObjectMeta(name="waiter-waiter-0.4", namespace="demo"),
        spec=KeptnWorkloadVersionSpec(
            app="waiter",
            version="0.4",
            workload_name="waiter-waiter",
            resource_reference=ResourceReference(kind="ReplicaSet", name="waiter-6d4f"),
        ),
    )
    wv.status.current_phase = "WorkloadDeploy"
    wv.status.deployment_status = KeptnState.PROGRESSING
    header, row = (line.split() for line in WORKLOAD_VERSIONS.table([wv], wide=True).render().splitlines())
    assert row[header.index("DEPLOYMENTSTATUS")] == "Progressing"
    assert row[header.index("PHASE")] == "WorkloadDeploy"
    assert WORKLOAD_VERSIONS.table([], wide=False).render() == "No resources found."
