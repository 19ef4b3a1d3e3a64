"""Model helpers other packages rely on, and agreement between pydantic and the CRD."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apitest_support import api_server_errors, convert, load_example
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from canary.api import (
    CONDITION_PROMOTED,
    Canary,
    CanaryMetric,
    CanaryStatus,
    CheckResult,
    Phase,
    Verdict,
    format_time,
    parse_time,
    unsupported_fields,
)
from canary.api.crdgen import canary_crd

CRD = canary_crd()


class FrozenBody(Mapping[str, Any]):
    """Stands in for kopf's Body: a Mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return FrozenBody(value) if isinstance(value, dict) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_from_body_accepts_any_mapping_and_fills_defaults() -> None:
    obj = convert(load_example("gatewayapi-canary.yaml"))
    del obj["spec"]["analysis"]["interval"]
    del obj["spec"]["analysis"]["threshold"]
    del obj["spec"]["progressDeadlineSeconds"]
    canary = Canary.from_body(FrozenBody(obj))
    assert (canary.name, canary.namespace) == ("podinfo", "test")
    spec = canary.spec
    assert spec.analysis.interval == "1m"
    assert spec.analysis_interval_seconds == 60.0
    assert spec.analysis_interval == timedelta(minutes=1)
    assert spec.analysis.threshold == 5
    assert spec.progress_deadline_seconds == 600
    assert spec.progress_deadline == timedelta(minutes=10)
    assert spec.analysis.effective_max_weight == 50
    assert spec.analysis.effective_primary_ready_threshold == 90
    assert spec.service is not None
    assert spec.service.effective_target_port == "http"
    assert spec.analysis.metrics is not None
    assert spec.analysis.metrics[1].interval_seconds == 30.0
    assert spec.skip_analysis is False and spec.suspend is False


def test_effective_max_weight_from_step_weights() -> None:
    obj = convert(load_example("contour-stepweights.yaml"))
    analysis = Canary.from_body(obj).spec.analysis
    assert analysis.effective_max_weight == 90
    assert not analysis.is_iteration_based
    blue_green = Canary.from_body(convert(load_example("kubernetes-bluegreen.yaml"))).spec.analysis
    assert blue_green.is_iteration_based and blue_green.effective_max_weight == 100


def test_legacy_threshold_semantics() -> None:
    assert CanaryMetric(name="request-success-rate", threshold=99).effective_range.min == 99
    assert CanaryMetric(name="request-duration", threshold=500).effective_range.max == 500
    assert CanaryMetric(name="custom", query="sum(up)", threshold=3).effective_range.max == 3
    metric = CanaryMetric.model_validate({"name": "x", "query": "q", "thresholdRange": {"min": 1, "max": 2}})
    assert metric.effective_range.contains(1.5) and not metric.effective_range.contains(2.5)
    assert CanaryMetric(name="request-duration").is_builtin


