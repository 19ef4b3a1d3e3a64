"""The catalogue of bad (and good) Canary manifests, shared by every layer that must refuse them.

``REFUSED`` lists ``(id, modifier, field path, message fragment)``: applying ``modifier`` to a copy
of ``GOOD`` gives a manifest the API server (``tests/sandbox/test_bad_input_catalogue.py``), the
operator's models and ``canary validate`` (``tests/cli/test_validate.py``) must all refuse, naming
that kube-style field path. ``ACCEPTED`` lists ``(id, modifier)`` for manifests all must accept.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

Manifest = dict[str, Any]
Modifier = Callable[[Manifest], None]

GOOD: Manifest = {
    "apiVersion": "canary.dev/v1alpha1",
    "kind": "Canary",
    "metadata": {"name": "podinfo"},
    "spec": {
        "provider": "gatewayapi:v1",
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "autoscalerRef": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "name": "podinfo",
            "primaryScalerReplicas": {"minReplicas": 2, "maxReplicas": 4},
        },
        "progressDeadlineSeconds": 60,
        "service": {
            "port": 9898,
            "targetPort": "http",
            "portName": "http",
            "gatewayRefs": [{"name": "gateway", "namespace": "istio-ingress"}],
        },
        "analysis": {
            "interval": "1m",
            "threshold": 5,
            "maxWeight": 50,
            "stepWeight": 10,
            "stepWeightPromotion": 50,
            "metrics": [
                {
                    "name": "error-rate",
                    "templateRef": {"name": "error-rate", "namespace": "istio-system"},
                    "thresholdRange": {"max": 1},
                    "interval": "1m",
                },
                {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "30s"},
            ],
            "webhooks": [
                {"name": "load-test", "url": "http://flagger-loadtester.test/", "timeout": "5s", "retries": 3}
            ],
            "sessionAffinity": {"cookieName": "flagger-cookie", "maxAge": 3600},
        },
    },
}

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _walk(obj: Manifest, path: str) -> tuple[Any, str | int]:
    """The container holding the last element of a kube-style path, and that element's key."""
    keys: list[str | int] = [int(i) if i else name for name, i in _STEP.findall(path)]
    node: Any = obj
    for key in keys[:-1]:
        node = node[key]
    return node, keys[-1]


def put(path: str, value: Any) -> Modifier:
    def modify(obj: Manifest) -> None:
        node, key = _walk(obj, path)
        node[key] = value

    return modify


def drop(*paths: str) -> Modifier:
    def modify(obj: Manifest) -> None:
        for path in paths:
            node, key = _walk(obj, path)
            del node[key]

    return modify


def each(*modifiers: Modifier) -> Modifier:
    def modify(obj: Manifest) -> None:
        for m in modifiers:
            m(obj)

    return modify


def step_weights(*weights: int) -> Modifier:
    return each(
        drop("spec.analysis.stepWeight", "spec.analysis.maxWeight"),
        put("spec.analysis.stepWeights", list(weights)),
    )


A = "spec.analysis"
M0 = "spec.analysis.metrics[0]"
W0 = "spec.analysis.webhooks[0]"
BETWEEN_1S_24H = "interval must be between 1s and 24h"
DNS1035 = "must be a DNS-1035 label"

