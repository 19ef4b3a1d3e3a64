"""One reconciliation tick: observe -> decide (pure core) -> apply actions -> write status once.

Everything that talks to the cluster or Prometheus is behind the targets, routers and metrics
edges; the decisions are :func:`canary.core.machine.decide`'s alone. A failed action leaves the
old status in place (actions are idempotent), so the next tick simply decides again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from urllib3.exceptions import HTTPError

from canary.alerts import AlertSender
from canary.api.models import (
    CONDITION_PROMOTED,
    GROUP,
    MANUAL_REQUESTS,
    PLURAL,
    VERSION,
    Canary,
    CanaryStatus,
    CanaryWebhook,
    ConditionStatus,
    Phase,
    WebhookType,
    parse_time,
    request_annotation,
)
from canary.core import machine
from canary.core.actions import (
    Action,
    CallWebhooks,
    EmitEvent,
    Finalize,
    InitializePrimary,
    PromoteToPrimary,
    RestorePrimary,
    ScaleTarget,
    SetRoute,
    SyncRouting,
)
from canary.core.conditions import set_condition
from canary.core.hooks import HookOutcome, hooks_of, payload_phase
from canary.core.observations import CanaryRef, Measurement, Observation
from canary.kube import KubeClients, instrument, is_not_found, load_clients
from canary.metrics.analysis import measure_checks, measure_samples
from canary.operator.config import Logger, OperatorConfig
from canary.operator.recorder import Recorder
from canary.routers.base import Router, RouterError
from canary.routers.factory import router_for
from canary.targets.base import Target, TargetError
from canary.targets.factory import target_for
from canary.webhooks import WebhookCaller, event_payload, payload

#: After an error the tick is retried this soon, doubling per consecutive failure.
RETRY_SECONDS = 2.0
#: After this many consecutive failed ticks the status message, a condition and an Event say why.
REPORT_AFTER_FAILURES = 3
#: The reconciler's own condition: ticks keep failing (cleared by the next tick that completes).
CONDITION_RECONCILE_ERROR = "ReconcileError"

#: Who claims a target: ``(creationTimestamp, name)`` of each Canary naming it (see handlers).
Claim = tuple[str, str]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass
class Edges:
    """The I/O side of one Canary for one tick."""

    target: Target
    router: Router


class Reconciler:
    """Runs ticks for any Canary; holds only clients and configuration, never progress."""

    def __init__(
        self,
        clients: KubeClients,
        config: OperatorConfig,
        clock: Callable[[], datetime] = utcnow,
        recorder: Recorder | None = None,
    ) -> None:
        self.clients = clients
        self.config = config
        self.clock = clock
        self.recorder = recorder or Recorder()
        self._failures: dict[tuple[str, str], int] = {}
        """Consecutive failed ticks per Canary: only paces retries, never decides anything."""
        self.webhooks = WebhookCaller(config.webhook_url_allow)
        self.alerts = AlertSender(clients, cluster=config.cluster_name)
        self._notifications: set[asyncio.Task[None]] = set()
        """Event and post-rollout hook calls in flight (kept referenced until they end)."""

    @classmethod
    def from_config(cls, config: OperatorConfig, recorder: Recorder | None = None) -> Reconciler:
        """The operator's reconciler: its API requests are counted in the recorder's metrics."""
        clients = load_clients(config.kubeconfig)
        reconciler = cls(clients, config, recorder=recorder)
        instrument(clients, reconciler.recorder.count_kube_request)
        return reconciler

    # ------------------------------------------------------------------ ticks

    async def tick(
        self, *, name: str, namespace: str, logger: Logger, claims: Collection[Claim] = ()
    ) -> float:
        """Reconcile one Canary once; returns seconds until the next tick.

        ``claims`` are the Canaries that name the same target (this one included); the oldest
        owns it and the others stand aside. Never raises for one Canary's trouble: an error of
        any kind becomes a back-off and, when it persists, a condition and an Event.
        """
        started = time.monotonic()
        completed = False
        try:
            delay, completed = await self._tick(name, namespace, logger, claims)
            return delay
        finally:
            self.recorder.observe_reconcile(time.monotonic() - started, ok=completed, ended=self.clock())

    async def _tick(
        self, name: str, namespace: str, logger: Logger, claims: Collection[Claim]
    ) -> tuple[float, bool]:
        """:meth:`tick`'s work; also says whether the tick completed (False: it will be retried)."""
        body = await asyncio.to_thread(self._read_canary, name, namespace)
        if body is None or body.get("metadata", {}).get("deletionTimestamp"):
            self.recorder.forget(namespace, name)
            return self.config.max_tick_seconds, True  # deletion is the finalizer's job alone
        try:
            canary = Canary.from_body(body)
        except ValidationError as exc:
            await self._report_invalid(body, _validation_message(exc), logger)
            return self.config.max_tick_seconds, True
        except Exception as exc:  # a parser bug must not become a crash loop
            await self._report_invalid(body, f"invalid Canary: {_short(exc)}", logger)
            return self.config.max_tick_seconds, True
        try:
            edges = self._edges(canary)
        except (TargetError, RouterError) as exc:
            await self._report_invalid(body, str(exc), logger)
            return self.config.max_tick_seconds, True

        started = time.monotonic()
        now = self.clock()
        try:
            observation = await self._observe(canary, edges, now, _owner(canary, claims))
            decision = await self._decide(canary, observation, logger)
            await self._apply(canary, edges, decision.actions)
            written = _without_reconcile_error(decision.status)
            await asyncio.to_thread(self._write_status, canary, body, written)
        except (ApiException, TargetError, RouterError, HTTPError) as exc:
            return await self._retry_later(body, exc, logger), False
        except Exception as exc:  # a bug in one Canary's tick: back off, say so, keep the daemon alive
            logger.exception("unexpected error reconciling %s.%s", name, namespace)
            return await self._retry_later(body, exc, logger), False
        self._failures.pop((namespace, name), None)
        self._record(canary, observation, written, time.monotonic() - started)
        self._post_events(body, decision.actions, logger)
        self._notify(body, canary, decision, logger)
        delay = machine.next_tick_in(canary.spec, decision.status, self.clock())
        return min(max(delay, self.config.min_tick_seconds), self.config.max_tick_seconds), True

    def _record(
        self, canary: Canary, observation: Observation, written: CanaryStatus, seconds: float
    ) -> None:
        """Publish a completed tick: the Canary's gauges, and for an analysis step its timing."""
        self.recorder.record_canary(canary, canary.status, written)
        if observation.checks is None:
            return
        self.recorder.count_queries(observation.checks)
        self.recorder.observe_analysis(canary, seconds)
        started = canary.status.step_started_at if canary.status else None
        if started:
            due = parse_time(started) + canary.spec.analysis_interval
            self.recorder.observe_lateness((observation.now - due).total_seconds())

    async def _decide(self, canary: Canary, observation: Observation, logger: Logger) -> machine.Decision:
        """Decide, calling the webhooks the core asks for and deciding again with their answers.

        The core asks for one hook type at a time, in Flagger's order, so each round adds one
        type's answers; it cannot ask more rounds than there are types.
        """
        decision = machine.decide(canary.spec, canary.status, observation)
        revision = observation.target_revision.hash if observation.target_revision else None
        phase = canary.current_status.phase
        for _ in WebhookType:
            if not decision.asks:
                return decision
            given = dict(observation.hooks)
            for type_ in sorted(decision.asks):
                outcomes = await self.webhooks.ask(canary, type_, payload_phase(type_, phase), revision)
                for outcome in outcomes:
                    logger.info(
                        "webhook %s (%s): %s%s",
                        outcome.name,
                        type_.value,
                        "2xx" if outcome.ok else "not approved",
                        f" ({outcome.message})" if outcome.message else "",
                    )
                given[type_] = outcomes
            observation = dataclasses.replace(observation, hooks=given)
            decision = machine.decide(canary.spec, canary.status, observation)
        raise RuntimeError(f"the decision core kept asking for webhooks: {sorted(decision.asks)}")

    async def _observe(self, canary: Canary, edges: Edges, now: datetime, owner: str | None) -> Observation:
        """Everything the core may look at this tick; metrics only when the core will judge them."""
        seen = await asyncio.to_thread(edges.target.observe, canary)
        route = await asyncio.to_thread(self._routes_or_none, canary, edges.router)
        plan = machine.measurement_plan(canary.spec, canary.status, now)
        checks: tuple[Measurement, ...] | None = None
        if plan.checks is not None:
            checks = await measure_checks(
                canary,
                self.clients,
                self.config.prometheus_url,
                metrics_address_allow=self.config.metrics_address_allow,
                windows=plan.checks,
                at=now,
            )
        samples = await measure_samples(
            canary,
            self.clients,
            self.config.prometheus_url,
            plan.samples,
            now,
            metrics_address_allow=self.config.metrics_address_allow,
        )
        return Observation(
            now=now,
            canary=CanaryRef(canary.name, canary.namespace),
            target_revision=seen.revision,
            target=seen.target,
            primary=seen.primary,
            checks=checks,
            route_weights=route,
            primary_revision=seen.primary_revision,
            traffic_splitting=edges.router.splits_traffic,
            unreferenced_autoscalers=seen.unreferenced_autoscalers,
            owner=owner,
            requests=_requests(canary),
            samples=samples,
        )

    @staticmethod
    def _routes_or_none(canary: Canary, router: Router) -> tuple[int, int] | None:
        """The live split, or None while there is no usable route (SyncRouting recreates it)."""
        try:
            return router.get_routes(canary)
        except RouterError:
            return None

    async def _retry_later(self, body: Mapping[str, Any], exc: BaseException, logger: Logger) -> float:
        """A tick that did not complete: back off exponentially; after a few, tell the user in the status.

        The status keeps its progress fields (the next tick decides again from them); only the
        message changes, so `kubectl describe` says why nothing moves.
        """
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace")), str(meta.get("name")))
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        logger.warning("reconcile did not complete (attempt %d), will retry: %s", failures, _short(exc))
        if failures >= REPORT_AFTER_FAILURES:
            message = f"reconcile failing ({failures} attempts): {_short(exc)}"
            current = _status_or_empty(body)
            conditions = set_condition(
                current.conditions,
                CONDITION_RECONCILE_ERROR,
                ConditionStatus.TRUE,
                "ReconcileFailing",
                message,
                self.clock(),
            )
            fields = {
                "message": message,
                "conditions": [c.to_dict() for c in conditions],
            }
            with contextlib.suppress(ApiException, HTTPError):
                await asyncio.to_thread(self._patch_status_fields, body, fields)
                if failures == REPORT_AFTER_FAILURES:
                    kopf.event(_as_body(body), type="Warning", reason="ReconcileError", message=message)
        return min(RETRY_SECONDS * 2 ** (failures - 1), self.config.max_tick_seconds)

    async def finalize(self, *, body: Mapping[str, Any], logger: Logger) -> None:
        """Deletion: let the core decide (revertOnDeletion) and perform it; kopf retries on error."""
        try:
            canary = Canary.from_body(body)
        except Exception:
            salvaged = _salvage_for_deletion(body)
            if salvaged is None:
                logger.warning("canary spec is invalid and names no usable targetRef: nothing to finalize")
                return
            logger.warning("canary spec is invalid; finalizing with its targetRef, service and provider only")
            canary = salvaged
        decision = machine.finalize(
            canary.spec, canary.status, now=self.clock(), canary=CanaryRef(canary.name, canary.namespace)
        )
        try:
            edges = self._edges(canary)
        except (TargetError, RouterError) as exc:
            if canary.current_status.last_promoted_spec is None:
                # Never bootstrapped (e.g. a provider this operator cannot drive): nothing was
                # created or scaled for it, so there is nothing to revert and no point retrying.
                logger.warning("nothing to finalize for %s: %s", canary.name, exc)
                return
            raise kopf.TemporaryError(
                f"finalizing {canary.name}: {_short(exc)}", delay=RETRY_SECONDS
            ) from exc
        try:
            await asyncio.to_thread(self._patch_status_fields, body, {"phase": Phase.TERMINATING.value})
            await self._apply(canary, edges, decision.actions)
            final = decision.status.model_dump(by_alias=True, exclude_none=True, mode="json")
            await asyncio.to_thread(self._patch_status_fields, body, final)
        except (TargetError, RouterError, ApiException, HTTPError) as exc:
            raise kopf.TemporaryError(
                f"finalizing {canary.name}: {_short(exc)}", delay=RETRY_SECONDS
            ) from exc
        self.recorder.forget(canary.namespace, canary.name)
        self._post_events(body, decision.actions, logger)
        self._notify(body, canary, decision, logger)

    # ------------------------------------------------------------------ apply

    async def _apply(self, canary: Canary, edges: Edges, actions: tuple[Action, ...]) -> None:
        """Perform the core's actions in order; events are posted only after the status is written."""
        for action in actions:
            await asyncio.to_thread(self._apply_one, canary, edges, action)

    @staticmethod
    def _apply_one(canary: Canary, edges: Edges, action: Action) -> None:
        match action:
            case InitializePrimary():
                edges.target.initialize(canary)
                edges.router.reconcile(canary)
            case SyncRouting():
                edges.router.reconcile(canary)
            case SetRoute(primary_weight=primary, canary_weight=weight):
                edges.router.set_routes(canary, primary, weight)
            case ScaleTarget(to_zero=True):
                edges.target.scale_to_zero(canary)
            case ScaleTarget(to_zero=False):
                edges.target.scale_up(canary)
            case PromoteToPrimary(revision=revision):
                edges.target.promote(canary, revision)  # refuses if the target changed since analysis
            case RestorePrimary(revision=revision):
                edges.target.restore_primary(canary, revision)
            case Finalize(revert=True):
                edges.target.finalize(canary, revert=True)
                edges.router.finalize(canary)
            case Finalize(revert=False):
                edges.target.finalize(canary, revert=False)
            case EmitEvent() | CallWebhooks():
                pass  # after the status write: see _post_events and _notify

    # ------------------------------------------------------------------ status and events

    def _read_canary(self, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            body = self.clients.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if is_not_found(exc):
                return None
            raise
        return dict(body)  # type: ignore[call-overload]

    def _write_status(self, canary: Canary, body: Mapping[str, Any], status: CanaryStatus) -> None:
        """One merge patch of the whole status; keys the new status drops are nulled explicitly."""
        new = status.model_dump(by_alias=True, exclude_none=True, mode="json")
        old = dict(body.get("status") or {})
        if new == old:
            return
        patch: dict[str, Any] = {key: None for key in old if key not in new}
        patch.update(new)
        # Optimistic concurrency: a status computed from a stale read is refused (409), never written
        # over a newer one; the next tick decides again from what is really there.
        version = body.get("metadata", {}).get("resourceVersion")
        self.clients.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            canary.namespace,
            PLURAL,
            canary.name,
            {"metadata": {"resourceVersion": version}, "status": patch},
        )

    def _patch_status_fields(self, body: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """A few status fields, without touching progress (used for messages about trouble)."""
        meta = body.get("metadata", {})
        self.clients.custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            str(meta.get("namespace")),
            PLURAL,
            str(meta.get("name")),
            {"status": dict(fields)},
        )

    async def _report_invalid(self, body: Mapping[str, Any], message: str, logger: Logger) -> None:
        """A Canary the operator cannot act on: say why in the status, once, and touch nothing else."""
        old = dict(body.get("status") or {})
        if old.get("message") == message:
            return
        logger.error("canary cannot be reconciled: %s", message)
        current = CanaryStatus.model_validate(old) if old else CanaryStatus()
        conditions = set_condition(
            current.conditions,
            CONDITION_PROMOTED,
            ConditionStatus.FALSE,
            "InvalidSpec",
            message,
            self.clock(),
        )
        status = current.model_copy(update={"conditions": conditions, "message": message})
        fields = status.model_dump(
            by_alias=True, exclude_none=True, mode="json", include={"conditions", "message"}
        )
        await asyncio.to_thread(self._patch_status_fields, body, fields)
        kopf.event(_as_body(body), type="Warning", reason="InvalidSpec", message=message)

    @staticmethod
    def _post_events(body: Mapping[str, Any], actions: tuple[Action, ...], logger: Logger) -> None:
        for action in actions:
            if isinstance(action, EmitEvent):
                logger.info("%s: %s", action.reason, action.message)
                kopf.event(_as_body(body), type=action.type, reason=action.reason, message=action.message)

    def _notify(
        self, body: Mapping[str, Any], canary: Canary, decision: machine.Decision, logger: Logger
    ) -> None:
        """Event hooks for every Event and the post-rollout hooks the core asked for, in the background.

        Notifications, not questions: the tick does not wait for them, and their answers change
        nothing but a log line (and a Warning Event for a failed post-rollout hook, as in Flagger).
        """
        revision = decision.status.last_applied_spec
        phase = decision.status.phase or Phase.INITIALIZING
        calls: list[tuple[CanaryWebhook, WebhookType, dict[str, Any]]] = []
        for action in decision.actions:
            if isinstance(action, EmitEvent) and action.alert is not None and canary.spec.analysis.alerts:
                self._background(self.alerts.send(canary, action))
            if isinstance(action, EmitEvent):
                for hook in hooks_of(canary.spec, WebhookType.EVENT):
                    event = event_payload(
                        canary, phase, revision, hook, message=action.message, event_type=action.type
                    )
                    calls.append((hook, WebhookType.EVENT, event))
            elif isinstance(action, CallWebhooks):
                for hook in hooks_of(canary.spec, action.type):
                    calls.append((hook, action.type, payload(canary, action.phase, revision, hook.metadata)))
        for hook, type_, payload_body in calls:
            self._background(self._notify_one(body, hook, type_, payload_body, logger))

    def _background(self, call: Coroutine[Any, Any, None]) -> None:
        """Run a notification without waiting for it (referenced until it ends)."""
        task = asyncio.create_task(call)
        self._notifications.add(task)
        task.add_done_callback(self._notifications.discard)

    async def _notify_one(
        self,
        body: Mapping[str, Any],
        hook: CanaryWebhook,
        type_: WebhookType,
        payload_body: dict[str, Any],
        logger: Logger,
    ) -> None:
        outcome: HookOutcome = await self.webhooks.call(hook, type_, payload_body)
        if not outcome.ok:
            logger.warning("%s hook %s failed: %s", type_.value, hook.name, outcome.message)
        if type_ is WebhookType.POST_ROLLOUT:  # Flagger's wording, one Event either way
            kopf.event(
                _as_body(body),
                type="Normal" if outcome.ok else "Warning",
                reason="Synced",
                message=(
                    f"Post-rollout check {hook.name} passed"
                    if outcome.ok
                    else f"Post-rollout hook {hook.name} failed {outcome.message}"
                ),
            )

    def _edges(self, canary: Canary) -> Edges:
        """The target and the router of this Canary, built once per tick with the operator's settings."""
        target = target_for(
            canary,
            self.clients,
            selector_labels=self.config.selector_labels,
            include_label_prefixes=self.config.include_label_prefixes,
        )
        router = router_for(
            canary, self.clients, target.pod_selector, self.config.default_provider, target.discovered_ports
        )
        return Edges(target, router)


