"""Webhooks on a running operator: called at Flagger's hook points, gates hold until opened.

A local receiver records every call; Flagger's own loadtester (the sandbox's) answers the
manifests that use ``http://flagger-loadtester.<ns>/`` unchanged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from harness import Cluster, canary
from test_wait import canary_wait

from canary.demo.manifests import GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration


class Receiver:
    """Records ``(path, payload)`` of every POST; answers 200 unless ``closed`` holds the path."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.closed: set[str] = set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver.lock:
                    receiver.calls.append((self.path, body))
                    status = 403 if self.path in receiver.closed else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.calls]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body in self.calls if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def bootstrap_with_hooks(cluster: Cluster, hooks: list[dict[str, Any]], **analysis: Any) -> None:
    """podinfo on the stable image, its Canary with ``hooks``, initialized."""
    cluster.create_deployment(STABLE_IMAGE)
    spec = canary(cluster.namespace, **analysis)
    spec["spec"]["analysis"]["webhooks"] = hooks
    cluster.create_canary(spec)
    cluster.wait_phase("Initialized", 60)


def held_while(cluster: Cluster, receiver: Receiver, path: str, phase: str, calls: int) -> None:
    """Wait until ``path`` was asked ``calls`` more times, checking at every poll that nothing moved."""
    target = len(receiver.bodies(path)) + calls

    def probe() -> int:
        status = cluster.status()
        assert status.get("phase") == phase, f"the gate {path} did not hold: {status.get('message')}"
        assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
        return len(receiver.bodies(path))

    cluster.eventually(f"{calls} more calls of {path}", probe, lambda n: n >= target, 60)


def test_every_hook_is_called_at_its_point_and_gates_hold_until_opened(
    cluster: Cluster, receiver: Receiver
) -> None:
    url = receiver.url
    hooks = [
        {"name": "approve-rollout", "type": "confirm-rollout", "url": f"{url}/confirm-rollout"},
        {"name": "acceptance", "type": "pre-rollout", "url": f"{url}/pre-rollout", "metadata": {"cmd": "x"}},
        {"name": "load-test", "url": f"{url}/rollout"},
        {"name": "step", "type": "confirm-traffic-increase", "url": f"{url}/confirm-traffic-increase"},
        {"name": "approve-promotion", "type": "confirm-promotion", "url": f"{url}/confirm-promotion"},
        {"name": "notify", "type": "post-rollout", "url": f"{url}/post-rollout"},
        {"name": "abort-switch", "type": "rollback", "url": f"{url}/rollback"},
        {"name": "audit", "type": "event", "url": f"{url}/event"},
    ]
    receiver.closed |= {"/confirm-rollout", "/confirm-promotion", "/rollback"}
    bootstrap_with_hooks(cluster, hooks, interval="2s", step_weight=25, max_weight=50)

    cluster.set_image(GOOD_IMAGE)
    waiting = cluster.wait_phase("Waiting", 20)
    assert waiting["gate"]["name"] == "approve-rollout"
    held_while(cluster, receiver, "/confirm-rollout", "Waiting", calls=3)
    assert cluster.replicas_of("podinfo") == 0, "a held revision is not scaled up"
    waited = canary_wait(
        cluster, "podinfo", "-n", cluster.namespace, "--image", GOOD_IMAGE, "--timeout", "1s"
    )
    assert waited.returncode == 2, waited.stderr
    assert "phase Waiting; held by gate approve-rollout (confirm-rollout)" in waited.stderr

    receiver.closed.discard("/confirm-rollout")
    cluster.wait_phase("WaitingPromotion", 90)
    held_while(cluster, receiver, "/confirm-promotion", "WaitingPromotion", calls=3)

    receiver.closed.discard("/confirm-promotion")
    cluster.wait_phase("Succeeded", 60)
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
    cluster.eventually("post-rollout call", lambda: receiver.bodies("/post-rollout"), bool, 20)
    cluster.wait_event("Post-rollout check notify passed")

    paths = receiver.paths()
    first = {path: paths.index(path) for path in dict.fromkeys(paths)}
    assert (
        first["/confirm-rollout"]
        < first["/pre-rollout"]
        < first["/confirm-traffic-increase"]
        < first["/rollout"]
        < first["/confirm-promotion"]
        < first["/post-rollout"]
    ), paths
    assert "/rollback" in first, "rollback hooks are asked while analysing"

    rollout_ask = receiver.bodies("/confirm-rollout")[0]
    assert rollout_ask["name"] == "podinfo" and rollout_ask["namespace"] == cluster.namespace
    assert rollout_ask["phase"] == "Initialized" and rollout_ask["checksum"]
    assert receiver.bodies("/confirm-rollout")[-1]["phase"] == "Waiting"
    assert receiver.bodies("/pre-rollout")[0]["metadata"] == {"cmd": "x"}
    assert receiver.bodies("/pre-rollout")[0]["phase"] == "Progressing"
    assert receiver.bodies("/post-rollout")[0]["phase"] == "Succeeded"
    events = [body["metadata"]["eventMessage"] for body in receiver.bodies("/event")]
    assert any(message.startswith("New revision detected!") for message in events), events
    messages = cluster.wait_event("Confirm-promotion check approve-promotion passed")
    assert any(
        m.startswith("Halt podinfo.") and "waiting for approval approve-rollout" in m for m in messages
    )
    assert "Confirm-promotion check approve-promotion passed" in messages


