"""Reading and checking the manifests given to ``klt run`` / ``klt apply`` before anything runs.

Bad input is reported all at once, each problem naming file, document, field and what was expected;
nothing is started or stored when there is any (exit code 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.derivation import DerivedLifecycle, derive
from shared.manifests import ManifestErrors, ManifestSet, load_paths, validate
from shared.naming import app_version_name


class InputError(Exception):
    """The manifests cannot be run; ``problems`` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CheckedInput:
    manifests: ManifestSet
    derived: DerivedLifecycle

    def expected_app_versions(self) -> list[tuple[str, str]]:
        """(namespace, name) of every AppVersion this input will create, in a stable order."""
        return sorted(
            (namespace, app_version_name(app.metadata.name, app.spec.version, app.metadata.generation))
            for (namespace, _), app in self.derived.apps.items()
        )


def check_input(paths: Sequence[str], default_namespace: str | None, keptn_namespace: str) -> CheckedInput:
    """Load, validate and derive; raise ``InputError`` listing every problem found."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise InputError([f"{p}: no such file or directory" for p in missing])
    try:
        manifests = load_paths(paths, default_namespace)
    except ManifestErrors as exc:
        raise InputError([str(error) for error in exc.errors]) from exc
    problems = [str(error) for error in validate(manifests, keptn_namespace)]
    derived = derive(manifests)
    problems += [str(problem) for problem in derived.problems]
    if problems:
        raise InputError(problems)
    if not derived.workloads:
        raise InputError(
            [
                "no workload to release: none of the given manifests is a Deployment, StatefulSet, DaemonSet "
                "or ReplicaSet with a keptn.sh/workload or app.kubernetes.io/name annotation or label"
            ]
        )
    return CheckedInput(manifests=manifests, derived=derived)
