"""kopf handlers: thin wiring from Kubernetes events to the reconciler. No decisions here."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from canary.api.models import GROUP, MANUAL_REQUESTS, PLURAL, VERSION, request_annotation
from canary.operator.config import Logger, OperatorConfig
from canary.operator.login import login
from canary.operator.reconciler import Reconciler
from canary.operator.recorder import Recorder

#: Back-off after an exception the reconciler did not anticipate (its own errors retry sooner).
UNEXPECTED_ERROR_DELAY = 5.0
#: After a wake-up the next tick waits at least this long, so a burst of Deployment status
#: updates (a rollout in progress) costs a few ticks, not one per update.
WAKE_DEBOUNCE_SECONDS = 0.5
#: Suffix of the primary Deployment's name (its changes wake the Canary of ``<target>``).
PRIMARY_SUFFIX = "-primary"
#: Seconds the deletion handler keeps retrying before kopf gives up and lets the deletion finish.
FINALIZE_TIMEOUT = 300.0


def _reconciler(memo: Any) -> Reconciler:
    """One reconciler per operator process, built lazily on first use (clients need the login done)."""
    if "reconciler" not in memo:
        config: OperatorConfig = memo["config"]
        memo["reconciler"] = Reconciler.from_config(config, memo.get("recorder"))
    reconciler: Reconciler = memo["reconciler"]
    return reconciler


TargetKey = tuple[str, str, str]


def _target_key(namespace: str | None, spec: Any) -> TargetKey:
    """``(namespace, kind, name)`` of the workload a Canary's spec targets."""
    target = dict((spec or {}).get("targetRef") or {})
    return (namespace or "default", str(target.get("kind") or "Deployment"), str(target.get("name") or ""))


def index_targets(
    *, name: str, namespace: str | None, spec: Any, meta: Any, **_: Any
) -> dict[TargetKey, tuple[str, str]]:
    """Index every Canary by the workload it targets, so two Canaries on one target are noticed.

    The value is ``(creationTimestamp, canary name)``: the oldest claim owns the target
    (RFC3339 timestamps sort in time order).
    """
    return {_target_key(namespace, spec): (str(meta.get("creationTimestamp") or ""), name)}


def _wakeup(memo: Any, namespace: str | None, name: str) -> asyncio.Event:
    """The event that ends a Canary daemon's sleep early (set when one of its Deployments changes).

    kopf gives every object a shallow copy of the operator's memo, so the table lives in the
    operator-wide memo (:func:`operator_memo`) and is shared by all handlers.
    """
    events: dict[tuple[str, str], asyncio.Event] = memo["wakeups"]
    return events.setdefault((namespace or "default", name), asyncio.Event())


async def wake_canaries(*, name: str, namespace: str | None, memo: Any, **kwargs: Any) -> None:
    """A Deployment changed (template, replicas, status, deletion): wake the Canaries that drive it.

    Progress still comes only from the daemon's tick and the Canary's status; this only makes a
    new revision, a deleted primary or a deleted target noticed within about a second instead
    of at the next interval.
    """
    canary_targets: kopf.Index[TargetKey, tuple[str, str]] = kwargs["canary_targets"]
    names = {name}
    if name.endswith(PRIMARY_SUFFIX):
        names.add(name[: -len(PRIMARY_SUFFIX)])
    for target in names:
        for _, canary in canary_targets.get((namespace or "default", "Deployment", target), ()):
            _wakeup(memo, namespace, canary).set()


async def wake_on_request(
    *, name: str, namespace: str | None, memo: Any, annotations: Any, status: Any, **_: Any
) -> None:
    """A Canary got a manual request (``canary promote|abort|retry``) not yet handled: act on it now.

    Only pending requests wake the daemon, not every change of the Canary (its own status
    writes among them).
    """
    handled = dict((status or {}).get("handledRequests") or {})
    for kind in MANUAL_REQUESTS:
        value = (annotations or {}).get(request_annotation(kind))
        if value and handled.get(kind) != value:
            _wakeup(memo, namespace, name).set()
            return


async def _sleep(stopped: kopf.DaemonStopped, wake: asyncio.Event, delay: float) -> None:
    """Until ``delay`` passed, the daemon is stopped, or one of the Canary's Deployments changed."""
    waiters = {asyncio.ensure_future(stopped.wait(delay)), asyncio.ensure_future(wake.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if wake.is_set() and not stopped:
        await stopped.wait(WAKE_DEBOUNCE_SECONDS)


async def run_canary(
    *,
    name: str,
    namespace: str | None,
    spec: Any,
    memo: Any,
    stopped: kopf.DaemonStopped,
    logger: Logger,
    **kwargs: Any,
) -> None:
    """One daemon per Canary: reconcile, then sleep until the core says the next step is due.

    All progress is in the Canary's status, so a restarted operator resumes here without repeating a step.
    """
    reconciler = _reconciler(memo)
    canary_targets: kopf.Index[TargetKey, tuple[str, str]] = kwargs["canary_targets"]
    wake = _wakeup(memo, namespace, name)
    while not stopped:
        wake.clear()  # before the tick: a change during the tick wakes the next sleep at once
        claims = tuple(canary_targets.get(_target_key(namespace, spec), ()))
        try:
            delay = await reconciler.tick(
                name=name, namespace=namespace or "default", logger=logger, claims=claims
            )
        except Exception:  # a bug or an outage must not kill the daemon: the status still says where we are
            logger.exception(
                "reconcile of %s failed unexpectedly; retrying in %.0fs", name, UNEXPECTED_ERROR_DELAY
            )
            delay = UNEXPECTED_ERROR_DELAY
        await _sleep(stopped, wake, delay)


async def finalize_canary(*, body: kopf.Body, memo: Any, logger: Logger, **_: Any) -> None:
    """On deletion: with revertOnDeletion, give the target back its traffic and replicas."""
    await _reconciler(memo).finalize(body=dict(body), logger=logger)


def operator_memo(config: OperatorConfig, recorder: Recorder | None = None) -> kopf.Memo:
    """The operator-wide memo: the configuration, the metrics recorder and the daemons' wake-up events."""
    return kopf.Memo(config=config, recorder=recorder, wakeups={})


def build_registry() -> kopf.OperatorRegistry:
    """Handlers are registered on a registry of our own, so importing this module has no side effects."""
    registry = kopf.OperatorRegistry()
    kopf.on.login(registry=registry, id="login")(login)
    kopf.index(GROUP, VERSION, PLURAL, registry=registry, id="canary_targets")(index_targets)
    kopf.daemon(
        GROUP,
        VERSION,
        PLURAL,
        registry=registry,
        id="reconcile",
        cancellation_timeout=5.0,
    )(run_canary)
    # Deletion always completes: after the retries (about FINALIZE_TIMEOUT seconds) kopf gives up,
    # logs the failure and releases the finalizer instead of blocking the deletion forever.
    kopf.on.delete(
        GROUP, VERSION, PLURAL, registry=registry, id="finalize", timeout=FINALIZE_TIMEOUT, backoff=5.0
    )(finalize_canary)
    # A low-level event handler: kopf writes nothing to the Deployments (no finalizer, no annotation).
    kopf.on.event("apps", "v1", "deployments", registry=registry, id="wake")(wake_canaries)
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry, id="wake-on-request")(wake_on_request)
    return registry
