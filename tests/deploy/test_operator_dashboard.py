"""dashboards/canary-operator.json: a Grafana dashboard whose every query parses (promtool) and uses only
the metrics the operator exports (the contract of canary/operator/recorder.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import REPO, metric_names, promtool

DASHBOARD = REPO / "dashboards" / "canary-operator.json"

#: Flagger's metric names (pkg/metrics/recorder.go) and the operator's own.
CONTRACT = {
    "flagger_info",
    "flagger_canary_total",
    "flagger_canary_status",
    "flagger_canary_weight",
    "flagger_canary_duration_seconds",
    "flagger_canary_metric_analysis",
    "flagger_canary_successes_total",
    "flagger_canary_failures_total",
    "canary_metric_threshold",
    "canary_operator_reconcile_duration_seconds",
    "canary_operator_step_lateness_seconds",
    "canary_operator_kube_requests_total",
    "canary_operator_prometheus_queries_total",
    "canary_operator_leader",
    "canary_operator_last_reconcile_timestamp_seconds",
    "canary_last_progress_timestamp_seconds",
    "canary_progress_deadline_seconds",
}
HISTOGRAMS = {
    "flagger_canary_duration_seconds",
    "canary_operator_reconcile_duration_seconds",
    "canary_operator_step_lateness_seconds",
}

#: Grafana's variables, replaced by values of the same shape so promtool can parse the queries.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "1m",
    "$__range": "1h",
    "${namespace}": "test",
    "$namespace": "test",
    "${name}": "podinfo",
    "$name": "podinfo",
}

DOC = json.loads(DASHBOARD.read_text())
PANELS = [p for p in DOC["panels"] if p["type"] != "row"]
EXPRS = [(p["title"], t["expr"]) for p in PANELS for t in p["targets"]]


def substitute(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown variable in {expr}"
    return expr


def base_name(metric: str) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if metric.endswith(suffix) and metric[: -len(suffix)] in HISTOGRAMS:
            return metric[: -len(suffix)]
    return metric


def test_templating() -> None:
    variables = {v["name"]: v for v in DOC["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "name"):
        var = variables[name]
        assert var["type"] == "query"
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert match, query
        assert metric_names(substitute(match.group(1))) <= CONTRACT
        assert match.group(2) == name


def test_panels_are_well_formed() -> None:
    ids = [p["id"] for p in DOC["panels"]]
    assert len(ids) == len(set(ids))
    assert DOC["uid"] == "canary-operator"
    for panel in PANELS:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


@pytest.mark.parametrize(("title", "expr"), EXPRS, ids=[f"{t}:{i}" for i, (t, _) in enumerate(EXPRS)])
def test_queries_use_only_contract_metrics(title: str, expr: str) -> None:
    names = {base_name(m) for m in metric_names(substitute(expr))}
    assert names, expr
    assert names <= CONTRACT, names - CONTRACT


def test_queries_filter_canaries_by_the_variables() -> None:
    for title, expr in EXPRS:
        if "flagger_canary_status" in expr or "flagger_canary_metric_analysis" in expr:
            assert 'namespace=~"$namespace"' in expr and 'name=~"$name"' in expr, title


def test_dashboard_covers_the_contract() -> None:
    used = {base_name(m) for _, expr in EXPRS for m in metric_names(substitute(expr))}
    assert used == CONTRACT, CONTRACT - used


def test_every_query_parses(tmp_path: Path) -> None:
    """promtool has no offline query parser, so the queries become recording rules for `check rules`."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": substitute(expr)} for i, (_, expr) in enumerate(EXPRS)
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_existing_dashboard_still_loads() -> None:
    other: dict[str, Any] = json.loads((REPO / "dashboards" / "canary.json").read_text())
    assert other["uid"] != DOC["uid"]