def loadtester(cluster: Cluster, sandbox: Any, action: str) -> None:
    """POST to the sandbox's Flagger loadtester by its in-cluster name, as Flagger's docs do with curl."""
    env = sandbox.proxy_env()
    response = requests.post(
        f"http://flagger-loadtester.{cluster.namespace}/{action}",
        json={"name": "podinfo", "namespace": cluster.namespace},
        proxies={"http": env["HTTP_PROXY"]},
        timeout=10,
    )
    assert response.status_code < 300, response.text


def test_flagger_loadtester_gate_and_rollback_unchanged(cluster: Cluster, sandbox: Any) -> None:
    """Flagger's manual-gating manifest: gate/check holds until gate/open; rollback/open rolls back."""
    lt = f"http://flagger-loadtester.{cluster.namespace}"
    hooks = [
        {"name": "gate", "type": "confirm-rollout", "url": f"{lt}/gate/check"},
        {"name": "rollback", "type": "rollback", "url": f"{lt}/rollback/check"},
        {
            "name": "load-test",
            "url": f"{lt}/",
            "timeout": "5s",
            "metadata": {"cmd": f"hey -z 10s -q 5 -c 1 http://podinfo-canary.{cluster.namespace}:9898/"},
        },
    ]
    bootstrap_with_hooks(cluster, hooks, interval="3s", step_weight=10, max_weight=50)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_phase("Waiting", 20)
    loadtester(cluster, sandbox, "gate/open")
    cluster.wait_for("analysis under way", lambda s: s.get("canaryWeight", 0) > 0, 40)
    loadtester(cluster, sandbox, "rollback/open")
    failed = cluster.wait_phase("Failed", 30)
    assert failed["lastFailedRevision"]["message"] == "rollback webhook rollback signalled a rollback"
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
    assert cluster.route_weights()["podinfo-canary"] == 0
    cluster.wait_event("manual webhook invoked")


def test_a_gate_that_never_opens_fails_the_release_after_max_wait(cluster: Cluster) -> None:
    lt = f"http://flagger-loadtester.{cluster.namespace}"
    hooks = [{"name": "halt", "type": "confirm-promotion", "url": f"{lt}/gate/halt", "maxWait": "6s"}]
    bootstrap_with_hooks(cluster, hooks, interval="2s", step_weight=50, max_weight=50)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_phase("WaitingPromotion", 60)
    failed = cluster.wait_phase("Failed", 30)
    promoted = cluster.condition("Promoted")
    assert promoted["status"] == "False"
    assert "gate halt (confirm-promotion) did not open within 6s" in promoted["message"]
    assert "did not open within 6s" in failed["lastFailedRevision"]["message"]
    assert cluster.image_of("podinfo-primary") == STABLE_IMAGE
