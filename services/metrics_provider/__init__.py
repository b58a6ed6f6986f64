"""The metrics-provider: keeps every KeptnMetric fresh, answers on-demand queries, serves HTTP (§6)."""
