"""Validate Keptn objects against the committed CRDs, as the API server with strict field validation would."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from deploy.crdgen.structural import to_json_schema

REPO = Path(__file__).resolve().parents[2]
CRDS_DIR = REPO / "deploy" / "crds"
KEPTN_GROUPS = ("lifecycle.keptn.sh", "metrics.keptn.sh", "options.keptn.sh")


@cache
def committed_crds() -> dict[str, dict[str, Any]]:
    """CRD name → CRD, read from ``deploy/crds``."""
    crds = {}
    for path in sorted(CRDS_DIR.glob("*_*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        crds[crd["metadata"]["name"]] = crd
    return crds


@cache
def _validator(group: str, kind: str, version: str) -> jsonschema.Draft4Validator:
    for crd in committed_crds().values():
        spec = crd["spec"]
        if spec["group"] == group and spec["names"]["kind"] == kind:
            for entry in spec["versions"]:
                if entry["name"] == version and entry["served"]:
                    return jsonschema.Draft4Validator(to_json_schema(entry["schema"]["openAPIV3Schema"]))
            raise AssertionError(f"{kind} is not served at {group}/{version}")
    raise AssertionError(f"no CRD for {kind} in {group}")


def cr_errors(obj: dict[str, Any]) -> list[str]:
    """Why the API server would refuse ``obj`` (empty if it would store it), as ``path: message``."""
    group, _, version = obj["apiVersion"].rpartition("/")
    validator = _validator(group, obj["kind"], version)
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    ]


def is_keptn(obj: dict[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).rpartition("/")[0] in KEPTN_GROUPS
