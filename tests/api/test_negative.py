"""Bad manifests fail both at the API server (schema + CEL) and in pydantic, with clear messages."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from apitest_support import api_server_errors, convert, load_example
from pydantic import ValidationError

from canary.api import Canary
from canary.api.crdgen import canary_crd

CRD = canary_crd()


def _base() -> dict[str, Any]:
    return convert(load_example("gatewayapi-canary.yaml"))


def _analysis(obj: dict[str, Any]) -> dict[str, Any]:
    analysis: dict[str, Any] = obj["spec"]["analysis"]
    return analysis


def _set(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        _analysis(obj).update(fields)

    return mutate


def _drop_steps(obj: dict[str, Any]) -> None:
    for key in ("stepWeight", "stepWeights", "iterations"):
        _analysis(obj).pop(key, None)


def _range(obj: dict[str, Any]) -> None:
    _analysis(obj)["metrics"][0]["thresholdRange"] = {"min": 10, "max": 1}


def _metric_without_query(obj: dict[str, Any]) -> None:
    _analysis(obj)["metrics"] = [{"name": "my-custom-metric", "thresholdRange": {"max": 1}}]


def _metric_with_both(obj: dict[str, Any]) -> None:
    _analysis(obj)["metrics"][0]["query"] = "sum(up)"


def _unknown_spec_field(obj: dict[str, Any]) -> None:
    obj["spec"]["canaryAnalysis"] = {}


def _unknown_metric_field(obj: dict[str, Any]) -> None:
    _analysis(obj)["metrics"][0]["thresold"] = 5


def _bad_target_kind(obj: dict[str, Any]) -> None:
    obj["spec"]["targetRef"]["kind"] = "StatefulSet"


def _missing_port(obj: dict[str, Any]) -> None:
    del obj["spec"]["service"]["port"]


def _step_weights(*weights: int) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        _analysis(obj).pop("stepWeight")
        _analysis(obj).pop("maxWeight")
        _analysis(obj)["stepWeights"] = list(weights)

    return mutate


def _target(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["targetRef"]["name"] = name

    return mutate


def _target_port(port: int | str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["service"]["targetPort"] = port

    return mutate


def _deadline(seconds: int) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["progressDeadlineSeconds"] = seconds

    return mutate


def _no_gateway_refs(obj: dict[str, Any]) -> None:
    obj["spec"]["provider"] = "gatewayapi"
    del obj["spec"]["service"]["gatewayRefs"]


def _empty_gateway_refs(obj: dict[str, Any]) -> None:
    obj["spec"]["service"]["gatewayRefs"] = []


# (id, mutation, text the API server error contains, text the pydantic error contains)
CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "stepWeight+stepWeights",
        _set(stepWeights=[10, 20]),
        "stepWeight and stepWeights are mutually exclusive",
        "stepWeight and stepWeights are mutually exclusive",
    ),
    (
        "maxWeight 150",
        _set(maxWeight=150),
        "150 is greater than the maximum of 100",
        "less than or equal to 100",
    ),
    ("bad duration", _set(interval="5 minutes"), "does not match", "invalid duration '5 minutes'"),
    ("typo stepweight", _set(stepweight=10), "'stepweight' was unexpected", "analysis.stepweight"),
    (
        "thresholdRange min>max",
        _range,
        "thresholdRange.min must be less than or equal to thresholdRange.max",
        "thresholdRange.min must be less than or equal to thresholdRange.max",
    ),
    (
        "no steps",
        _drop_steps,
        "one of stepWeight, stepWeights or iterations is required",
        "one of stepWeight, stepWeights or iterations is required",
    ),
    (
        "stepWeight>maxWeight",
        _set(stepWeight=60),
        "stepWeight must not exceed maxWeight",
        "stepWeight must not exceed maxWeight",
    ),
    (
        "metric without query",
        _metric_without_query,
        "metric needs a query or a templateRef",
        "metric needs a query or a templateRef",
    ),
    (
        "metric query and templateRef",
        _metric_with_both,
        "metric query and templateRef are mutually exclusive",
        "metric query and templateRef are mutually exclusive",
    ),
    ("unknown spec field", _unknown_spec_field, "'canaryAnalysis' was unexpected", "spec.canaryAnalysis"),
    ("unknown metric field", _unknown_metric_field, "'thresold' was unexpected", "metrics.0.thresold"),
    ("target kind", _bad_target_kind, "'StatefulSet' is not one of", "spec.targetRef.kind"),
    ("threshold -1", _set(threshold=-1), "-1 is less than the minimum of 0", "greater than or equal to 0"),
    (
        "interval 0s",
        _set(interval="0s"),
        "interval must be between 1s and 24h",
        "interval must be between 1s and 24h",
    ),
    (
        "interval overflow",
        _set(interval="99999999999999h"),
        "interval must be between 1s and 24h",
        "interval must be between 1s and 24h",
    ),
    (
        "stepWeights decreasing",
        _step_weights(20, 10),
        "stepWeights must be strictly increasing",
        "stepWeights must be strictly increasing",
    ),
    ("stepWeights [0]", _step_weights(0), "0 is less than the minimum of 1", "greater than or equal to 1"),
    ("target name 56", _target("a" * 56), "must be a DNS-1035 label", "must be a DNS-1035 label"),
    ("target name Foo_bar", _target("Foo_bar"), "does not match", "should match pattern"),
    (
        "gatewayapi without gatewayRefs",
        _no_gateway_refs,
        "service.gatewayRefs is required when the provider is a Gateway API one",
        "service.gatewayRefs is required when the provider is a Gateway API one",
    ),
    ("gatewayRefs empty", _empty_gateway_refs, "should be non-empty", "at least 1 item"),
    ("targetPort 0", _target_port(0), "targetPort must be a port number", "targetPort must be a port number"),
    (
        "progressDeadlineSeconds 0",
        _deadline(0),
        "0 is less than the minimum of 1",
        "greater than or equal to 1",
    ),
    ("missing service port", _missing_port, "'port' is a required property", "spec.service.port"),
]


@pytest.mark.parametrize(
    ("mutate", "server_msg", "model_msg"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rejected_with_clear_message(
    mutate: Callable[[dict[str, Any]], None], server_msg: str, model_msg: str
) -> None:
    obj = copy.deepcopy(_base())
    assert api_server_errors(CRD, obj) == []
    mutate(obj)
    errors = api_server_errors(CRD, obj)
    assert errors, "API server would have accepted it"
    assert any(server_msg in e for e in errors), errors
    with pytest.raises(ValidationError) as info:
        Canary.from_body(obj)
    assert model_msg in str(info.value)


def test_step_weights_must_increase() -> None:
    obj = _base()
    _analysis(obj).pop("stepWeight")
    _analysis(obj)["stepWeights"] = [10, 30, 20]
    with pytest.raises(ValidationError, match="stepWeights must be strictly increasing"):
        Canary.from_body(obj)


def test_flagger_api_version_is_not_ours() -> None:
    with pytest.raises(ValidationError, match="apiVersion"):
        Canary.from_body(load_example("gatewayapi-canary.yaml"))
