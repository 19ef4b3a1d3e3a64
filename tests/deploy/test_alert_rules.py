"""The PrometheusRule (deploy/monitoring, and the chart's): promtool accepts it, and `promtool test rules`
fires each alert when it should and not before (fixtures: alert_rules_test.yaml)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import DEPLOY, helm_template, kustomize, metric_names, one, promtool

FIXTURE = Path(__file__).with_name("alert_rules_test.yaml")

#: The metrics the operator exports (see canary/operator/recorder.py), plus Prometheus' own `up`.
KNOWN_METRICS = {
    "up",
    "flagger_canary_status",
    "flagger_canary_total",
    "canary_last_progress_timestamp_seconds",
    "canary_progress_deadline_seconds",
    "canary_operator_last_reconcile_timestamp_seconds",
    "canary_operator_leader",
}


def deploy_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = one(kustomize(DEPLOY / "monitoring"), "PrometheusRule")["spec"]["groups"]
    return groups


def write_rules(directory: Path, groups: list[dict[str, Any]]) -> Path:
    path = directory / "canary-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    result = promtool("check", "rules", str(write_rules(tmp_path, deploy_groups())))
    assert "SUCCESS: 5 rules found" in result.stdout, result.stdout


def test_promtool_accepts_the_chart_rules(tmp_path: Path) -> None:
    rule = one(
        helm_template("prometheusRule.enabled=true", release="ops", namespace="platform"), "PrometheusRule"
    )
    promtool("check", "rules", str(write_rules(tmp_path, rule["spec"]["groups"])))


def test_alerts_fire_as_specified(tmp_path: Path) -> None:
    write_rules(tmp_path, deploy_groups())
    shutil.copy(FIXTURE, tmp_path / FIXTURE.name)
    result = promtool("test", "rules", FIXTURE.name, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load(FIXTURE.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {r["alert"] for g in deploy_groups() for r in g["rules"]}
    assert alerts == {
        "CanaryFailed",
        "CanaryStuck",
        "CanaryOperatorDown",
        "CanaryOperatorNotReconciling",
        "CanaryOperatorNoLeader",
    }
    assert tested == alerts


@pytest.mark.parametrize("rule", [r for g in deploy_groups() for r in g["rules"]], ids=lambda r: r["alert"])
def test_alerts_use_only_exported_metrics(rule: dict[str, Any]) -> None:
    names = metric_names(rule["expr"])
    assert names, rule["expr"]
    assert names <= KNOWN_METRICS, names - KNOWN_METRICS
