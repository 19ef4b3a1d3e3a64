"""Lease leader election against the API emulator, with each replica's clock under the test's control."""

from __future__ import annotations

import asyncio
from typing import Any

from edges_helpers import NAMESPACE

from canary.kube import KubeClients, call_json
from canary.operator.leader import ElectionTimings, LeaderElector

TIMINGS = ElectionTimings(lease_duration=15, renew_deadline=10, retry_period=2)


class Clock:
    """A replica's monotonic clock, advanced by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(
    kube: KubeClients, identity: str, clock: Clock, timings: ElectionTimings = TIMINGS
) -> LeaderElector:
    return LeaderElector(kube, NAMESPACE, "canary-operator", identity, timings, monotonic=clock)


def lease(kube: KubeClients) -> dict[str, Any]:
    spec: dict[str, Any] = call_json(kube.coordination.read_namespaced_lease, "canary-operator", NAMESPACE)[
        "spec"
    ]
    return spec


def test_first_candidate_creates_the_lease_and_others_stand_by(kube: KubeClients) -> None:
    a, b = elector(kube, "a", Clock()), elector(kube, "b", Clock())
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    spec = lease(kube)
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0


def test_a_lease_not_renewed_for_its_duration_is_taken_over(kube: KubeClients) -> None:
    clock_b = Clock()
    a, b = elector(kube, "a", Clock()), elector(kube, "b", clock_b)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b sees the record now and starts counting
    clock_b.now += 14.9
    assert not b.try_acquire_or_renew()
    clock_b.now += 0.2
    assert b.try_acquire_or_renew()
    spec = lease(kube)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    assert not a.try_acquire_or_renew(), "the old leader sees the new holder and does not write"


def test_a_renewing_leader_keeps_the_lease_whatever_the_standby_clock_says(kube: KubeClients) -> None:
    clock_b = Clock()
    a, b = elector(kube, "a", Clock()), elector(kube, "b", clock_b)
    assert a.try_acquire_or_renew()
    for _ in range(20):
        assert not b.try_acquire_or_renew()
        clock_b.now += 2
        assert a.try_acquire_or_renew()  # each renewal changes renewTime: b restarts its count
    assert lease(kube)["holderIdentity"] == "a"


def test_a_released_lease_is_taken_at_once(kube: KubeClients) -> None:
    a, b = elector(kube, "a", Clock()), elector(kube, "b", Clock())
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert lease(kube).get("holderIdentity") in (None, "")
    assert b.try_acquire_or_renew()
    assert lease(kube)["holderIdentity"] == "b"


def test_two_candidates_racing_for_an_expired_lease_cannot_both_win(kube: KubeClients) -> None:
    clock_b, clock_c = Clock(), Clock()
    a, b, c = elector(kube, "a", Clock()), elector(kube, "b", clock_b), elector(kube, "c", clock_c)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew() and not c.try_acquire_or_renew()
    clock_b.now += 16
    clock_c.now += 16
    stale = b._read()  # both read the same resourceVersion ...
    original_read = c._read
    c._read = lambda: stale  # type: ignore[method-assign]
    assert b.try_acquire_or_renew()
    assert not c.try_acquire_or_renew(), "... and the second write is refused with 409"
    c._read = original_read  # type: ignore[method-assign]
    assert lease(kube)["holderIdentity"] == "b"


async def test_hold_ends_when_another_replica_took_the_lease(kube: KubeClients) -> None:
    fast = ElectionTimings(lease_duration=3, renew_deadline=2, retry_period=0.05)
    a = LeaderElector(kube, NAMESPACE, "canary-operator", "a", fast)
    stopping = asyncio.Event()
    assert await a.acquire(stopping)
    spec = lease(kube)
    body = call_json(kube.coordination.read_namespaced_lease, "canary-operator", NAMESPACE)
    body["spec"] = {**spec, "holderIdentity": "intruder"}
    call_json(kube.coordination.replace_namespaced_lease, "canary-operator", NAMESPACE, body)
    assert await asyncio.wait_for(a.hold(stopping), 5) is False


async def test_hold_returns_true_when_asked_to_stop(kube: KubeClients) -> None:
    fast = ElectionTimings(lease_duration=3, renew_deadline=2, retry_period=0.05)
    a = LeaderElector(kube, NAMESPACE, "canary-operator", "a", fast)
    stopping = asyncio.Event()
    assert await a.acquire(stopping)
    asyncio.get_running_loop().call_later(0.3, stopping.set)
    assert await asyncio.wait_for(a.hold(stopping), 5) is True
    assert lease(kube)["holderIdentity"] == "a"


def test_timings_must_be_ordered() -> None:
    import pytest

    with pytest.raises(ValueError, match="retry-period < renew-deadline < lease-duration"):
        ElectionTimings(lease_duration=5, renew_deadline=10, retry_period=2)