def _requests(canary: Canary) -> dict[str, str]:
    """The manual requests on the Canary (``canary promote|abort|retry``, or GitOps); the core
    decides whether and when each applies."""
    annotations = canary.metadata.get("annotations") or {}
    found = {kind: annotations.get(request_annotation(kind)) for kind in MANUAL_REQUESTS}
    return {kind: str(value) for kind, value in found.items() if value}


def _owner(canary: Canary, claims: Collection[Claim]) -> str | None:
    """The Canary that owns this one's target when it is not this one: the oldest claim wins."""
    if not claims:
        return None
    _, name = min(claims)
    return None if name == canary.name else f"{canary.namespace}/{name}"


def _status_or_empty(body: Mapping[str, Any]) -> CanaryStatus:
    try:
        return CanaryStatus.model_validate(dict(body.get("status") or {}))
    except ValidationError:
        return CanaryStatus()


def _without_reconcile_error(status: CanaryStatus) -> CanaryStatus:
    """A tick completed: the reconciler's own failure condition no longer applies."""
    if status.condition(CONDITION_RECONCILE_ERROR) is None:
        return status
    kept = [c for c in status.conditions if c.type != CONDITION_RECONCILE_ERROR]
    return status.model_copy(update={"conditions": kept})


#: What deletion of an invalid Canary needs besides ``targetRef``; an invalid part is dropped.
_DELETION_FIELDS = ("targetRef", "service", "provider", "autoscalerRef", "revertOnDeletion")


