"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's ``leaderelection`` does it.

Why a Lease and not kopf's peering: it is what Flagger (``-enable-leader-election``) and Argo
Rollouts (``--leader-elect``) use, it needs no CRD of its own, every replica of one Deployment
can run the same command line (kopf's peering pauses all peers that share a priority), and
``kubectl get lease -n canary-system`` shows who leads.

The protocol, from client-go:

* a candidate takes the Lease when it has none, when it is released (no holder), or when the
  holder has not renewed it for ``leaseDurationSeconds``, measured on the candidate's own clock
  from when it last *saw the record change* (so clock skew between nodes does not matter);
* the leader renews every ``retry_period``; if it cannot renew for ``renew_deadline`` it must stop
  leading at once (the operator exits and its pod restarts as a candidate), because another
  replica may take over ``lease_duration`` after the last renewal it saw;
* a leader that stops cleanly releases the Lease, so the next one takes over within one
  ``retry_period`` instead of a whole ``lease_duration``.

Every write is an update guarded by ``resourceVersion``: two candidates racing for an expired
Lease cannot both win. Takeover after a leader dies is bounded by
``lease_duration + retry_period``; all rollout state is in each Canary's status, so the new
leader resumes where the old one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from canary.kube import KubeClients, call_json, is_conflict, is_not_found

logger = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "canary-operator"


@dataclasses.dataclass(frozen=True)
class ElectionTimings:
    """client-go's defaults (Flagger's and Argo Rollouts' too)."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError(
                "leader election needs retry-period < renew-deadline < lease-duration "
                f"(got {self.retry_period:g}s, {self.renew_deadline:g}s, {self.lease_duration:g}s)"
            )


def micro_time(moment: datetime) -> str:
    """A ``MicroTime`` as the API server writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquires, renews and releases one Lease for one identity."""

    def __init__(
        self,
        clients: KubeClients,
        namespace: str,
        name: str,
        identity: str,
        timings: ElectionTimings = ElectionTimings(),
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clients = clients
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings
        self._monotonic = monotonic
        self._now = now
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self.last_renewal = 0.0
        """Monotonic time of the last successful acquire or renew."""

    # ------------------------------------------------------------------ one attempt

    def try_acquire_or_renew(self) -> bool:
        """One round of client-go's ``tryAcquireOrRenew``; True when this identity holds the Lease."""
        lease = self._read()
        now = self._now()
        if lease is None:
            return self._create(now)
        spec = dict(lease.get("spec") or {})
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_at = self._monotonic()
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.timings.lease_duration)
        held_by_other = holder not in ("", self.identity)
        if held_by_other and self._observed_at + duration > self._monotonic():
            return False
        new_spec = dict(spec)
        if holder != self.identity:
            new_spec["acquireTime"] = micro_time(now)
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
        new_spec.update(
            holderIdentity=self.identity,
            leaseDurationSeconds=int(self.timings.lease_duration),
            renewTime=micro_time(now),
        )
        body = {"metadata": {"name": self.name, "resourceVersion": lease["metadata"]["resourceVersion"]}}
        return self._write(lambda: self._replace({**body, "spec": new_spec}))

    def release(self) -> None:
        """Give the Lease up (client-go's ``ReleaseOnCancel``): the next candidate need not wait it out."""
        try:
            lease = self._read()
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            spec = dict(lease["spec"])
            spec.update(holderIdentity=None, leaseDurationSeconds=1, renewTime=micro_time(self._now()))
            body = {"metadata": {"name": self.name, "resourceVersion": lease["metadata"]["resourceVersion"]}}
            self._replace({**body, "spec": spec})
            logger.info("released leader lease %s/%s", self.namespace, self.name)
        except (ApiException, HTTPError) as exc:
            logger.warning("could not release leader lease %s/%s: %s", self.namespace, self.name, exc)

    # ------------------------------------------------------------------ loops

    async def acquire(self, stopping: asyncio.Event) -> bool:
        """Wait until this replica leads (True) or ``stopping`` is set (False)."""
        logger.info("waiting to lead: lease %s/%s as %s", self.namespace, self.name, self.identity)
        while not stopping.is_set():
            if await self._attempt():
                logger.info("became leader: lease %s/%s as %s", self.namespace, self.name, self.identity)
                return True
            await _wait(stopping, self.timings.retry_period * random.uniform(1.0, 1.2))
        return False

    async def hold(self, stopping: asyncio.Event) -> bool:
        """Renew until ``stopping`` is set (True) or renewals failed for ``renew_deadline`` (False)."""
        while not stopping.is_set():
            await _wait(stopping, self.timings.retry_period)
            if stopping.is_set():
                return True
            if await self._attempt():
                continue
            holder = (self._observed_spec or {}).get("holderIdentity") or ""
            if holder not in ("", self.identity):
                logger.error("lost leader lease %s/%s to %s", self.namespace, self.name, holder)
                return False
            if self._monotonic() - self.last_renewal >= self.timings.renew_deadline:
                logger.error(
                    "lost leader lease %s/%s: not renewed for %.0fs",
                    self.namespace,
                    self.name,
                    self.timings.renew_deadline,
                )
                return False
        return True

    async def _attempt(self) -> bool:
        try:
            held = await asyncio.to_thread(self.try_acquire_or_renew)
        except (ApiException, HTTPError) as exc:
            logger.warning("leader lease %s/%s: %s", self.namespace, self.name, _short(exc))
            return False
        if held:
            self.last_renewal = self._monotonic()
        return held

    # ------------------------------------------------------------------ API calls

    def _read(self) -> dict[str, Any] | None:
        try:
            return call_json(self.clients.coordination.read_namespaced_lease, self.name, self.namespace)
        except ApiException as exc:
            if is_not_found(exc):
                return None
            raise

    def _create(self, now: datetime) -> bool:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(self.timings.lease_duration),
                "acquireTime": micro_time(now),
                "renewTime": micro_time(now),
                "leaseTransitions": 0,
            },
        }
        return self._write(
            lambda: call_json(self.clients.coordination.create_namespaced_lease, self.namespace, body)
        )

    def _replace(self, body: dict[str, Any]) -> dict[str, Any]:
        return call_json(self.clients.coordination.replace_namespaced_lease, self.name, self.namespace, body)

    @staticmethod
    def _write(write: Callable[[], Any]) -> bool:
        """A write that lost a race (409) means another replica holds the Lease now."""
        try:
            write()
        except ApiException as exc:
            if is_conflict(exc):
                return False
            raise
        return True


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


def _short(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return str(exc)


__all__ = ["DEFAULT_LEASE_NAME", "ElectionTimings", "LeaderElector", "micro_time"]
