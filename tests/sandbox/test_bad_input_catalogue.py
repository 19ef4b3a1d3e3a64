"""Admission refuses what can never work: each bad Canary through the real ``kubectl apply -f -``.

One API emulator for the whole module, the CRDs generated from the models (as the sandbox installs
them), one kubectl call per case. A refused case must fail with HTTP 422 (or 400 for an unknown
field, kubectl's strict field validation) and kubectl must print the field path and the message
fragment; every case in ``ACCEPTED`` must be created, so the catalogue can fail both ways.
"""

from __future__ import annotations

import copy
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from canary.api import Canary
from canary.api.crdgen import all_crds
from canary.sandbox.apiserver import ApiServerThread

Manifest = dict[str, Any]
Modifier = Callable[[Manifest], None]
Apply = Callable[[Manifest], "subprocess.CompletedProcess[str]"]

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


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apply]:
    tmp: Path = tmp_path_factory.mktemp("catalogue")
    with ApiServerThread(history_size=64) as server:
        kubeconfig = tmp / "kubeconfig.yaml"
        server.write_kubeconfig(kubeconfig)

        def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
            cmd = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp / "cache"), *args]
            return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)

        crds = run("apply", "-f", "-", stdin=yaml.safe_dump_all(all_crds()))
        assert crds.returncode == 0, crds.stderr

        def apply(obj: Manifest) -> subprocess.CompletedProcess[str]:
            # -v=6 logs each request with its status code, so the test sees the 422 itself.
            return run("apply", "-v=6", "-f", "-", stdin=yaml.safe_dump(obj))

        yield apply


def _manifest(name: str, modify: Modifier) -> Manifest:
    obj = copy.deepcopy(GOOD)
    obj["metadata"]["name"] = name
    modify(obj)
    return obj


def test_catalogue_is_large_and_unique() -> None:
    assert len(REFUSED) >= 45
    ids = [case[0] for case in REFUSED] + [case[0] for case in ACCEPTED]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("index", "modify", "path", "fragment"),
    [(i, *case[1:]) for i, case in enumerate(REFUSED)],
    ids=[case[0] for case in REFUSED],
)
def test_refused(kubectl: Apply, index: int, modify: Modifier, path: str, fragment: str) -> None:
    name = f"bad-{index}"
    proc = kubectl(_manifest(name, modify))
    assert proc.returncode != 0, f"accepted: {proc.stdout}"
    log = proc.stderr
    printed = "\n".join(line for line in log.splitlines() if not re.match(r"^I\d{4} ", line))
    if fragment.startswith("unknown field"):
        assert "400 Bad Request" in log, log
        assert f"strict decoding error: {fragment}" in printed, printed
        return
    assert "422 Unprocessable Entity" in log, log
    assert f'The Canary "{name}" is invalid' in printed, printed
    # One cause: 'The Canary "x" is invalid: <path>: <message>'; several: one "* <path>: ..." per line.
    causes = re.split(r"^\* |\n\* | is invalid: ", printed, flags=re.M)
    assert any(c.startswith(f"{path}: ") and fragment in c.split("\n")[0] for c in causes), printed


@pytest.mark.parametrize(
    ("index", "modify"), [(i, c[1]) for i, c in enumerate(ACCEPTED)], ids=[c[0] for c in ACCEPTED]
)
def test_accepted(kubectl: Apply, index: int, modify: Modifier) -> None:
    name = f"good-{index}"
    proc = kubectl(_manifest(name, modify))
    assert proc.returncode == 0, proc.stderr
    assert f"canary.canary.dev/{name} created" in proc.stdout


def _kube_path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as a kube field path (union-member tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", part) and part not in ("int", "str"):
            out += ("." if out else "") + part
    return out


#: Pydantic's lax mode coerces "9898" and "yes"; only the API server (which sees them first) refuses.
COERCED_BY_PYDANTIC = {"port a string", "skipAnalysis a string"}


@pytest.mark.parametrize(
    ("modify", "path"),
    [c[1:3] for c in REFUSED if c[0] not in COERCED_BY_PYDANTIC],
    ids=[c[0] for c in REFUSED if c[0] not in COERCED_BY_PYDANTIC],
)
def test_operator_models_refuse_the_same(modify: Modifier, path: str) -> None:
    """The operator parses with the pydantic models: every refused manifest fails there too, at
    the same field or (for cross-field rules) at an enclosing object."""
    with pytest.raises(ValidationError) as info:
        Canary.from_body(_manifest("bad", modify))
    paths = [_kube_path(tuple(e["loc"])) for e in info.value.errors()]
    assert any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in paths), paths


@pytest.mark.parametrize("modify", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_operator_models_accept_the_same(modify: Modifier) -> None:
    Canary.from_body(_manifest("good", modify))
