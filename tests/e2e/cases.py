"""Building manifest folders for end-to-end tests: small YAML documents written into a temp folder."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path


def write(folder: Path, name: str, *documents: str) -> Path:
    """Write ``documents`` (YAML text, dedented) as one multi-document file ``name`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n---\n".join(textwrap.dedent(doc).strip() + "\n" for doc in documents))
    return path


def deployment(
    name: str,
    *,
    namespace: str = "shop",
    app: str | None = None,
    version: str = "1.0.0",
    pre_tasks: str = "",
    post_tasks: str = "",
    pre_evaluations: str = "",
    post_evaluations: str = "",
    kind: str = "Deployment",
    annotations: dict[str, str] | None = None,
) -> str:
    """A workload with KLT's pod-template annotations."""
    notes = {"keptn.sh/workload": name, "keptn.sh/version": version}
    if app:
        notes["keptn.sh/app"] = app
    for key, value in (
        ("keptn.sh/pre-deployment-tasks", pre_tasks),
        ("keptn.sh/post-deployment-tasks", post_tasks),
        ("keptn.sh/pre-deployment-evaluations", pre_evaluations),
        ("keptn.sh/post-deployment-evaluations", post_evaluations),
    ):
        if value:
            notes[key] = value
    notes.update(annotations or {})
    replicas = "" if kind == "DaemonSet" else "\n  replicas: 1"
    rendered = "\n".join(f"        {key}: {json.dumps(value)}" for key, value in notes.items())
    return f"""
apiVersion: apps/v1
kind: {kind}
metadata:
  name: {name}
  namespace: {namespace}
spec:{replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
      annotations:
{rendered}
    spec:
      containers:
        - name: {name}
          image: example/{name}:{version}
"""


def deno_task(
    name: str,
    code: str,
    *,
    namespace: str = "shop",
    extra_spec: str = "",
    params: dict[str, str] | None = None,
    secret: str = "",
) -> str:
    """A v1 KeptnTaskDefinition running inline Deno code."""
    body = textwrap.indent(textwrap.dedent(code).strip(), " " * 8)
    lines = [
        "apiVersion: lifecycle.keptn.sh/v1",
        "kind: KeptnTaskDefinition",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        "spec:",
        "  deno:",
        "    inline:",
        "      code: |",
        body,
    ]
    if params:
        lines += ["    parameters:", "      map:"] + [
            f"        {k}: {json.dumps(v)}" for k, v in params.items()
        ]
    if secret:
        lines += ["    secureParameters:", f"      secret: {secret}"]
    if extra_spec:
        lines += [textwrap.indent(textwrap.dedent(extra_spec).strip(), "  ")]
    return "\n".join(lines)


def secret(name: str, secure_data: str, *, namespace: str = "shop", encoded: bool = False) -> str:
    if encoded:
        value = base64.b64encode(secure_data.encode()).decode()
        return f"""
apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {namespace}
data:
  SECURE_DATA: {value}
"""
    return f"""
apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {namespace}
stringData:
  SECURE_DATA: {json.dumps(secure_data)}
"""


def namespace(name: str = "shop") -> str:
    return f"""
apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  annotations:
    keptn.sh/lifecycle-toolkit: "enabled"
"""


def prometheus_provider(url: str, *, name: str = "prometheus", namespace: str = "shop") -> str:
    return f"""
apiVersion: metrics.keptn.sh/v1
kind: KeptnMetricsProvider
metadata:
  name: {name}
  namespace: {namespace}
spec:
  type: prometheus
  targetServer: "{url}"
"""


def metric(name: str, query: str, *, provider: str = "prometheus", namespace: str = "shop") -> str:
    return f"""
apiVersion: metrics.keptn.sh/v1
kind: KeptnMetric
metadata:
  name: {name}
  namespace: {namespace}
spec:
  provider:
    name: {provider}
  query: {json.dumps(query)}
  fetchIntervalSeconds: 5
"""


def evaluation(
    name: str,
    metric_name: str,
    target: str,
    *,
    namespace: str = "shop",
    retries: int = 2,
    interval: str = "200ms",
) -> str:
    return f"""
apiVersion: lifecycle.keptn.sh/v1
kind: KeptnEvaluationDefinition
metadata:
  name: {name}
  namespace: {namespace}
spec:
  retries: {retries}
  retryInterval: {interval}
  objectives:
    - keptnMetricRef:
        name: {metric_name}
      evaluationTarget: {json.dumps(target)}
"""
