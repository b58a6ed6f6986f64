"""``klt get`` tables with KLT's printer columns (``kubectl get keptnappversions`` and friends)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.keptn.lifecycle import KeptnAppVersion, KeptnEvaluation, KeptnTask, KeptnWorkloadVersion

Row = Sequence[str]


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Row]

    def render(self) -> str:
        if not self.rows:
            return "No resources found."
        cells = [list(self.headers), *[list(row) for row in self.rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.headers))]
        return "\n".join(
            "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
        )


def app_versions_table(items: list[KeptnAppVersion], wide: bool) -> Table:
    headers = ["NAMESPACE", "NAME", "APPNAME", "VERSION", "PHASE", "STATUS"]
    if wide:
        headers += [
            "PREDEPLOYMENTSTATUS",
            "PREDEPLOYMENTEVALUATIONSTATUS",
            "WORKLOADOVERALLSTATUS",
            "POSTDEPLOYMENTSTATUS",
            "POSTDEPLOYMENTEVALUATIONSTATUS",
        ]

    def row(av: KeptnAppVersion) -> Row:
        s = av.status
        cells = [
            av.metadata.namespace,
            av.metadata.name,
            av.spec.app_name,
            av.spec.version,
            s.current_phase,
            s.status,
        ]
        if wide:
            cells += [
                s.pre_deployment_status,
                s.pre_deployment_evaluation_status,
                s.workload_overall_status,
                s.post_deployment_status,
                s.post_deployment_evaluation_status,
            ]
        return cells

    return Table(headers, [row(av) for av in items])


def workload_versions_table(items: list[KeptnWorkloadVersion], wide: bool) -> Table:
    headers = ["NAMESPACE", "NAME", "APPNAME", "WORKLOADNAME", "WORKLOADVERSION", "PHASE", "STATUS"]
    if wide:
        headers += [
            "PREDEPLOYMENTSTATUS",
            "PREDEPLOYMENTEVALUATIONSTATUS",
            "DEPLOYMENTSTATUS",
            "POSTDEPLOYMENTSTATUS",
            "POSTDEPLOYMENTEVALUATIONSTATUS",
        ]

    def row(wv: KeptnWorkloadVersion) -> Row:
        s = wv.status
        cells = [
            wv.metadata.namespace,
            wv.metadata.name,
            wv.spec.app,
            wv.spec.workload_name,
            wv.spec.version,
            s.current_phase,
            s.status,
        ]
        if wide:
            cells += [
                s.pre_deployment_status,
                s.pre_deployment_evaluation_status,
                s.deployment_status,
                s.post_deployment_status,
                s.post_deployment_evaluation_status,
            ]
        return cells

    return Table(headers, [row(wv) for wv in items])


def tasks_table(items: list[KeptnTask], wide: bool) -> Table:
    headers = [
        "NAMESPACE",
        "NAME",
        "APPNAME",
        "APPVERSION",
        "WORKLOADNAME",
        "WORKLOADVERSION",
        "JOB NAME",
        "STATUS",
    ]
    if wide:
        headers += ["ATTEMPTS", "REASON", "MESSAGE"]

    def row(task: KeptnTask) -> Row:
        c = task.spec.context
        cells = [
            task.metadata.namespace,
            task.metadata.name,
            c.app_name,
            c.app_version,
            c.workload_name,
            c.workload_version,
            task.status.job_name,
            task.status.status,
        ]
        if wide:
            cells += [str(task.status.attempts), task.status.reason, task.status.message]
        return cells

    return Table(headers, [row(task) for task in items])


def evaluations_table(items: list[KeptnEvaluation], wide: bool) -> Table:
    headers = [
        "NAMESPACE",
        "NAME",
        "APPNAME",
        "APPVERSION",
        "WORKLOADNAME",
        "WORKLOADVERSION",
        "RETRYCOUNT",
        "EVALUATIONSTATUS",
        "OVERALLSTATUS",
    ]

    def row(evaluation: KeptnEvaluation) -> Row:
        s = evaluation.status
        objectives = ",".join(
            f"{metric}={item.status}" for metric, item in sorted(s.evaluation_status.items())
        )
        return [
            evaluation.metadata.namespace,
            evaluation.metadata.name,
            evaluation.spec.app_name,
            evaluation.spec.app_version,
            evaluation.spec.workload,
            evaluation.spec.workload_version,
            str(s.retry_count),
            objectives,
            s.overall_status,
        ]

    return Table(headers, [row(e) for e in items])


def metrics_table(items: list[tuple[str, str, str, str, str]], wide: bool) -> Table:
    """Rows of (namespace, name, provider, query, value), as KLT's KeptnMetric columns."""
    return Table(["NAMESPACE", "NAME", "PROVIDER", "QUERY", "VALUE"], [list(item) for item in items])
