"""Admission bounds (issue 6): each rule has one definition, enforced as CEL and by pydantic.

Property tests check that the CEL text (run by the API emulator's interpreter) and the Python
check agree on every input, so the server and the operator can never disagree about a manifest.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from apitest_support import convert, load_example, served_schema
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from canary.api import Canary, CanaryAnalysis, Provider
from canary.api.crdgen import all_crds, canary_crd
from canary.api.duration import DURATION_PATTERN, parse_duration
from canary.api.models import (
    GATEWAY_API_PROVIDERS,
    RULE_GATEWAY_REFS,
    RULE_INTERVAL_RANGE,
    RULE_SERVICE_NAMES,
    RULE_STEP_WEIGHTS_INCREASING,
    RULE_TARGET_PORT,
    RULE_TIMEOUT_RANGE,
    DurationRange,
)
from canary.sandbox.apiserver import cel


def _base() -> dict[str, Any]:
    return convert(load_example("gatewayapi-canary.yaml"))


def _analysis(**fields: Any) -> dict[str, Any]:
    return {"interval": "1m", "stepWeight": 10, **fields}


def _rules(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """Every (path, schema node, rule) of a schema."""
    for rule in node.get("x-kubernetes-validations", []):
        yield path, node, rule
    for name, sub in node.get("properties", {}).items():
        yield from _rules(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _rules(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _rules(node["additionalProperties"], f"{path}{{}}")


# --------------------------------------------------------------------------- the CRD's rules


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["metadata"]["name"])
def test_every_rule_compiles_in_the_emulator(crd: dict[str, Any]) -> None:
    for path, _, rule in _rules(served_schema(crd)):
        cel.compile_rule(rule["rule"])  # raises Unsupported on CEL the emulator does not know
        assert "oldSelf" not in rule["rule"], path
        assert rule.get("message"), path


def _has_rule(node: dict[str, Any]) -> bool:
    return any(True for _ in _rules(node))


def _unbounded(node: dict[str, Any], path: str = "") -> Iterator[str]:
    """Arrays with rules on or under their items but no maxItems, and strings a rule runs on
    without maxLength: a real API server's CEL cost estimate would then be huge or over budget."""
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        if (_has_rule(node["items"]) or node.get("x-kubernetes-validations")) and "maxItems" not in node:
            yield path
        yield from _unbounded(node["items"], f"{path}[]")
    if node.get("type") == "string" and node.get("x-kubernetes-validations") and "maxLength" not in node:
        yield path
    for name, sub in node.get("properties", {}).items():
        yield from _unbounded(sub, f"{path}.{name}")


def test_rules_only_iterate_over_bounded_lists_and_strings() -> None:
    assert list(_unbounded(served_schema(canary_crd()))) == []
    spec = served_schema(canary_crd())["properties"]["spec"]
    # The spec-level rule calls matches() on targetRef.name: bounded too.
    assert spec["properties"]["targetRef"]["properties"]["name"]["maxLength"] == 245


