"""The evaluator: runs KeptnEvaluations — objectives against KeptnMetric values, with retries (§5)."""
