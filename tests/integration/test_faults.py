"""Faults during a rollout, end to end: deleted workloads, a second Canary, Prometheus outages,
skipAnalysis, non-finite metric values.

The real operator process, kubectl and Prometheus against the sandbox (or a real cluster with
`make e2e`). Every assertion is about what a user sees: the HTTPRoute's weights, phase and
conditions, Events, Deployments' images and replicas, and Istio's request counts in Prometheus.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from conftest import PrometheusSwitch
from harness import APP, Cluster, Prometheus, canary, delta, total
from kubernetes.client.exceptions import ApiException

from canary.demo.manifests import GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

PRIMARY = f"{APP}-primary"
BOOTSTRAP_TIMEOUT = 60.0
RELEASE_TIMEOUT = 90.0
#: Two analysis ticks of 3s on a loaded machine, plus the API round trips.
REACTION_TIMEOUT = 15.0


def bootstrap(cluster: Cluster, analysis: dict[str, Any] | None = None, **canary_args: Any) -> dict[str, Any]:
    """The stable Deployment and its Canary, initialized; `analysis` adds fields to spec.analysis."""
    body = canary(cluster.namespace, **canary_args)
    body["spec"]["analysis"].update(analysis or {})
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", BOOTSTRAP_TIMEOUT)
    return body


def reasons(cluster: Cluster, name: str = APP) -> dict[str, list[str]]:
    """`reason -> messages` of the Canary's Events."""
    out: dict[str, list[str]] = {}
    for event in cluster.events(name):
        out.setdefault(event["reason"], []).append(event["message"])
    return out


def await_event(
    cluster: Cluster, reason: str, name: str = APP, timeout: float = REACTION_TIMEOUT
) -> list[str]:
    found = cluster.eventually(
        f"an Event with reason {reason}",
        lambda: reasons(cluster, name),
        lambda r: reason in r,
        timeout,
    )
    return found[reason]