def test_rules_sit_where_the_errors_should_point() -> None:
    spec = served_schema(canary_crd())["properties"]["spec"]
    analysis = spec["properties"]["analysis"]["properties"]
    metric = analysis["metrics"]["items"]["properties"]
    webhook = analysis["webhooks"]["items"]["properties"]
    assert analysis["interval"]["x-kubernetes-validations"] == [RULE_INTERVAL_RANGE.as_cel()]
    assert metric["interval"]["x-kubernetes-validations"] == [RULE_INTERVAL_RANGE.as_cel()]
    assert webhook["timeout"]["x-kubernetes-validations"] == [RULE_TIMEOUT_RANGE.as_cel()]
    assert analysis["stepWeights"]["x-kubernetes-validations"] == [RULE_STEP_WEIGHTS_INCREASING.as_cel()]
    assert analysis["stepWeights"]["items"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert spec["properties"]["service"]["properties"]["targetPort"]["x-kubernetes-validations"] == [
        RULE_TARGET_PORT.as_cel()
    ]
    spec_rules = spec["x-kubernetes-validations"]
    assert {
        "rule": RULE_SERVICE_NAMES.rule,
        "message": RULE_SERVICE_NAMES.message,
        "fieldPath": ".targetRef.name",
    } in spec_rules
    assert RULE_GATEWAY_REFS.as_cel()["fieldPath"] == ".service.gatewayRefs"
    gateway_refs = spec["properties"]["service"]["properties"]["gatewayRefs"]
    assert (gateway_refs["minItems"], gateway_refs["maxItems"]) == (1, 32)
    assert "gatewayapi" in spec["properties"]["provider"]["enum"]


# --------------------------------------------------------------------------- durations

_part = st.tuples(
    st.one_of(st.integers(0, 30), st.integers(0, 10**15)),
    st.one_of(st.just(""), st.integers(0, 999).map(lambda n: f".{n:03d}")),
    st.sampled_from(["ms", "s", "m", "h"]),
)
_durations = st.lists(_part, min_size=1, max_size=4).map(lambda ps: "".join(f"{n}{f}{u}" for n, f, u in ps))


def _python_accepts(rule: DurationRange, text: str) -> bool:
    try:
        rule.check(text)
    except ValueError:
        return False
    return True


@given(_durations)
def test_interval_cel_and_pydantic_agree(text: str) -> None:
    assert cel.evaluate(RULE_INTERVAL_RANGE.rule, text) is _python_accepts(RULE_INTERVAL_RANGE, text)


@given(_durations)
def test_timeout_cel_and_pydantic_agree(text: str) -> None:
    assert cel.evaluate(RULE_TIMEOUT_RANGE.rule, text) is _python_accepts(RULE_TIMEOUT_RANGE, text)


@pytest.mark.parametrize("text", ["1s", "1m", "30s", "1m30s", "1000ms", "24h", "1439m60s", "86400s", "0.5m"])
def test_interval_in_bounds(text: str) -> None:
    assert CanaryAnalysis.model_validate(_analysis(interval=text)).interval == text


@pytest.mark.parametrize(
    "text", ["0s", "0.001ms", "999ms", "25h", "24h1ms", "86401s", "99999999999999h", "100000s"]
)
def test_interval_out_of_bounds(text: str) -> None:
    with pytest.raises(ValidationError, match="interval must be between 1s and 24h"):
        CanaryAnalysis.model_validate(_analysis(interval=text))
    with pytest.raises(ValidationError, match="interval must be between 1s and 24h"):
        CanaryAnalysis.model_validate(_analysis(metrics=[{"name": "request-success-rate", "interval": text}]))


def test_interval_length_and_syntax() -> None:
    with pytest.raises(ValidationError, match="at most 32 characters"):
        CanaryAnalysis.model_validate(_analysis(interval="1s" * 17))
    with pytest.raises(ValidationError, match="invalid duration '5 minutes'"):
        CanaryAnalysis.model_validate(_analysis(interval="5 minutes"))
    # Not a duration at all: left to the schema pattern, the CEL rule passes (no double error).
    assert cel.evaluate(RULE_INTERVAL_RANGE.rule, "5 minutes") is True


def test_webhook_timeout_bounds() -> None:
    hook = {"name": "load-test", "url": "http://flagger-loadtester.test/"}
    for ok in ("1ms", "500ms", "5s", "24h"):
        CanaryAnalysis.model_validate(_analysis(webhooks=[{**hook, "timeout": ok}]))
    for bad in ("0s", "0.1ms", "25h", "99999999999999h"):
        with pytest.raises(ValidationError, match="timeout must be between 1ms and 24h"):
            CanaryAnalysis.model_validate(_analysis(webhooks=[{**hook, "timeout": bad}]))


def test_overflowing_duration_is_a_value_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="longer than the maximum"):
        parse_duration("99999999999999h")
    parse_duration("2562047h")  # Go's limit is 2562047h47m16.854775807s
    obj = _base()
    obj["spec"]["analysis"]["interval"] = "99999999999999h"
    with pytest.raises(ValidationError):
        Canary.from_body(obj)


def test_cel_duration_pattern_is_the_schema_pattern() -> None:
    literal = re.search(r"!self\.matches\('([^']*)'\)", RULE_INTERVAL_RANGE.rule)
    assert literal is not None
    assert literal.group(1).replace("[.]", "\\.") == DURATION_PATTERN


# --------------------------------------------------------------------------- weights and counts


