"""`canary simulate`: backtest a Canary's analysis against a Prometheus's history.

The operator's own decision core (:func:`canary.core.machine.decide`) runs on a clock that starts
at ``--from``: the primary runs the old revision, a new revision is detected at ``--from`` (the
first step routes ``stepWeight`` one interval later, as the operator does) and both workloads are
healthy. At every tick the checks and revision counts that
:func:`~canary.core.machine.measurement_plan` asks for are measured *at that historical time*
(every query is evaluated with Prometheus' ``time`` parameter), fed to ``decide``, and the clock
jumps by :func:`~canary.core.machine.next_tick_in`. The run stops at an outcome (Promoting =
promoted, Failed = rolled back) or at ``--to`` (undecided).

History cannot be re-routed: the weights printed are what the operator would have set; the
traffic measured is what really happened then. Webhooks are not called: gates count as open,
tests as passed, rollback hooks as silent.

:func:`backtest` is the loop (no printing, no argument parsing), so it can be tested and reused;
:func:`run` is the thin command around it. Exit 0 whatever the outcome, 2 on bad input, 1 when
Prometheus cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from canary.api.models import Canary, CanarySpec, CanaryStatus
    from canary.core.machine import Decision
    from canary.core.observations import Observation
    from canary.metrics.base import MetricCheck, MetricsProvider

__all__ = [
    "INPUT_ERROR",
    "OK",
    "UNREACHABLE",
    "BacktestResult",
    "BacktestStep",
    "CheckLine",
    "InputError",
    "add_parser",
    "backtest",
    "format_result",
    "load_canary_file",
    "parse_instant",
    "run",
]

OK, UNREACHABLE, INPUT_ERROR = 0, 1, 2

#: Revision hashes of the simulated world: the primary runs OLD, the target changes to NEW at --from.
OLD_REVISION = "simulated-old"
NEW_REVISION = "simulated-new"
#: A backtest never takes more ticks than this (the core asks for at least one second between them).
MAX_TICKS = 200_000

NOTE = (
    "history cannot be re-routed: the weights shown are what the operator would have set, "
    "the traffic measured is what really happened then; webhooks are not called "
    "(gates open, tests pass, no rollback signal)"
)

Outcome = Literal["promoted", "rolled back", "undecided"]


class InputError(ValueError):
    """Bad input (file, manifest, time): the message says what and where; exit code 2."""


@dataclass(frozen=True)
class CheckLine:
    """One metric check judged on a tick."""

    name: str
    verdict: str
    value: float | None
    primary_value: float | None = None
    samples: float | None = None
    min_samples: int | None = None
    message: str | None = None
    window: str | None = None

    def text(self) -> str:
        value = _number(self.value) if self.value is not None else "none"
        out = f"{self.name}={value} {self.verdict}"
        if self.primary_value is not None:
            out += f" (primary {_number(self.primary_value)})"
        if self.min_samples is not None:
            out += f" (samples {_number(self.samples or 0.0, 0)}/{self.min_samples})"
        elif self.samples is not None:
            out += f" (samples {_number(self.samples, 0)})"
        if self.message and self.verdict not in ("Successful", "Failed"):
            out += f" [{self.message}]"
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict,
            "value": self.value,
            "primaryValue": self.primary_value,
            "samples": self.samples,
            "minSamples": self.min_samples,
            "window": self.window,
            "message": self.message,
        }


@dataclass(frozen=True)
class BacktestStep:
    """A tick that changed something: what the operator would have done, and why."""

    at: datetime
    offset: float
    """Seconds since ``--from``."""
    phase: str
    canary_weight: int
    failed_checks: int
    checks: tuple[CheckLine, ...] = ()
    """The checks judged on this tick (empty when none were due)."""
    judge: str | None = None
    """The judge's message when it looked at new traffic on this tick."""
    events: tuple[str, ...] = ()
    """The messages of the Events the operator would have emitted."""
    message: str | None = None
    """The status' one-line summary after this tick."""

    def to_json(self) -> dict[str, Any]:
        return {
            "time": _stamp(self.at),
            "offsetSeconds": self.offset,
            "phase": self.phase,
            "canaryWeight": self.canary_weight,
            "failedChecks": self.failed_checks,
            "checks": [c.to_json() for c in self.checks],
            "judge": self.judge,
            "events": list(self.events),
            "message": self.message,
        }