# (id, modifier, field path kubectl must print, message fragment)
REFUSED: list[tuple[str, Modifier, str, str]] = [
    # --- names: the target and service names become Service/Deployment names
    (
        "target name empty",
        put("spec.targetRef.name", ""),
        "spec.targetRef.name",
        "should be at least 1 chars long",
    ),
    ("target name Foo_bar", put("spec.targetRef.name", "Foo_bar"), "spec.targetRef.name", "should match"),
    ("target name 56 chars", put("spec.targetRef.name", "a" * 56), "spec.targetRef.name", DNS1035),
    ("target name starts with digit", put("spec.targetRef.name", "1web"), "spec.targetRef.name", DNS1035),
    (
        "target name dotted without service.name",
        put("spec.targetRef.name", "web.v2"),
        "spec.targetRef.name",
        DNS1035,
    ),
    (
        "target name 246 chars",
        each(put("spec.service.name", "web"), put("spec.targetRef.name", "a" * 246)),
        "spec.targetRef.name",
        "may not be longer than 245",
    ),
    (
        "service name 56 chars",
        put("spec.service.name", "s" * 56),
        "spec.service.name",
        "may not be longer than 55",
    ),
    ("service name uppercase", put("spec.service.name", "Web"), "spec.service.name", "should match"),
    (
        "target kind StatefulSet",
        put("spec.targetRef.kind", "StatefulSet"),
        "spec.targetRef.kind",
        "Unsupported value",
    ),
    ("target missing", drop("spec.targetRef"), "spec.targetRef", "Required value"),
    (
        "autoscaler name HPA_1",
        put("spec.autoscalerRef.name", "HPA_1"),
        "spec.autoscalerRef.name",
        "should match",
    ),
    (
        "primary scaler min>max",
        put("spec.autoscalerRef.primaryScalerReplicas", {"minReplicas": 5, "maxReplicas": 2}),
        "spec.autoscalerRef.primaryScalerReplicas",
        "minReplicas must be less than or equal to maxReplicas",
    ),
    # --- durations
    ("interval overflow", put(f"{A}.interval", "99999999999999h"), f"{A}.interval", BETWEEN_1S_24H),
    ("interval 0s", put(f"{A}.interval", "0s"), f"{A}.interval", BETWEEN_1S_24H),
    ("interval 0.001ms", put(f"{A}.interval", "0.001ms"), f"{A}.interval", BETWEEN_1S_24H),
    ("interval 25h", put(f"{A}.interval", "25h"), f"{A}.interval", BETWEEN_1S_24H),
    ("interval 86401s", put(f"{A}.interval", "86401s"), f"{A}.interval", BETWEEN_1S_24H),
    ("interval 5 minutes", put(f"{A}.interval", "5 minutes"), f"{A}.interval", "should match"),
    (
        "interval too long a string",
        put(f"{A}.interval", "1s" * 17),
        f"{A}.interval",
        "may not be longer than 32",
    ),
    ("metric interval 0s", put(f"{M0}.interval", "0s"), f"{M0}.interval", BETWEEN_1S_24H),
    ("metric interval overflow", put(f"{M0}.interval", "99999999999999h"), f"{M0}.interval", BETWEEN_1S_24H),
    ("metric interval 48h", put(f"{M0}.interval", "48h"), f"{M0}.interval", BETWEEN_1S_24H),
    (
        "webhook timeout 0s",
        put(f"{W0}.timeout", "0s"),
        f"{W0}.timeout",
        "timeout must be between 1ms and 24h",
    ),
    (
        "webhook timeout overflow",
        put(f"{W0}.timeout", "99999999999999h"),
        f"{W0}.timeout",
        "timeout must be between",
    ),
    # --- weights and steps
    ("stepWeights [0]", step_weights(0), f"{A}.stepWeights[0]", "should be greater than or equal to 1"),
    (
        "stepWeights [20, 10]",
        step_weights(20, 10),
        f"{A}.stepWeights",
        "stepWeights must be strictly increasing",
    ),
    (
        "stepWeights [10, 10]",
        step_weights(10, 10),
        f"{A}.stepWeights",
        "stepWeights must be strictly increasing",
    ),
    (
        "stepWeights [10, 101]",
        step_weights(10, 101),
        f"{A}.stepWeights[1]",
        "should be less than or equal to 100",
    ),
    ("stepWeights []", step_weights(), f"{A}.stepWeights", "should have at least 1 items"),
    (
        "stepWeight and stepWeights",
        put(f"{A}.stepWeights", [10, 20]),
        A,
        "stepWeight and stepWeights are mutually exclusive",
    ),
    (
        "no steps",
        drop(f"{A}.stepWeight", f"{A}.maxWeight"),
        A,
        "one of stepWeight, stepWeights or iterations is required",
    ),
    ("stepWeight 0", put(f"{A}.stepWeight", 0), f"{A}.stepWeight", "should be greater than or equal to 1"),
    ("stepWeight 101", put(f"{A}.stepWeight", 101), f"{A}.stepWeight", "should be less than or equal to 100"),
    ("maxWeight 0", put(f"{A}.maxWeight", 0), f"{A}.maxWeight", "should be greater than or equal to 1"),
    ("maxWeight 101", put(f"{A}.maxWeight", 101), f"{A}.maxWeight", "should be less than or equal to 100"),
    ("stepWeight > maxWeight", put(f"{A}.stepWeight", 60), A, "stepWeight must not exceed maxWeight"),
    (
        "stepWeightPromotion 0",
        put(f"{A}.stepWeightPromotion", 0),
        f"{A}.stepWeightPromotion",
        "should be greater than or equal to 1",
    ),
    (
        "mirrorWeight 101",
        put(f"{A}.mirrorWeight", 101),
        f"{A}.mirrorWeight",
        "should be less than or equal to 100",
    ),
    (
        "primaryReadyThreshold -1",
        put(f"{A}.primaryReadyThreshold", -1),
        f"{A}.primaryReadyThreshold",
        "should be greater than or equal to 0",
    ),
    # --- counts
    ("threshold -1", put(f"{A}.threshold", -1), f"{A}.threshold", "should be greater than or equal to 0"),
    ("iterations -1", put(f"{A}.iterations", -1), f"{A}.iterations", "should be greater than or equal to 0"),
    (
        "progressDeadlineSeconds 0",
        put("spec.progressDeadlineSeconds", 0),
        "spec.progressDeadlineSeconds",
        "should be greater than or equal to 1",
    ),
    (
        "progressDeadlineSeconds -1",
        put("spec.progressDeadlineSeconds", -1),
        "spec.progressDeadlineSeconds",
        "should be greater than or equal to 1",
    ),
    (
        "progressDeadlineSeconds beyond int32",
        put("spec.progressDeadlineSeconds", 2**31),
        "spec.progressDeadlineSeconds",
        "should be less than or equal to 2147483647",
    ),
    ("webhook retries -1", put(f"{W0}.retries", -1), f"{W0}.retries", "should be greater than or equal to 0"),
    (
        "sessionAffinity maxAge 0",
        put(f"{A}.sessionAffinity.maxAge", 0),
        f"{A}.sessionAffinity.maxAge",
        "should be greater than or equal to 1",
    ),
    # --- ports
    (
        "service port 0",
        put("spec.service.port", 0),
        "spec.service.port",
        "should be greater than or equal to 1",
    ),
    (
        "service port 65536",
        put("spec.service.port", 65536),
        "spec.service.port",
        "should be less than or equal to 65535",
    ),
    (
        "targetPort 0",
        put("spec.service.targetPort", 0),
        "spec.service.targetPort",
        "targetPort must be a port number",
    ),
    (
        "targetPort name too long",
        put("spec.service.targetPort", "a-very-long-port-name"),
        "spec.service.targetPort",
        "targetPort must be a port number",
    ),
    ("portName uppercase", put("spec.service.portName", "HTTP"), "spec.service.portName", "should match"),
    (
        "gatewayRef port 0",
        put("spec.service.gatewayRefs[0].port", 0),
        "spec.service.gatewayRefs[0].port",
        "should be greater than or equal to 1",
    ),
    # --- routing provider
    (
        "gatewayRefs []",
        put("spec.service.gatewayRefs", []),
        "spec.service.gatewayRefs",
        "should have at least 1 items",
    ),
    (
        "gatewayapi without gatewayRefs",
        each(put("spec.provider", "gatewayapi"), drop("spec.service.gatewayRefs")),
        "spec.service.gatewayRefs",
        "service.gatewayRefs is required when the provider is a Gateway API one",
    ),
    (
        "gatewayapi:v1beta1 without gatewayRefs",
        each(put("spec.provider", "gatewayapi:v1beta1"), drop("spec.service.gatewayRefs")),
        "spec.service.gatewayRefs",
        "service.gatewayRefs is required",
    ),
    ("provider gatewayapi:v2", put("spec.provider", "gatewayapi:v2"), "spec.provider", "Unsupported value"),
    # --- metrics
    ("metric name empty", put(f"{M0}.name", ""), f"{M0}.name", "should be at least 1 chars long"),
    (
        "thresholdRange min>max",
        put(f"{M0}.thresholdRange", {"min": 10, "max": 1}),
        f"{M0}.thresholdRange",
        "thresholdRange.min must be less than or equal to thresholdRange.max",
    ),
    (
        "metric without query or templateRef",
        drop(f"{M0}.templateRef"),
        M0,
        "metric needs a query or a templateRef unless its name is a builtin",
    ),
    (
        "metric query and templateRef",
        put(f"{M0}.query", "sum(up)"),
        M0,
        "metric query and templateRef are mutually exclusive",
    ),
    (
        "metric query empty",
        each(drop(f"{M0}.templateRef"), put(f"{M0}.query", "")),
        f"{M0}.query",
        "should be at least 1 chars long",
    ),
    (
        "templateRef name empty",
        put(f"{M0}.templateRef.name", ""),
        f"{M0}.templateRef.name",
        "should be at least 1",
    ),
    # --- webhooks
    ("webhook url empty", put(f"{W0}.url", ""), f"{W0}.url", "should be at least 1 chars long"),
    ("webhook url without scheme", put(f"{W0}.url", "flagger-loadtester.test/"), f"{W0}.url", "should match"),
    # --- unknown fields and wrong types
    (
        "unknown spec field",
        put("spec.canaryAnalysis", {}),
        "spec.canaryAnalysis",
        'unknown field "spec.canaryAnalysis"',
    ),
    (
        "unknown analysis field",
        put(f"{A}.stepweight", 10),
        f"{A}.stepweight",
        'unknown field "spec.analysis.stepweight"',
    ),
    ("threshold a string", put(f"{A}.threshold", "five"), f"{A}.threshold", "must be of type integer"),
    (
        "stepWeights a string",
        each(drop(f"{A}.stepWeight", f"{A}.maxWeight"), put(f"{A}.stepWeights", "10,20")),
        f"{A}.stepWeights",
        "must be of type array",
    ),
    ("port a string", put("spec.service.port", "9898"), "spec.service.port", "must be of type integer"),
    (
        "skipAnalysis a string",
        put("spec.skipAnalysis", "yes"),
        "spec.skipAnalysis",
        "must be of type boolean",
    ),
    ("analysis a list", put("spec.analysis", []), "spec.analysis", "must be of type object"),
]