def _salvage_for_deletion(body: Mapping[str, Any]) -> Canary | None:
    """The parts of an invalid Canary that deletion needs, so revertOnDeletion still keeps traffic flowing.

    The analysis is irrelevant to deletion and replaced by a minimal valid one; a field that
    still fails validation is dropped. None when even ``targetRef`` is unusable.
    """
    raw_spec = body.get("spec") or {}
    spec: dict[str, Any] = {k: raw_spec[k] for k in _DELETION_FIELDS if k in raw_spec}
    spec["analysis"] = {"interval": "1m", "iterations": 1}
    for _ in range(len(_DELETION_FIELDS)):
        try:
            return Canary.from_body({**dict(body), "spec": spec, "status": _status_or_empty(body).to_dict()})
        except ValidationError as exc:
            bad = {str(e["loc"][1]) for e in exc.errors() if len(e["loc"]) > 1 and e["loc"][0] == "spec"}
            if not bad:
                # A rule across fields (e.g. a Gateway API provider without gatewayRefs): drop
                # the optional parts one by one, least needed first.
                bad = {next((k for k in ("provider", "autoscalerRef", "service") if k in spec), "targetRef")}
            if "targetRef" in bad or not bad & set(spec):
                return None
            for key in bad:
                spec.pop(key, None)
        except Exception:
            return None
    return None


def _validation_message(exc: ValidationError) -> str:
    """pydantic errors worded like the API server's: `spec.analysis.stepWeight: message`."""
    parts = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"])
        parts.append(f"{path}: {error['msg']}" if path else str(error["msg"]))
    return "invalid Canary: " + "; ".join(parts)


def _as_body(body: Mapping[str, Any]) -> kopf.Body:
    """kopf's event poster wants its Body wrapper; ours are plain dicts read through the client."""
    return kopf.Body(cast(kopf.RawBody, dict(body)))


def _short(exc: BaseException) -> str:
    """An API error as the API server worded it (its Status message), not as a raw body."""
    if isinstance(exc, ApiException):
        message = _status_message(exc.body) or str(exc.body)[:300]
        if exc.status == 403:
            return f"permission denied (check the operator's RBAC): {message}"
        return f"{exc.status} {exc.reason}: {message}"
    return str(exc)


def _status_message(body: Any) -> str:
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        return ""
    return str(status.get("message") or "") if isinstance(status, dict) else ""


__all__ = ["Reconciler"]