def test_status_round_trip_and_schema() -> None:
    now = format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    status = CanaryStatus(
        phase=Phase.PROGRESSING,
        canary_weight=20,
        failed_checks=1,
        last_transition_time=now,
        step_started_at=now,
        message="advance canary weight 20",
        conditions=[
            {"type": CONDITION_PROMOTED, "status": "Unknown", "reason": "Progressing", "message": "x"}
        ],
        checks=[
            CheckResult(name="error-rate", verdict=Verdict.SUCCESSFUL, value=0.1, threshold_max=1, time=now),
            CheckResult(name="latency", verdict=Verdict.INCONCLUSIVE, message="no data"),
        ],
        revision={"hash": "5f7d9c", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"},
    )
    dumped = status.to_dict()
    assert dumped["phase"] == "Progressing"
    assert dumped["checks"][1] == {"name": "latency", "verdict": "Inconclusive", "message": "no data"}
    assert dumped["stepStartedAt"] == "2026-01-02T03:04:05Z"
    assert parse_time(dumped["stepStartedAt"]) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    obj = convert(load_example("gatewayapi-canary.yaml"))
    obj["status"] = dumped
    assert api_server_errors(CRD, obj) == []
    # null check values are allowed by the schema (nullable) and by the model
    obj["status"]["checks"][1]["value"] = None
    assert api_server_errors(CRD, obj) == []
    parsed = Canary.from_body(obj).status
    assert parsed is not None and parsed == CanaryStatus.model_validate(obj["status"])
    assert parsed.condition(CONDITION_PROMOTED) is not None


def test_status_tolerates_fields_from_a_newer_operator() -> None:
    status = CanaryStatus.model_validate({"phase": "Succeeded", "futureField": {"a": 1}})
    assert status.phase is Phase.SUCCEEDED


def test_unsupported_fields_ignores_default_valued_flags() -> None:
    spec = convert(load_example("gatewayapi-canary.yaml"))["spec"]
    spec["service"]["portDiscovery"] = False
    spec["service"]["backends"] = []
    assert unsupported_fields(spec) == []
    spec["targetRef"]["kind"] = "Service"
    spec["autoscalerRef"]["kind"] = "ScaledObject"
    assert unsupported_fields(spec) == ["spec.targetRef.kind", "spec.autoscalerRef.kind"]


def test_alias_and_name_population() -> None:
    webhook = {"name": "gate", "url": "http://x/", "disableTLS": True, "type": "confirm-rollout"}
    obj = convert(load_example("gatewayapi-canary.yaml"))
    obj["spec"]["analysis"]["webhooks"] = [webhook]
    canary = Canary.from_body(obj)
    assert canary.spec.analysis.webhooks is not None
    assert canary.spec.analysis.webhooks[0].disable_tls is True
    assert canary.to_dict()["spec"]["analysis"]["webhooks"][0]["disableTLS"] is True


_ANALYSIS = st.fixed_dictionaries(
    {},
    optional={
        "stepWeight": st.integers(min_value=1, max_value=100),
        "stepWeights": st.lists(
            st.integers(min_value=0, max_value=100), min_size=1, max_size=4, unique=True
        ).map(sorted),
        "iterations": st.integers(min_value=0, max_value=20),
        "maxWeight": st.integers(min_value=1, max_value=100),
    },
)


@settings(max_examples=150, deadline=None)
@given(_ANALYSIS, st.one_of(st.none(), st.tuples(st.integers(0, 10), st.integers(0, 10))))
def test_cel_rules_and_pydantic_agree(analysis: dict[str, Any], bounds: tuple[int, int] | None) -> None:
    """The same cross-field rules hold in the API server (CEL) and in the models."""
    obj = convert(load_example("gatewayapi-canary.yaml"))
    for key in ("stepWeight", "maxWeight", "stepWeightPromotion"):
        obj["spec"]["analysis"].pop(key)
    obj["spec"]["analysis"].update(analysis)
    if bounds is not None:
        obj["spec"]["analysis"]["metrics"][0]["thresholdRange"] = {"min": bounds[0], "max": bounds[1]}
    server_ok = api_server_errors(CRD, obj) == []
    try:
        Canary.from_body(obj)
        model_ok = True
    except ValidationError:
        model_ok = False
    assert server_ok == model_ok, (analysis, bounds)


def test_unsupported_provider_is_reported_when_routers_are_known() -> None:
    spec = convert(load_example("nginx-canary.yaml"))["spec"]
    assert "spec.provider" in unsupported_fields(spec, providers={"gatewayapi:v1", "kubernetes"})
    assert "spec.provider" not in unsupported_fields(spec, providers={"nginx"})
    assert "spec.provider" not in unsupported_fields(spec)


def test_current_status_defaults() -> None:
    canary = Canary.from_body(convert(load_example("gatewayapi-canary.yaml")))
    assert canary.status is None
    assert canary.current_status.canary_weight == 0
    assert canary.current_status.phase is None
