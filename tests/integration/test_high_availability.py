"""Two replicas with --leader-elect: exactly one acts; SIGKILL the leader mid-rollout and the other resumes it.

The takeover time printed is from the SIGKILL to the standby's first step; it is bounded by the
lease duration plus one retry period (client-go's protocol, see canary/operator/leader.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, OperatorProcess, canary
from kubernetes.client.exceptions import ApiException

from canary.demo.manifests import GOOD_IMAGE, STABLE_IMAGE

pytestmark = pytest.mark.integration

LEASE_SECONDS = 4.0
ELECTION_ARGS = (
    "--leader-elect",
    "--leader-election-namespace",
    "default",
    "--leader-election-id",
    "canary-operator-ha-test",
    "--leader-election-lease-duration",
    str(LEASE_SECONDS),
    "--leader-election-renew-deadline",
    "3",
    "--leader-election-retry-period",
    "0.5",
)


@pytest.fixture
def replicas(
    operator: OperatorProcess, kubeconfig: str, prometheus_url: str, sandbox: Any, tmp_path: Path
) -> Iterator[dict[str, OperatorProcess]]:
    """Two replicas named like pods; the session's standalone operator steps aside meanwhile."""
    operator.stop()  # the `cluster` fixture of the next test starts it again
    env = {} if sandbox is None else sandbox.proxy_env()
    started = {
        name: OperatorProcess(
            kubeconfig,
            prometheus_url,
            tmp_path / f"{name}.log",
            {**env, "POD_NAME": name},
            args=ELECTION_ARGS,
        )
        for name in ("canary-operator-a", "canary-operator-b")
    }
    for replica in started.values():
        replica.start()
    yield started
    for replica in started.values():
        replica.stop()


def lease_holder(cluster: Cluster) -> str:
    try:
        lease = cluster.clients.coordination.read_namespaced_lease("canary-operator-ha-test", "default")
    except ApiException:
        return ""
    return str(lease.spec.holder_identity or "")


def test_one_replica_leads_and_the_other_takes_over_after_sigkill(
    cluster: Cluster, replicas: dict[str, OperatorProcess]
) -> None:
    leader_name = cluster.eventually("a lease holder", lambda: lease_holder(cluster), bool, 30)
    leader = replicas[leader_name]
    standby_name = next(name for name in replicas if name != leader_name)
    standby = replicas[standby_name]
    cluster.eventually("both replicas ready", lambda: (leader.probe("/readyz"), standby.probe("/readyz")),
                       lambda codes: codes == (200, 200), 30)  # fmt: skip
    assert "canary_operator_leader 1.0" in leader.metrics_text()
    assert "canary_operator_leader 0.0" in standby.metrics_text()

    cluster.create_deployment(STABLE_IMAGE)
    cluster.create_canary(canary(cluster.namespace, interval="4s", step_weight=20, max_weight=60))
    cluster.wait_phase("Initialized", 60)
    cluster.set_image(GOOD_IMAGE)
    cluster.wait_for("weight 20", lambda s: s.get("canaryWeight") == 20, 40)
    cluster.eventually(
        "Advance event for weight 20",
        cluster.event_messages,
        lambda messages: any(m.startswith("Advance") and m.endswith("weight 20") for m in messages),
        20,
    )
    killed_at = time.monotonic()
    leader.kill()
    cluster.eventually("the standby holds the lease", lambda: lease_holder(cluster), lambda h: h == standby_name,
                       LEASE_SECONDS * 3 + 10)  # fmt: skip
    cluster.wait_for("weight 40", lambda s: s.get("canaryWeight") == 40, 40)
    takeover = time.monotonic() - killed_at
    status = cluster.wait_phase("Succeeded", 90)
    print(f"\ntakeover: SIGKILL of the leader to the next step by the standby in {takeover:.1f}s "
          f"(lease {LEASE_SECONDS:g}s, analysis interval 4s)")  # fmt: skip

    assert status["failedChecks"] == 0
    assert cluster.image_of("podinfo-primary") == GOOD_IMAGE
    advances = [m for m in cluster.event_messages() if m.startswith("Advance")]
    expected = [f"Advance podinfo.{cluster.namespace} canary weight {w}" for w in (20, 40, 60)]
    assert sorted(advances, key=lambda m: int(m.rsplit(" ", 1)[1])) == expected, (
        f"each step exactly once across the takeover: {advances}"
    )
    assert "canary_operator_leader 1.0" in standby.metrics_text()


def test_a_stopped_leader_releases_the_lease_for_a_prompt_takeover(
    cluster: Cluster, replicas: dict[str, OperatorProcess]
) -> None:
    leader_name = cluster.eventually("a lease holder", lambda: lease_holder(cluster), bool, 30)
    standby_name = next(name for name in replicas if name != leader_name)
    replicas[leader_name].stop()  # SIGINT, as the kubelet's SIGTERM on a rolling update; waits for the exit
    stopped_at = time.monotonic()
    cluster.eventually("the standby holds the lease", lambda: lease_holder(cluster), lambda h: h == standby_name,
                       LEASE_SECONDS)  # fmt: skip
    assert time.monotonic() - stopped_at < LEASE_SECONDS, "released, not waited out"