@dataclass(frozen=True)
class BacktestResult:
    """What the analysis would have done between ``start`` and ``end``."""

    canary: str
    """``name.namespace``."""
    start: datetime
    end: datetime
    outcome: Outcome
    decided_at: datetime
    """When the outcome was reached (``end`` when undecided)."""
    reason: str
    steps: tuple[BacktestStep, ...] = ()
    ticks: int = 0
    """Decisions taken (including those that changed nothing)."""
    prometheus: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What suggests the history is not the one meant (no data at all for any check)."""
        checks = [c for step in self.steps for c in step.checks]
        if checks and all(c.value is None for c in checks):
            return (
                "no check found any data: is the history there (namespace, workload names, "
                "time range, the Prometheus holding the metrics)?",
            )
        return ()

    @property
    def decided_after(self) -> float:
        """Seconds from ``start`` to the outcome."""
        return (self.decided_at - self.start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "canary": self.canary,
            "prometheus": self.prometheus,
            "from": _stamp(self.start),
            "to": _stamp(self.end),
            "analysis": dict(self.settings),
            "note": NOTE,
            "steps": [s.to_json() for s in self.steps],
            "ticks": self.ticks,
            "warnings": list(self.warnings),
            "outcome": {
                "result": self.outcome,
                "time": _stamp(self.decided_at),
                "offsetSeconds": self.decided_after,
                "reason": self.reason,
            },
        }


# --------------------------------------------------------------------------- the loop


def backtest(
    canary: Canary,
    check: MetricCheck | MetricsProvider,
    start: datetime,
    end: datetime,
    *,
    prometheus: str = "",
) -> BacktestResult:
    """Replay the Canary's analysis from ``start`` to ``end`` against the history ``check`` reads.

    ``check`` is a :class:`~canary.metrics.base.MetricCheck` (or a bare provider, wrapped in one).
    Never raises for provider trouble: a query that fails is a provider error the core judges,
    as the operator's would be.
    """
    from canary.api.models import Phase, Revision
    from canary.core.machine import measurement_plan, next_tick_in
    from canary.core.observations import CanaryRef, WorkloadState
    from canary.metrics.analysis import measure_checks_sync
    from canary.metrics.base import MetricCheck

    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("backtest times must be timezone-aware")
    metric_check = check if isinstance(check, MetricCheck) else MetricCheck(check)
    spec = canary.spec
    ref = CanaryRef(canary.name, canary.namespace or "default")
    healthy = WorkloadState.healthy()

    def world(now: datetime, revision: str) -> Observation:
        from canary.core.observations import Observation

        return Observation(
            now=now,
            canary=ref,
            target_revision=Revision(hash=revision),
            target=healthy,
            primary=healthy,
        )

    # The operator's own bootstrap, instantly: the primary serves the old revision.
    status: CanaryStatus | None = None
    for _ in range(3):
        status = _decide(spec, status, world(start, OLD_REVISION)).status
        if status.phase is Phase.INITIALIZED:
            break
    assert status is not None and status.phase is Phase.INITIALIZED, "bootstrap did not initialize"

    steps: list[BacktestStep] = []
    now, ticks = start, 0
    while now <= end and ticks < MAX_TICKS:
        plan = measurement_plan(spec, status, now)
        at = now.timestamp()
        checks = (
            measure_checks_sync(canary, metric_check, plan.checks, now) if plan.checks is not None else None
        )
        samples = {
            answer.window_seconds: answer
            for answer in (metric_check.samples(canary, window, at) for window in plan.samples)
        }
        observation = world(now, NEW_REVISION)
        observation = _with(observation, checks=checks, samples=samples)
        before = status
        decision = _decide(spec, before, observation)
        status = decision.status
        ticks += 1
        step = _step(start, now, before, decision, measured=checks is not None)
        if step is not None:
            steps.append(step)
        outcome = _outcome(status.phase)
        if outcome is not None:
            reason = _reason(outcome, before, status)
            return _result(canary, start, end, outcome, now, reason, steps, ticks, prometheus)
        now = now + timedelta(seconds=next_tick_in(spec, status, now))
    phase = status.phase.value if status.phase is not None else "unknown"
    reason = f"still {phase} at canary weight {status.canary_weight} when the history ends"
    if status.message:
        reason += f": {status.message}"
    return _result(canary, start, end, "undecided", end, reason, steps, ticks, prometheus)


def _result(
    canary: Canary,
    start: datetime,
    end: datetime,
    outcome: Outcome,
    at: datetime,
    reason: str,
    steps: list[BacktestStep],
    ticks: int,
    prometheus: str = "",
) -> BacktestResult:
    analysis = canary.spec.analysis
    settings: dict[str, Any] = {
        "interval": analysis.interval,
        "threshold": analysis.threshold,
        "stepWeight": analysis.step_weight,
        "stepWeights": analysis.step_weights,
        "maxWeight": analysis.max_weight,
        "iterations": analysis.iterations,
        "metrics": [m.name for m in analysis.metrics or []],
        "judge": analysis.judge is not None,
        "slo": analysis.slo is not None,
    }
    return BacktestResult(
        canary=f"{canary.name}.{canary.namespace or 'default'}",
        start=start,
        end=end,
        outcome=outcome,
        decided_at=at,
        reason=reason,
        steps=tuple(steps),
        ticks=ticks,
        prometheus=prometheus,
        settings={k: v for k, v in settings.items() if v is not None},
    )


def _with(observation: Observation, **changes: Any) -> Observation:
    import dataclasses

    return dataclasses.replace(observation, **changes)


def _decide(spec: CanarySpec, status: CanaryStatus | None, observation: Observation) -> Decision:
    """``decide``, answering the webhooks it asks for as the backtest assumes them (see module doc)."""
    from canary.api.models import WebhookType
    from canary.core.hooks import HookOutcome, hooks_of
    from canary.core.machine import decide

    decision = decide(spec, status, observation)
    for _ in WebhookType:
        if not decision.asks:
            return decision
        given = dict(observation.hooks)
        for type_ in decision.asks:
            given[type_] = tuple(
                HookOutcome(
                    hook.name, type_, ok=type_ is not WebhookType.ROLLBACK, message="not called by simulate"
                )
                for hook in hooks_of(spec, type_)
            )
        observation = _with(observation, hooks=given)
        decision = decide(spec, status, observation)
    raise RuntimeError(f"the decision core kept asking for webhooks: {sorted(decision.asks)}")


def _outcome(phase: Any) -> Outcome | None:
    from canary.api.models import Phase

    if phase in (Phase.PROMOTING, Phase.FINALISING, Phase.SUCCEEDED):
        return "promoted"
    if phase is Phase.FAILED:
        return "rolled back"
    return None


def _reason(outcome: Outcome, before: CanaryStatus, after: CanaryStatus) -> str:
    if outcome == "rolled back":
        failed = after.last_failed_revision
        if failed is not None and failed.message:
            return failed.message
        return after.message or "rolled back"
    if before.iterations:
        return f"analysis passed after {before.iterations} iteration(s)"
    return f"analysis passed at canary weight {before.canary_weight}"


def _step(
    start: datetime, now: datetime, before: CanaryStatus, decision: Decision, *, measured: bool
) -> BacktestStep | None:
    """The tick as one line, or None when it changed nothing worth a line."""
    from canary.core.conditions import format_timestamp

    after = decision.status
    stamp = format_timestamp(now)
    checks = tuple(
        CheckLine(
            name=c.name,
            verdict=c.verdict.value if hasattr(c.verdict, "value") else str(c.verdict),
            value=c.value,
            primary_value=c.primary_value,
            samples=c.samples,
            min_samples=c.min_samples,
            message=c.message,
            window=c.window,
        )
        for c in after.checks
        if measured and c.time == stamp
    )
    judge = None
    if after.judge is not None and after.judge.observed_until == stamp:
        judge = after.judge.message
    events = tuple(event.message for event in decision.events)
    changed = (
        checks
        or judge is not None
        or events
        or after.phase != before.phase
        or after.canary_weight != before.canary_weight
        or after.failed_checks != before.failed_checks
        or after.message != before.message
    )
    if not changed:
        return None
    return BacktestStep(
        at=now,
        offset=(now - start).total_seconds(),
        phase=after.phase.value if after.phase is not None else "",
        canary_weight=after.canary_weight,
        failed_checks=after.failed_checks,
        checks=checks,
        judge=judge,
        events=events,
        message=after.message,
    )


# --------------------------------------------------------------------------- output


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: float, decimals: int = 2) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{decimals}f}"


def _offset(seconds: float) -> str:
    from canary.api.duration import format_duration

    return "+" + format_duration(max(seconds, 0.0))


def _on_off(flag: bool) -> str:
    return "on" if flag else "off"


def format_result(result: BacktestResult) -> list[str]:
    """The text output: a header, one line per step, the outcome line."""
    settings = ", ".join(
        f"{k} {_on_off(v) if isinstance(v, bool) else v}"
        for k, v in result.settings.items()
        if k != "metrics"
    )
    metrics = ", ".join(result.settings.get("metrics", [])) or "none"
    lines = [
        f"canary simulate: {result.canary} against {result.prometheus or 'Prometheus'} "
        f"from {_stamp(result.start)} to {_stamp(result.end)}",
        f"analysis: {settings}; metrics: {metrics}",
        f"note: {NOTE}",
    ]
    for step in result.steps:
        parts = [f"{_offset(step.offset):>9} {_stamp(step.at)} {step.phase} weight {step.canary_weight}"]
        if step.checks:
            parts.append(", ".join(c.text() for c in step.checks))
        if step.failed_checks:
            parts.append(f"failed checks {step.failed_checks}")
        if step.judge:
            parts.append(f"judge: {step.judge}")
        if step.events:
            parts.append("events: " + "; ".join(step.events))
        elif not step.checks and not step.judge and step.message:
            parts.append(step.message)
        lines.append(" | ".join(parts))
    lines += [f"warning: {warning}" for warning in result.warnings]
    lines.append(
        f"outcome: {result.outcome} at {_offset(result.decided_after)} {_stamp(result.decided_at)} "
        f"({result.reason})"
    )
    return lines


# --------------------------------------------------------------------------- input


def parse_instant(text: str, what: str = "time") -> datetime:
    """RFC3339 with a timezone (``2026-01-02T15:04:05Z``) or unix seconds -> aware UTC datetime."""
    raw = text.strip()
    try:
        if re.fullmatch(r"[0-9]+(\.[0-9]*)?", raw):
            return datetime.fromtimestamp(float(raw), tz=UTC)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InputError(f"{what}: {text!r} is neither an RFC3339 time nor unix seconds") from None
    if parsed.tzinfo is None:
        raise InputError(f"{what}: {text!r} has no timezone (add Z or an offset such as +02:00)")
    return parsed.astimezone(UTC)


def load_canary_file(path: str, namespace: str | None = None) -> Canary:
    """The first Canary of a YAML/JSON file (``-`` for stdin); InputError naming the field when invalid."""
    import yaml
    from pydantic import ValidationError

    from canary.api.models import API_VERSION, Canary
    from canary.cli.validate import FLAGGER_API_VERSION, kube_path

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: cannot read: not UTF-8 text") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    doc = next((d for d in docs if isinstance(d, dict) and d.get("kind") == "Canary"), None)
    if doc is None:
        raise InputError(f"{path}: no Canary (kind: Canary) document found")
    if doc.get("apiVersion") == FLAGGER_API_VERSION:
        doc = {**doc, "apiVersion": API_VERSION}
    doc = {k: v for k, v in doc.items() if k != "status"}
    metadata = dict(doc.get("metadata") or {}) if isinstance(doc.get("metadata"), dict) else {}
    if namespace or not metadata.get("namespace"):
        metadata["namespace"] = namespace or "default"
    doc["metadata"] = metadata
    try:
        return Canary.from_body(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{kube_path(tuple(e['loc'])) or '(document)'}: {re.sub(r'^Value error, ', '', e['msg'])}"
            for e in exc.errors()
        )
        raise InputError(
            f"{path}: invalid Canary {metadata.get('name') or '<unnamed>'}: {problems}"
        ) from None


def _canary_from_cluster(args: argparse.Namespace) -> tuple[Canary, Any]:
    """The Canary named on the command line, read through the API, and the API clients."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from pydantic import ValidationError

    from canary.api.models import GROUP, PLURAL, VERSION, Canary
    from canary.cli.kubeconfig import clients_and_namespace

    try:
        clients, namespace = clients_and_namespace(args.kubeconfig, args.context, args.namespace)
        body: dict[str, Any] = clients.custom.get_namespaced_custom_object(  # type: ignore[assignment]
            GROUP, VERSION, namespace, PLURAL, args.name
        )
    except ConfigException as exc:
        raise InputError(f"cannot load the kubeconfig: {exc}") from None
    except ApiException as exc:
        raise InputError(f"canary {args.name}: {exc.status} {exc.reason}") from None
    except OSError as exc:
        raise InputError(f"cannot reach the cluster: {exc}") from None
    try:
        return Canary.from_body({k: v for k, v in body.items() if k != "status"}), clients
    except ValidationError as exc:
        raise InputError(f"canary {args.name} in the cluster is invalid: {exc}") from None


