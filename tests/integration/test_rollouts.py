"""End-to-end rollouts: the real operator process, the real kubectl, real Prometheus.

On the sandbox by default; against a real cluster with `make e2e` (see conftest.py). Each test
asserts what a user sees: phase and conditions, route weights, the primary's image, Events.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from harness import Cluster, OperatorProcess, canary
from kubernetes.client.exceptions import ApiException
from reference_data import HTTPROUTE_CRD

from canary.demo.manifests import BAD_IMAGE, GOOD_IMAGE, STABLE_IMAGE
from canary.demo.manifests import deployment as demo_deployment

pytestmark = pytest.mark.integration


def httproute_schema(version: str) -> dict[str, Any]:
    crd = yaml.safe_load(HTTPROUTE_CRD.read_text())
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
    return schema


BOOTSTRAP_TIMEOUT = 60.0
RELEASE_TIMEOUT = 90.0


def bootstrap(cluster: Cluster, **canary_args: object) -> None:
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace, **canary_args))  # type: ignore[arg-type]
    cluster.wait_phase("Initialized", BOOTSTRAP_TIMEOUT)


def test_bootstrap_creates_primary_services_and_route(cluster: Cluster) -> None:
    bootstrap(cluster)
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
    assert cluster.replicas_of("podinfo") == 0, "the target is parked once the primary serves"
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    services = {
        s.metadata.name for s in cluster.clients.core.list_namespaced_service(cluster.namespace).items
    }
    assert {"podinfo", "podinfo-primary", "podinfo-canary"} <= services
    promoted = cluster.condition("Promoted")
    assert (promoted["status"], promoted["reason"]) == ("True", "Initialized")
    cluster.wait_event("Initialization done")
    # The route the operator wrote is valid for a real cluster's Gateway API CRD.
    jsonschema.validate(cluster.route(), httproute_schema("v1"))


def test_good_release_is_promoted_and_kubectl_wait_returns(cluster: Cluster) -> None:
    bootstrap(cluster)
    started = time.monotonic()
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_phase("Progressing", 30)
    waited = cluster.kubectl(
        "wait",
        "--for=condition=Promoted",
        "canary/podinfo",
        f"--timeout={int(RELEASE_TIMEOUT)}s",
        timeout=RELEASE_TIMEOUT + 10,
    )
    assert waited.returncode == 0, waited.stderr
    status = cluster.status()
    assert status["phase"] == "Succeeded", status
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert cluster.replicas_of("podinfo") == 0
    assert {c["name"]: c["verdict"] for c in status["checks"]} == {
        "request-success-rate": "Successful",
        "request-duration": "Successful",
    }
    messages = cluster.wait_event("Promotion completed")
    assert any("Advance podinfo" in m and "weight 50" in m for m in messages), messages
    print(f"good release promoted in {time.monotonic() - started:.1f}s")


def test_bad_release_is_rolled_back(cluster: Cluster) -> None:
    bootstrap(cluster)
    cluster.set_image(BAD_IMAGE)
    status = cluster.wait_phase("Failed", RELEASE_TIMEOUT)
    assert status["canaryWeight"] == 0
    assert status["failedChecks"] == 2, "rolled back when failed checks reached the threshold"
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert cluster.replicas_of("podinfo") == 0
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE, "a failed release never reaches the primary"
    promoted = cluster.condition("Promoted")
    assert (promoted["status"], promoted["reason"]) == ("False", "Failed")
    checks = {c["name"]: c for c in status["checks"]}
    assert checks["request-success-rate"]["verdict"] == "Failed"
    assert checks["request-success-rate"]["value"] < 99
    messages = cluster.wait_event("Rolling back")
    assert any("Halt" in m and "request-success-rate" in m for m in messages), messages


def test_new_revision_during_analysis_restarts_it(cluster: Cluster) -> None:
    bootstrap(cluster, step_weight=20, max_weight=60)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_for("weight > 0", lambda s: s.get("canaryWeight", 0) > 0, 30)
    newer = "ghcr.io/stefanprodan/podinfo:6.7.3"
    cluster.set_image(newer)
    cluster.wait_for(
        "analysis restarted for the newer image",
        lambda s: (s.get("revision") or {}).get("image") == newer,
        30,
    )
    cluster.wait_event("Restarting analysis")
    cluster.wait_phase("Succeeded", RELEASE_TIMEOUT)
    assert cluster.image_of("podinfo-primary") == newer
    advances = [m for m in cluster.event_messages() if m.startswith("Advance") and m.endswith("weight 20")]
    assert len(advances) == 2, f"the restarted analysis began again at the first step: {advances}"


def test_operator_restart_mid_analysis_continues_at_same_weight(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    bootstrap(cluster, interval="4s", step_weight=20, max_weight=60)
    cluster.set_image(GOOD_IMAGE)
    before = cluster.wait_for("weight 20", lambda s: s.get("canaryWeight") == 20, 40)
    # Events are posted after the status write: wait for the step's Event too, so the kill
    # lands between steps (an Event still in flight is lost with a SIGKILLed process).
    cluster.eventually(
        "Advance event for weight 20",
        cluster.event_messages,
        lambda messages: any(m.startswith("Advance") and m.endswith("weight 20") for m in messages),
        20,
    )
    operator.kill()
    assert cluster.status()["canaryWeight"] == 20
    operator.start()
    weights, status = cluster.watch_weights("Succeeded", RELEASE_TIMEOUT)
    assert status["phase"] == "Succeeded"
    assert weights == [20, 40, 60, 0], f"the restarted operator repeated or skipped a step: {weights}"
    advances = [m for m in cluster.event_messages() if m.startswith("Advance")]
    assert len(advances) == 3, f"one Advance event per step, none repeated: {advances}"
    assert status["failedChecks"] == before["failedChecks"] == 0
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE


def test_invalid_canary_is_refused_with_field_path(cluster: Cluster, tmp_path: Path) -> None:
    bad = canary(cluster.namespace, step_weight=150)
    path = str(tmp_path / "canary.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(bad, f)
    result = cluster.kubectl("apply", "-f", path)
    assert result.returncode != 0
    assert "spec.analysis.stepWeight" in result.stderr, result.stderr
    typo = canary(cluster.namespace)
    typo["spec"]["analysis"]["stepweight"] = typo["spec"]["analysis"].pop("stepWeight")
    with open(path, "w") as f:
        yaml.safe_dump(typo, f)
    result = cluster.kubectl("apply", "-f", path)
    assert result.returncode != 0
    assert "stepweight" in result.stderr, result.stderr


def test_missing_deployment_is_reported_without_crash_loop(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.create_canary(canary(cluster.namespace, target="absent"))
    status = cluster.wait_for(
        "a message about the missing target",
        lambda s: (
            "not found" in str((s.get("conditions") or [{}])[0].get("message", ""))
            or "not found" in str(s.get("message", ""))
        ),
        30,
    )
    assert "absent" in str(status)
    assert operator.process is not None and operator.process.poll() is None, "the operator must keep running"
    # The route was never touched: nothing half-shifted is left behind.
    with pytest.raises(ApiException) as missing:
        cluster.route()
    assert missing.value.status == 404
    # When the Deployment appears, the Canary initializes.
    cluster.create_deployment(STABLE_IMAGE, name="absent")
    cluster.wait_phase("Initialized", BOOTSTRAP_TIMEOUT)


def test_kubectl_get_canaries_shows_printer_columns(cluster: Cluster) -> None:
    bootstrap(cluster)
    result = cluster.kubectl("get", "canaries")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "STATUS", "WEIGHT"]
    assert row.split()[:3] == ["podinfo", "Initialized", "0"]
    # `canary status`, reached the way users do: as a kubectl plugin found on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    shown = subprocess.run(
        ["kubectl", "canary", "status", "podinfo", "-n", cluster.namespace, "--kubeconfig", cluster.kubeconfig],
        capture_output=True, text=True, timeout=30, check=False, env=env,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "Initialized" in shown.stdout
    assert "Initialization done" in shown.stdout


def test_prometheus_down_halts_and_never_promotes(
    cluster: Cluster, stop_prometheus: Callable[[], None]
) -> None:
    bootstrap(cluster, threshold=3, step_weight=20, max_weight=60)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_for("weight 20", lambda s: s.get("canaryWeight", 0) >= 20, 40)
    stop_prometheus()
    at_stop = cluster.status()["canaryWeight"]
    weights, status = cluster.watch_weights("Failed", RELEASE_TIMEOUT)
    # A tick already measuring when Prometheus stopped may finish one step; nothing advances after that.
    assert max(weights) <= at_stop + 20 and weights[-1] == 0, weights
    # Provider errors are not failed checks: they have a limit of their own (default 4).
    assert (status["failedChecks"], status["consecutiveErrors"]) == (0, 4), status
    assert "Prometheus unreachable" in status["message"], status["message"]
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE, "an unmeasured release must never promote"
    assert {c["verdict"] for c in status["checks"]} == {"Error"}
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}


def test_deleting_canary_with_revert_restores_target(cluster: Cluster) -> None:
    bootstrap(cluster, revertOnDeletion=True)
    assert cluster.replicas_of("podinfo") == 0
    cluster.clients.custom.delete_namespaced_custom_object(
        "canary.dev", "v1alpha1", cluster.namespace, "canaries", "podinfo"
    )

    def deployments() -> dict[str, int]:
        listing = cluster.clients.apps.list_namespaced_deployment(cluster.namespace)
        return {d.metadata.name: d.spec.replicas for d in listing.items}

    # The primary is garbage-collected with its owner and the target gets its replicas back.
    cluster.eventually("the target restored alone", deployments, lambda d: d == {"podinfo": 1}, 30)
    assert cluster.image_of("podinfo") == STABLE_IMAGE

    def services() -> dict[str, Any]:
        listing = cluster.clients.core.list_namespaced_service(cluster.namespace)
        return {s.metadata.name: s for s in listing.items}

    remaining = cluster.eventually(
        "generated Services removed", services, lambda s: set(s) == {"podinfo"}, 30
    )
    apex = remaining["podinfo"]
    assert apex.spec.selector == {"app": "podinfo"}, "the apex Service now selects the restored target"
    assert not apex.metadata.owner_references, "the apex Service outlives the Canary"
    # Traffic keeps flowing: the route survives and sends everything to the apex Service.
    route = cluster.route()
    assert not route["metadata"].get("ownerReferences")
    assert [(b["name"], b.get("weight", 1)) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        ("podinfo", 100)
    ]


def test_canary_never_ready_is_rolled_back_after_progress_deadline(cluster: Cluster) -> None:
    bootstrap(cluster, progressDeadlineSeconds=8)
    cluster.set_image("ghcr.io/stefanprodan/podinfo:6.7.4-crash")  # the sandbox never makes it ready
    status = cluster.wait_phase("Failed", 60)
    assert "not ready" in str(cluster.condition("Promoted").get("message", "")) + str(
        status.get("message")
    ), status
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    assert cluster.replicas_of("podinfo") == 0
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE


def test_port_discovery_adds_the_targets_other_ports_to_every_service(cluster: Cluster) -> None:
    """Flagger's service.portDiscovery: the target's metrics and gRPC ports are served by the
    apex, primary and canary Services beside the main one."""
    body: Any = canary(cluster.namespace)
    body["spec"]["service"]["portDiscovery"] = True
    deployment: Any = demo_deployment(STABLE_IMAGE, cluster.namespace)
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"] += [
        {"name": "http-metrics", "containerPort": 9797},
        {"name": "grpc", "containerPort": 9999},
    ]
    cluster.clients.apps.create_namespaced_deployment(cluster.namespace, deployment)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", BOOTSTRAP_TIMEOUT)
    for name in ("podinfo", "podinfo-primary", "podinfo-canary"):
        service = cluster.clients.core.read_namespaced_service(name, cluster.namespace)
        assert [(p.name, p.port) for p in service.spec.ports] == [
            ("http", 9898),
            ("grpc", 9999),
            ("http-metrics", 9797),
        ], name
    assert not any(c["type"] == "UnsupportedFields" for c in cluster.status().get("conditions", []))


def test_blue_green_on_gateway_api_cuts_over_then_promotes(cluster: Cluster) -> None:
    """iterations without stepWeight: Flagger's blue/green. The route stays on the primary during
    the iterations, sends everything to the canary for one analysed interval, then the promoted
    primary takes it all back."""
    body: Any = canary(cluster.namespace)
    analysis = body["spec"]["analysis"]
    del analysis["stepWeight"], analysis["maxWeight"]
    analysis["iterations"] = 2
    # As in Flagger's blue/green tutorial: users reach the canary only once it is cut over, so
    # the loadtester sends the analysed traffic to the canary Service during the iterations.
    analysis["webhooks"] = [
        {
            "name": "load-test",
            "type": "rollout",
            "url": f"http://flagger-loadtester.{cluster.namespace}/",
            "metadata": {"cmd": f"hey -z 1m -q 20 -c 2 http://podinfo-canary.{cluster.namespace}:9898/"},
        }
    ]
    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(body)
    cluster.wait_phase("Initialized", BOOTSTRAP_TIMEOUT)
    cluster.set_image(GOOD_IMAGE)
    seen, status = cluster.watch_weights("Succeeded", RELEASE_TIMEOUT)
    assert seen[0] == 0 and 100 in seen and seen[-1] == 0, seen
    assert status["iterations"] == 0 and cluster.image_of("podinfo-primary") == GOOD_IMAGE
    assert cluster.route_weights() == {"podinfo-primary": 100, "podinfo-canary": 0}
    messages = cluster.wait_event("Promotion completed")
    for expected in (
        f"Advance podinfo.{cluster.namespace} canary iteration 2/2",
        "Routing all traffic to canary",
        f"Copying podinfo.{cluster.namespace} template spec to podinfo-primary.{cluster.namespace}",
        "Routing all traffic to primary",
    ):
        assert expected in messages, (expected, messages)