@given(st.lists(st.integers(1, 100), min_size=1, max_size=8))
def test_step_weights_cel_and_pydantic_agree(weights: list[int]) -> None:
    increasing = all(a < b for a, b in itertools.pairwise(weights))
    assert cel.evaluate(RULE_STEP_WEIGHTS_INCREASING.rule, weights) is increasing
    fields = {"interval": "1m", "stepWeights": weights}
    if increasing:
        CanaryAnalysis.model_validate(fields)
    else:
        with pytest.raises(ValidationError, match="stepWeights must be strictly increasing"):
            CanaryAnalysis.model_validate(fields)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"stepWeights": [0]}, "greater than or equal to 1"),
        ({"stepWeights": [10, 101]}, "less than or equal to 100"),
        ({"stepWeights": list(range(1, 102))}, "at most 100 items"),
        ({"stepWeights": []}, "at least 1 item"),
        ({"stepWeight": 0}, "greater than or equal to 1"),
        ({"stepWeight": 101}, "less than or equal to 100"),
        ({"stepWeight": 10, "maxWeight": 0}, "greater than or equal to 1"),
        ({"stepWeight": 10, "maxWeight": 101}, "less than or equal to 100"),
        ({"stepWeight": 10, "stepWeightPromotion": 0}, "greater than or equal to 1"),
        ({"stepWeight": 10, "threshold": -1}, "greater than or equal to 0"),
        ({"iterations": -1}, "greater than or equal to 0"),
        ({}, "one of stepWeight, stepWeights or iterations is required"),
        ({"stepWeight": 10, "mirrorWeight": 101}, "less than or equal to 100"),
        ({"stepWeight": 10, "primaryReadyThreshold": -1}, "greater than or equal to 0"),
        (
            {"iterations": 1, "sessionAffinity": {"cookieName": "c", "maxAge": 0}},
            "greater than or equal to 1",
        ),
        ({"iterations": 1, "sessionAffinity": {"cookieName": ""}}, "at least 1 character"),
    ],
)
def test_analysis_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        CanaryAnalysis.model_validate({"interval": "1m", **fields})


def test_threshold_zero_means_one_as_in_flagger() -> None:
    assert CanaryAnalysis.model_validate(_analysis(threshold=0)).threshold == 1
    assert CanaryAnalysis.model_validate(_analysis(threshold=3)).threshold == 3
    assert CanaryAnalysis.model_validate(_analysis()).threshold == 5


def test_iterations_zero_is_accepted() -> None:
    assert CanaryAnalysis.model_validate({"interval": "1m", "iterations": 0}).is_iteration_based


@pytest.mark.parametrize("seconds", [0, -1, 2**31])
def test_progress_deadline_bounds(seconds: int) -> None:
    obj = _base()
    obj["spec"]["progressDeadlineSeconds"] = seconds
    with pytest.raises(ValidationError, match="progressDeadlineSeconds"):
        Canary.from_body(obj)


def test_progress_deadline_max_is_a_timedelta() -> None:
    obj = _base()
    obj["spec"]["progressDeadlineSeconds"] = 2**31 - 1
    assert Canary.from_body(obj).spec.progress_deadline.days > 24000


# --------------------------------------------------------------------------- names


def _with_target(name: str, service_name: str | None = None) -> dict[str, Any]:
    obj = _base()
    obj["spec"]["targetRef"]["name"] = name
    if service_name is not None:
        obj["spec"]["service"]["name"] = service_name
    return obj


def _spec_rule_passes(obj: dict[str, Any]) -> bool:
    return cel.evaluate(RULE_SERVICE_NAMES.rule, obj["spec"]) is True


@pytest.mark.parametrize("name", ["podinfo", "a" * 55, "web-2", "w"])
def test_target_names_accepted(name: str) -> None:
    obj = _with_target(name)
    assert _spec_rule_passes(obj)
    assert Canary.from_body(obj).spec.target_ref.name == name


@pytest.mark.parametrize("name", ["a" * 56, "1web", "web.v2", "9"])
def test_target_names_that_cannot_name_services(name: str) -> None:
    obj = _with_target(name)
    assert not _spec_rule_passes(obj)
    with pytest.raises(ValidationError, match="must be a DNS-1035 label"):
        Canary.from_body(obj)


@pytest.mark.parametrize("name", ["web.v2", "1web", "a" * 245])
def test_service_name_frees_the_target_name(name: str) -> None:
    obj = _with_target(name, service_name="web")
    assert _spec_rule_passes(obj)
    Canary.from_body(obj)


@pytest.mark.parametrize(
    ("name", "service_name"),
    [
        ("", None),
        ("Foo_bar", None),
        ("a" * 246, "web"),
        ("web.", "web"),
        ("podinfo", "s" * 56),
        ("podinfo", "Web"),
    ],
)
def test_names_refused(name: str, service_name: str | None) -> None:
    with pytest.raises(ValidationError):
        Canary.from_body(_with_target(name, service_name))


def test_autoscaler_and_template_names() -> None:
    obj = _base()
    obj["spec"]["autoscalerRef"]["name"] = "HPA_1"
    with pytest.raises(ValidationError, match=re.escape("autoscalerRef.name")):
        Canary.from_body(obj)
    obj = _base()
    obj["spec"]["analysis"]["metrics"][0]["templateRef"]["name"] = ""
    with pytest.raises(ValidationError, match=re.escape("templateRef.name")):
        Canary.from_body(obj)