# --------------------------------------------------------------------------- the command


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="backtest a Canary's analysis against Prometheus history (what would have happened)",
        description=(
            "Replay a Canary's analysis (thresholds, judge, SLO) against a Prometheus's history between "
            "two times and print what the operator would have done at each step: weights, check "
            "values, verdicts, events, and the outcome. --from is when the new revision is detected "
            "(the first step routes stepWeight one interval later). Exit 0 whatever the outcome, "
            "2 on bad input, 1 when Prometheus cannot be reached."
        ),
    )
    parser.add_argument("name", nargs="?", help="a Canary in the cluster (instead of -f)")
    parser.add_argument(
        "-f", "--filename", metavar="FILE", help="the Canary manifest (YAML/JSON; - for stdin)"
    )
    parser.add_argument(
        "--prometheus",
        metavar="URL",
        help="Prometheus holding the history (default: the Canary's spec.metricsServer)",
    )
    parser.add_argument("--from", dest="start", required=True, metavar="TIME", help="RFC3339 or unix seconds")
    parser.add_argument("--to", dest="end", metavar="TIME", help="RFC3339 or unix seconds (default: now)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("-n", "--namespace", help="namespace (default: the manifest's, else the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig path, to read the Canary and its MetricTemplates")
    parser.add_argument("--context", help="kubeconfig context to use")


def run(args: argparse.Namespace) -> int:
    try:
        canary, check, address, start, end = _inputs(args)
    except InputError as exc:
        print(f"canary simulate: {exc}", file=sys.stderr)
        return INPUT_ERROR
    from canary.metrics.base import MetricsQueryError
    from canary.metrics.prometheus import ONLINE_QUERY

    try:
        check.provider.run_query(ONLINE_QUERY, None, None)
    except MetricsQueryError as exc:
        print(f"canary simulate: cannot query Prometheus: {exc}", file=sys.stderr)
        return UNREACHABLE
    result = backtest(canary, check, start, end, prometheus=address)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for line in format_result(result):
            print(line)
    return OK


def _inputs(args: argparse.Namespace) -> tuple[Canary, MetricCheck, str, datetime, datetime]:
    from canary.metrics.addresses import display_address, parse_address
    from canary.metrics.base import MetricCheck
    from canary.metrics.factory import KubeTemplateResolver
    from canary.metrics.prometheus import PrometheusProvider

    if (args.name is None) == (args.filename is None):
        raise InputError("name a Canary in the cluster or give its manifest with -f FILE (one of them)")
    start = parse_instant(args.start, "--from")
    now = datetime.now(UTC)
    if start >= now:
        raise InputError(f"--from ({_stamp(start)}) is not in the past: there is no history to replay")
    end = min(parse_instant(args.end, "--to"), now) if args.end else now
    if end <= start:
        raise InputError(f"--to ({_stamp(end)}) must be after --from ({_stamp(start)})")
    clients = None
    if args.filename is not None:
        canary = load_canary_file(args.filename, args.namespace)
        if args.kubeconfig or args.context:
            from canary.cli.kubeconfig import clients_and_namespace

            clients, _ = clients_and_namespace(args.kubeconfig, args.context, args.namespace)
    else:
        canary, clients = _canary_from_cluster(args)
    address = args.prometheus or canary.spec.metrics_server
    if not address:
        raise InputError("--prometheus URL is required (the Canary has no spec.metricsServer)")
    try:
        parse_address(address)
    except ValueError as exc:
        raise InputError(f"--prometheus {address!r}: {exc}") from None
    resolver = KubeTemplateResolver(clients, address) if clients is not None else None
    check = MetricCheck(provider=PrometheusProvider(address), resolve_template=resolver)
    return canary, check, display_address(address), start, end
