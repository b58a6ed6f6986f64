"""``klt apply -f``: check manifests and store them as desired state in a running stack."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from klt.inputs import InputError, check_input
from klt.inspecting import session
from shared.runtime.desired import put_desired
from shared.runtime.settings import CommonSettings
from shared.subjects import Names


async def apply(settings: CommonSettings, paths: Sequence[str], namespace: str | None) -> int:
    """Exit 0 when stored, 2 when the input has problems (then nothing is stored)."""
    try:
        checked = check_input(paths, namespace, settings.keptn_namespace)
    except InputError as exc:
        sys.stderr.write("klt apply: the input has problems; nothing was applied:\n")
        for problem in exc.problems:
            sys.stderr.write(f"  {problem}\n")
        return 2
    async with session(settings) as nc:
        kv = await nc.jetstream().key_value(Names(settings.prefix).desired_bucket)
        changed = await put_desired(kv, checked.manifests)
    for kind, ns, name, _ in checked.manifests.objects():
        sys.stdout.write(f"{kind.lower()}/{name} ({ns}) applied\n")
    if checked.manifests.secrets:
        sys.stdout.write(
            "Secrets are never sent over NATS: the task-runner reads them from the paths given to "
            "`klt up --secrets` (or `--watch`).\n"
        )
    sys.stdout.write(f"{changed} object(s) changed.\n")
    return 0