def deployment_or_none(cluster: Cluster, name: str) -> dict[str, Any] | None:
    try:
        return cluster.deployment(name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def serving(deployment: dict[str, Any] | None) -> bool:
    """The Deployment exists, wants replicas and has one available now."""
    if deployment is None:
        return False
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    return spec.get("replicas") != 0 and int(status.get("availableReplicas") or 0) > 0


def delete_deployment(cluster: Cluster, name: str) -> None:
    result = cluster.kubectl("delete", "deployment", name, "--wait=true", timeout=60)
    assert result.returncode == 0, result.stderr


def await_more_2xx(
    prometheus: Prometheus, workload: str, at_least: float = 10, timeout: float = 40.0
) -> None:
    """Prometheus sees `workload` answer `at_least` more 2xx requests than it has so far."""
    before = prometheus.served()

    def more() -> float:
        return total(delta(before, prometheus.served()), workload=workload, codes="2")

    Cluster.eventually(
        f"{at_least:g} more 2xx answers from {workload}", more, lambda n: n >= at_least, timeout
    )


# --------------------------------------------------------------------------- a deleted primary


@pytest.mark.parametrize("settled", ["Initialized", "Succeeded"])
def test_primary_deleted_when_settled_is_recreated_from_promoted_revision(
    cluster: Cluster, prometheus: Prometheus, settled: str
) -> None:
    bootstrap(cluster, interval="2s")
    if settled == "Succeeded":
        cluster.set_image(GOOD_IMAGE)
        cluster.wait_phase("Progressing", 30)
        cluster.wait_phase("Succeeded", RELEASE_TIMEOUT)
    promoted_image = cluster.image_of(PRIMARY)
    assert promoted_image == (GOOD_IMAGE if settled == "Succeeded" else STABLE_IMAGE)

    delete_deployment(cluster, PRIMARY)
    missing = cluster.wait_for(
        "condition PrimaryMissing True",
        lambda s: any(
            c["type"] == "PrimaryMissing" and c["status"] == "True" for c in s.get("conditions", [])
        ),
        REACTION_TIMEOUT,
    )
    assert missing["phase"] == settled
    warnings = await_event(cluster, "PrimaryMissing")
    assert any(f"{PRIMARY}.{cluster.namespace}" in m for m in warnings), warnings
    assert all(e["type"] == "Warning" for e in cluster.events() if e["reason"] == "PrimaryMissing")

    recreated = cluster.eventually(
        "the primary recreated and available", lambda: deployment_or_none(cluster, PRIMARY), serving, 40
    )
    assert recreated is not None
    assert recreated["spec"]["template"]["spec"]["containers"][0]["image"] == promoted_image
    status = cluster.wait_for(
        "condition PrimaryMissing cleared",
        lambda s: not any(c["type"] == "PrimaryMissing" for c in s.get("conditions", [])),
        REACTION_TIMEOUT,
    )
    assert status["phase"] == settled
    assert cluster.condition("Promoted")["status"] == "True"
    assert cluster.route_weights() == {PRIMARY: 100, f"{APP}-canary": 0}
    assert cluster.replicas_of(APP) == 0, "the target stays parked once the primary serves again"
    await_more_2xx(prometheus, PRIMARY)


def test_primary_deleted_mid_analysis_is_recreated_from_promoted_revision(cluster: Cluster) -> None:
    bootstrap(cluster, interval="3s", step_weight=20, max_weight=60, threshold=3)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_for(
        "weight 20", lambda s: s.get("phase") == "Progressing" and s.get("canaryWeight", 0) >= 20, 40
    )
    delete_deployment(cluster, PRIMARY)

    # From the deletion until the recreated primary serves: within a tick or two the route sends
    # everything to the canary (the only copy serving) and from then on never to the primary;
    # the primary only ever comes back with the promoted image, and nothing is promoted meanwhile.
    samples: list[tuple[dict[str, int], str | None, bool, str]] = []
    canary_only = {PRIMARY: 0, f"{APP}-canary": 100}

    def sample() -> list[tuple[dict[str, int], str | None, bool, str]]:
        primary = deployment_or_none(cluster, PRIMARY)
        image = primary["spec"]["template"]["spec"]["containers"][0]["image"] if primary else None
        samples.append((cluster.route_weights(), image, serving(primary), str(cluster.status().get("phase"))))
        return samples

    cluster.eventually(
        "the route at 0/100, then the primary recreated and available",
        sample,
        lambda seen: any(w == canary_only for w, *_ in seen) and seen[-1][2],
        40,
    )
    flipped = next(i for i, (w, *_) in enumerate(samples) if w == canary_only)
    for _, image, _, phase in samples:
        assert image in (None, STABLE_IMAGE), f"the primary ran the unpromoted {image}: {samples}"
        assert phase == "Progressing", f"nothing is promoted while the primary is missing: {samples}"
    for weights, _, primary_serves, _ in samples[flipped:]:
        if not primary_serves:
            assert weights == canary_only, f"traffic was routed to the missing primary: {samples}"
    print(f"{len(samples)} samples, route at 0/100 from sample {flipped}: {samples}")
    redirected = await_event(cluster, "TrafficRedirected")
    assert any(f"{APP}.{cluster.namespace}" in m and "no available replicas" in m for m in redirected), (
        redirected
    )
    assert cluster.image_of(PRIMARY) == STABLE_IMAGE, "recreated from the promoted revision, not the canary"
    assert "PrimaryMissing" in reasons(cluster)

    # Once the primary serves again the analysis goes on from where it was, and promotes.
    status = cluster.wait_phase("Succeeded", RELEASE_TIMEOUT)
    assert status["failedChecks"] == 0, status
    assert cluster.image_of(PRIMARY) == GOOD_IMAGE
    assert cluster.route_weights() == {PRIMARY: 100, f"{APP}-canary": 0}
    assert not any(c["type"] == "PrimaryMissing" for c in status.get("conditions", []))


# --------------------------------------------------------------------------- a deleted target


def test_target_deleted_mid_analysis_routes_back_to_primary(cluster: Cluster, prometheus: Prometheus) -> None:
    bootstrap(cluster, interval="3s", step_weight=20, max_weight=60, threshold=3)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_for("weight > 0", lambda s: s.get("canaryWeight", 0) >= 20, 40)
    assert cluster.route_weights()[f"{APP}-canary"] > 0
    delete_deployment(cluster, APP)

    cluster.eventually(
        "route 100/0 to the primary",
        cluster.route_weights,
        lambda w: w == {PRIMARY: 100, f"{APP}-canary": 0},
        REACTION_TIMEOUT,
    )
    status = cluster.wait_phase("Failed", REACTION_TIMEOUT)
    assert status["canaryWeight"] == 0
    promoted = cluster.condition("Promoted")
    assert promoted["status"] == "False" and "not found" in promoted["message"], promoted
    rolling_back = await_event(cluster, "RollingBack")
    assert any(m.startswith("Rolling back") and "not found" in m for m in rolling_back), rolling_back
    assert cluster.image_of(PRIMARY) == STABLE_IMAGE

    # Traffic keeps being served, all of it by the primary, all of it 2xx.
    flipped = prometheus.served()
    await_more_2xx(prometheus, PRIMARY, at_least=20)
    since = delta(flipped, prometheus.served(not_before=time.time() + 1))
    assert total(since, codes="5") == 0, f"5xx answered after the route went back to the primary: {since}"
    assert total(since, workload=PRIMARY, codes="2") > 0, since


# --------------------------------------------------------------------------- two Canaries, one target


def test_second_canary_on_same_target_stands_aside(cluster: Cluster) -> None:
    bootstrap(cluster, interval="2s")
    route_before = cluster.route()
    primary_before = cluster.deployment(PRIMARY)

    second = canary(cluster.namespace, interval="2s")
    second["metadata"]["name"] = "second"
    second["spec"]["service"]["hosts"] = ["second.example.com"]  # what it would write, were it to act
    cluster.create_canary(second)

    conflict = cluster.eventually(
        "condition TargetConflict on the second Canary",
        lambda: cluster.condition("TargetConflict", name="second"),
        lambda c: c.get("status") == "True",
        REACTION_TIMEOUT,
    )
    assert f"{cluster.namespace}/{APP}" in conflict["message"], conflict
    warnings = await_event(cluster, "TargetConflict", name="second")
    assert any(f"{cluster.namespace}/{APP}" in m for m in warnings), warnings
    assert all(e["type"] == "Warning" for e in cluster.events("second") if e["reason"] == "TargetConflict")
    assert not cluster.condition("TargetConflict"), "the first Canary owns its target"

    # Over several intervals of both Canaries nothing they manage changes: no flip-flopping.
    versions: list[tuple[str, str, dict[str, int], list[str]]] = []
    deadline = time.monotonic() + 7.0

    def sample() -> float:
        route = cluster.route()
        primary = cluster.deployment(PRIMARY)
        versions.append(
            (
                route["metadata"]["resourceVersion"],
                primary["metadata"]["resourceVersion"],
                cluster.route_weights(),
                route["spec"].get("hostnames", []),
            )
        )
        return time.monotonic()

    Cluster.eventually("several intervals of sampling", sample, lambda now: now >= deadline, 30)
    assert len(versions) >= 5, versions
    for route_version, primary_version, weights, hosts in versions:
        assert route_version == route_before["metadata"]["resourceVersion"], (
            f"the route was rewritten: {versions}"
        )
        assert primary_version == primary_before["metadata"]["resourceVersion"], "the primary was rewritten"
        assert weights == {PRIMARY: 100, f"{APP}-canary": 0}
        assert hosts == ["podinfo.example.com"]
    owners = [o["name"] for o in cluster.deployment(PRIMARY)["metadata"].get("ownerReferences", [])]
    assert owners == [APP], owners
    assert cluster.status()["phase"] == "Initialized"
    assert len([e for e in cluster.events("second") if e["reason"] == "TargetConflict"]) == 1, "warned once"


# --------------------------------------------------------------------------- Prometheus outages


def test_short_prometheus_outage_does_not_fail_the_release(
    cluster: Cluster, prometheus_switch: PrometheusSwitch
) -> None:
    bootstrap(
        cluster,
        analysis={"consecutiveErrorLimit": 4},
        interval="3s",
        threshold=3,
        step_weight=20,
        max_weight=60,
        metric_interval="30s",
    )
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_for("a first measured step", lambda s: s.get("canaryWeight", 0) >= 40, 40)
    prometheus_switch.stop()
    try:
        errored = cluster.wait_for(
            "a provider error in the status", lambda s: s.get("consecutiveErrors", 0) >= 1, REACTION_TIMEOUT
        )
    finally:
        prometheus_switch.start()
    assert errored["phase"] == "Progressing"
    said = str(errored.get("message", "")) + " ".join(
        c.get("message") or "" for c in errored.get("checks", [])
    )
    assert "Prometheus unreachable" in said or "timed out" in said, errored
    assert "no values found" not in said, errored

    status = cluster.wait_phase("Succeeded", RELEASE_TIMEOUT)
    assert status["failedChecks"] == 0, "a provider error is not a failed check"
    assert cluster.image_of(PRIMARY) == GOOD_IMAGE
    halts = reasons(cluster).get("Halted", [])
    assert any("Prometheus unreachable" in m or "timed out" in m for m in halts), halts


# --------------------------------------------------------------------------- skipAnalysis


def test_skip_analysis_release_never_routes_to_a_workload_without_replicas(
    cluster: Cluster, prometheus: Prometheus
) -> None:
    bootstrap(cluster, interval="2s", skipAnalysis=True)
    before = prometheus.served()
    cluster.set_image(GOOD_IMAGE)
    backends = {PRIMARY: PRIMARY, f"{APP}-canary": APP}
    seen: list[tuple[dict[str, int], dict[str, int | None], str]] = []

    def sample() -> str:
        weights = cluster.route_weights()
        replicas: dict[str, int | None] = {}
        for name in backends.values():
            found = deployment_or_none(cluster, name)
            replicas[name] = None if found is None else int(found["spec"].get("replicas", 1))
        phase = str(cluster.status().get("phase"))
        seen.append((weights, replicas, phase))
        return phase

    cluster.eventually("phase Progressing", sample, lambda p: p == "Progressing", 30)
    cluster.eventually("phase Succeeded", sample, lambda p: p == "Succeeded", RELEASE_TIMEOUT)
    assert any(replicas[APP] for _, replicas, _ in seen), f"the target's scale-up was not sampled: {seen}"
    for weights, replicas, _ in seen:
        for service, weight in weights.items():
            if weight > 0:
                assert replicas[backends[service]], f"{service} had weight {weight} with no replicas: {seen}"
    assert cluster.image_of(PRIMARY) == GOOD_IMAGE
    assert cluster.replicas_of(PRIMARY) >= 1
    assert cluster.route_weights() == {PRIMARY: 100, f"{APP}-canary": 0}
    cluster.wait_event("Canary analysis was skipped")
    during = delta(before, prometheus.served(not_before=time.time() + 1))
    assert total(during, codes="5") == 0, f"5xx served during a skipAnalysis release: {during}"
    assert total(during, workload=PRIMARY, codes="2") > 0, during


# --------------------------------------------------------------------------- non-finite values


def test_infinite_metric_value_keeps_kubectl_working(cluster: Cluster) -> None:
    bootstrap(
        cluster,
        interval="2s",
        threshold=10,
        step_weight=20,
        max_weight=60,
    )
    body = cluster.canary()
    body["spec"]["analysis"]["metrics"] = [
        {"name": "request-duration", "query": "vector(1)/0", "thresholdRange": {"max": 500}},
        {"name": "infinite", "query": "vector(1)/0", "thresholdRange": {"max": 500}},
    ]
    cluster.clients.custom.patch_namespaced_custom_object(
        "canary.dev", "v1alpha1", cluster.namespace, "canaries", APP, {"spec": body["spec"]}
    )
    cluster.set_image(GOOD_IMAGE)
    status = cluster.wait_for(
        "an Inconclusive check",
        lambda s: any(c.get("verdict") == "Inconclusive" for c in s.get("checks", [])),
        40,
    )

    listed = cluster.kubectl("get", "canary", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["items"]
    checks = {c["name"]: c for c in items[0]["status"]["checks"]}
    assert set(checks) == {"request-duration", "infinite"}, checks
    for check in checks.values():
        assert check["verdict"] == "Inconclusive", check
        assert check.get("value") is None, check
        assert "+Inf" in check["message"], check

    shown = cluster.kubectl("get", "canary", APP)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[1].split()[0] == APP, shown.stdout
    promoted = cluster.condition("Promoted")["status"]
    waited = cluster.kubectl(
        "wait", f"--for=condition=Promoted={promoted}", f"canary/{APP}", "--timeout=30s", timeout=40
    )
    assert waited.returncode == 0, waited.stderr
    assert any("+Inf" in m for m in reasons(cluster).get("Halted", [])), reasons(cluster)
    assert status["phase"] in ("Progressing", "Failed"), status
    assert cluster.image_of(PRIMARY) == STABLE_IMAGE, "an unmeasurable release is never promoted"