# (id, modifier): manifests that must be created.
ACCEPTED: list[tuple[str, Modifier]] = [
    ("good manifest", lambda obj: None),
    ("provider gatewayapi", put("spec.provider", "gatewayapi")),
    ("threshold 0 (Flagger: means 1)", put(f"{A}.threshold", 0)),
    ("iterations 0 with steps", put(f"{A}.iterations", 0)),
    (
        "bounds inclusive",
        each(put(f"{A}.interval", "24h"), put(f"{M0}.interval", "1s"), put(f"{W0}.timeout", "1ms")),
    ),
    ("interval 1m30s and 500ms timeout", each(put(f"{A}.interval", "1m30s"), put(f"{W0}.timeout", "500ms"))),
    ("target name 55 chars", put("spec.targetRef.name", "a" * 55)),
    (
        "dotted 245-char target with service.name",
        each(put("spec.service.name", "web"), put("spec.targetRef.name", "a" * 120 + "." + "b" * 124)),
    ),
    ("stepWeights [1, 100]", step_weights(1, 100)),
    ("targetPort number", put("spec.service.targetPort", 8080)),
    (
        "kubernetes blue/green without gatewayRefs",
        each(
            put("spec.provider", "kubernetes"),
            drop("spec.service.gatewayRefs", f"{A}.stepWeight", f"{A}.maxWeight", f"{A}.stepWeightPromotion"),
            put(f"{A}.iterations", 10),
        ),
    ),
    ("no provider without gatewayRefs", each(drop("spec.provider", "spec.service.gatewayRefs"))),
]


def manifest(name: str, modify: Modifier) -> Manifest:
    """A fresh copy of ``GOOD`` named ``name``, with ``modify`` applied."""
    obj = copy.deepcopy(GOOD)
    obj["metadata"]["name"] = name
    modify(obj)
    return obj
