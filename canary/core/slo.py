"""SLO error-budget burn-rate checks (Google SRE workbook, "Alerting on SLOs", multiwindow).

Pure: the burn rate of a window is the canary's error ratio divided by the error budget
(``1 - objective``); a rule fails when both its short and its long window burn faster than its
``burnRate``. The long window shows the budget is really being spent, the short one that it
still is. Windows are cut to the revision's own traffic (:func:`canary.core.windows.slo_windows`).
"""

from __future__ import annotations

from collections.abc import Mapping

from canary.api.duration import format_duration
from canary.api.models import CanarySLO
from canary.core.observations import CheckOutcome, Verdict, WindowSamples

__all__ = ["burn_rate", "evaluate", "rule_name"]


def rule_name(short: str, long: str) -> str:
    """``slo-burn-rate-5m-1h``: the check's name in the status."""
    return f"slo-burn-rate-{short}-{long}"


def burn_rate(errors: float, requests: float, budget: float) -> float | None:
    """How many times faster than allowed the error budget burns; None without requests."""
    if requests <= 0:
        return None
    return (errors / requests) / budget


def evaluate(
    slo: CanarySLO, windows: list[tuple[int, int]], samples: Mapping[float, WindowSamples]
) -> tuple[CheckOutcome, ...]:
    """One outcome per rule: FAILED when both windows burn too fast, INCONCLUSIVE without canary
    requests, ERROR when a window could not be measured. Its value is the long window's burn rate."""
    outcomes: list[CheckOutcome] = []
    for rule, (short_s, long_s) in zip(slo.burn_rates, windows, strict=True):
        name = rule_name(rule.short_window, rule.long_window)
        short, long = samples.get(float(short_s)), samples.get(float(long_s))
        failed = next((w for w in (short, long) if w is None or w.error), None)
        if failed is not None or short is None or long is None:
            message = (
                failed.error if failed is not None and failed.error else "burn-rate windows not measured"
            )
            outcomes.append(CheckOutcome(name=name, verdict=Verdict.ERROR, message=message))
            continue
        rates = [
            burn_rate(w.canary.errors, w.canary.requests, slo.error_budget) if w.canary is not None else None
            for w in (short, long)
        ]
        short_rate, long_rate = rates
        if short_rate is None or long_rate is None:
            outcomes.append(
                CheckOutcome(
                    name=name,
                    verdict=Verdict.INCONCLUSIVE,
                    threshold_max=rule.burn_rate,
                    message=f"no canary requests in the last {format_duration(short_s)}",
                )
            )
            continue
        bad = short_rate > rule.burn_rate and long_rate > rule.burn_rate
        message = (
            f"burn rate {long_rate:.2f} over {format_duration(long_s)} and {short_rate:.2f} over "
            f"{format_duration(short_s)} (objective {slo.objective:g}%, limit {rule.burn_rate:g})"
        )
        outcomes.append(
            CheckOutcome(
                name=name,
                verdict=Verdict.FAILED if bad else Verdict.SUCCESSFUL,
                value=long_rate,
                threshold_max=rule.burn_rate,
                message=message if bad else "",
                window_seconds=float(long_s),
                revision_scoped=True,
                sample_count=long.canary.requests if long.canary is not None else None,
            )
        )
    return tuple(outcomes)