# --------------------------------------------------------------------------- service and routing


@given(st.one_of(st.integers(-10, 70000), st.text(alphabet="abc-1", max_size=20)))
def test_target_port_cel_and_pydantic_agree(port: int | str) -> None:
    obj = _base()
    obj["spec"]["service"]["targetPort"] = port
    try:
        Canary.from_body(obj)
        python_ok = True
    except ValidationError:
        python_ok = False
    assert cel.evaluate(RULE_TARGET_PORT.rule, port) is python_ok


@pytest.mark.parametrize(
    ("field", "value"), [("port", 0), ("port", 65536), ("portName", "HTTP"), ("portName", "")]
)
def test_service_ports_refused(field: str, value: Any) -> None:
    obj = _base()
    obj["spec"]["service"][field] = value
    with pytest.raises(ValidationError, match=re.escape(f"service.{field}")):
        Canary.from_body(obj)


def test_plain_gatewayapi_provider_is_accepted() -> None:
    obj = _base()
    obj["spec"]["provider"] = "gatewayapi"
    assert Canary.from_body(obj).spec.provider is Provider.GATEWAYAPI
    assert set(GATEWAY_API_PROVIDERS) == {"gatewayapi", "gatewayapi:v1", "gatewayapi:v1beta1"}


@pytest.mark.parametrize("provider", [*GATEWAY_API_PROVIDERS])
def test_gateway_api_providers_need_gateway_refs(provider: str) -> None:
    obj = _base()
    obj["spec"]["provider"] = provider
    del obj["spec"]["service"]["gatewayRefs"]
    assert cel.evaluate(RULE_GATEWAY_REFS.rule, obj["spec"]) is False
    with pytest.raises(ValidationError, match=re.escape("service.gatewayRefs is required")):
        Canary.from_body(obj)


@pytest.mark.parametrize("provider", [None, "kubernetes", "istio"])
def test_other_providers_do_not(provider: str | None) -> None:
    obj = _base()
    obj["spec"].pop("provider")
    if provider is not None:
        obj["spec"]["provider"] = provider
    del obj["spec"]["service"]["gatewayRefs"]
    assert cel.evaluate(RULE_GATEWAY_REFS.rule, obj["spec"]) is True
    Canary.from_body(obj)


def test_empty_gateway_refs_refused_for_any_provider() -> None:
    obj = _base()
    obj["spec"]["provider"] = "kubernetes"
    obj["spec"]["service"]["gatewayRefs"] = []
    with pytest.raises(ValidationError, match="at least 1 item"):
        Canary.from_body(obj)


def test_primary_scaler_replicas_ordered() -> None:
    obj = _base()
    obj["spec"]["autoscalerRef"]["primaryScalerReplicas"] = {"minReplicas": 5, "maxReplicas": 2}
    with pytest.raises(ValidationError, match="minReplicas must be less than or equal to maxReplicas"):
        Canary.from_body(obj)


# --------------------------------------------------------------------------- metrics and webhooks


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"name": "", "query": "up"}, "at least 1 character"),
        ({"name": "m", "query": ""}, "at least 1 character"),
        ({"name": "m", "templateRef": {"name": "t", "namespace": "Bad_NS"}}, "should match pattern"),
        ({"name": "m"}, "metric needs a query or a templateRef"),
        ({"name": "m", "query": "up", "templateRef": {"name": "t"}}, "mutually exclusive"),
        ({"name": "m", "query": "up", "thresholdRange": {"min": 2, "max": 1}}, "thresholdRange.min"),
    ],
)
def test_metrics_refused(metric: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        CanaryAnalysis.model_validate(_analysis(metrics=[metric]))


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ({"url": ""}, "at least 1 character"),
        ({"url": "flagger-loadtester.test/"}, "should match pattern"),
        ({"url": "http://x/", "retries": -1}, "greater than or equal to 0"),
    ],
)
def test_webhooks_refused(hook: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        CanaryAnalysis.model_validate(_analysis(webhooks=[{"name": "h", **hook}]))


def test_too_many_webhooks_refused() -> None:
    hooks = [{"name": f"h{i}", "url": "http://x/"} for i in range(65)]
    with pytest.raises(ValidationError, match="at most 64 items"):
        CanaryAnalysis.model_validate(_analysis(webhooks=hooks))


def test_metric_template_query_not_empty() -> None:
    from canary.api import MetricTemplate

    doc = {"metadata": {"name": "t"}, "spec": {"provider": {"type": "prometheus"}, "query": ""}}
    with pytest.raises(ValidationError, match=re.escape("spec.query")):
        MetricTemplate.from_body(copy.deepcopy(doc))
