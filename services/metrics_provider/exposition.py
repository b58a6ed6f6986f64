"""KeptnMetric values as Prometheus gauges (§6.3): what ``GET /metrics`` serves, so an HPA adapter or
another Prometheus can scrape the values klt keeps, as they scrape KLT's metrics-operator on ``:9999``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.metrics_provider.aggregation import AggregationError, go_float, parse_value

_NOT_ALNUM = re.compile(r"[^a-zA-Z0-9]+")


def gauge_name(metric_name: str) -> str:
    """KLT's gauge name: runs of non-alphanumerics become one ``_``. A name that would start with a digit
    gets a leading ``_`` (klt addition), since Prometheus metric names cannot start with one."""
    name = _NOT_ALNUM.sub("_", metric_name)
    if not name or name[0].isdigit():
        name = "_" + name
    return name


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(values: Iterable[tuple[str, str, str]]) -> str:
    """The text exposition of ``(namespace, metric name, value)`` triples; a value that is not a number
    (for example one not fetched yet) is left out, as KLT skips what ``ParseFloat`` rejects. When two
    KeptnMetrics map to one gauge name (same name in two namespaces), the first namespace in sorted
    order wins: a gauge is registered once, as in KLT."""
    lines: list[str] = []
    seen: set[str] = set()
    for _namespace, metric_name, value in sorted(values):
        try:
            number = parse_value(value)
        except AggregationError:
            continue
        name = gauge_name(metric_name)
        if name in seen:
            continue
        seen.add(name)
        lines += [
            f"# HELP {name} {_escape_help(metric_name)}",
            f"# TYPE {name} gauge",
            f"{name} {go_float(number)}",
        ]
    return "\n".join(lines) + ("\n" if lines else "")
