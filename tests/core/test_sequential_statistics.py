"""The judge's statistics (:mod:`canary.core.sequential`) checked by simulation, with fixed seeds.

The guarantee in the module docstring: while the canary's bad-request rate is at most ``maxRatio``
times the primary's, the mixture e-value ever reaches ``1/alpha`` with probability at most
``alpha``, however long the analysis runs and however the traffic share and the base rate move.
The mirror test (``NO_REGRESSION_MULTIPLIERS``) has the same guarantee for a canary exactly
``maxRatio`` times worse. Power: a clearly worse canary is caught within a few minutes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import pytest

from canary.api.models import CanaryJudge, JudgeStatus, LatencyBucket
from canary.core.observations import RevisionSample, WindowSamples
from canary.core.sequential import (
    MIN_BOUNDARY_REQUESTS,
    NO_REGRESSION_MULTIPLIERS,
    REGRESSION_MULTIPLIERS,
    WindowCounts,
    choose_boundary,
    e_value,
    fold,
    share,
    slow_counts,
    update,
    window_log_ratio,
)

#: Simulated analyses per null configuration.
ANALYSES = 2000
#: Windows per analysis: 12 minutes of 15 s looks, more than a whole default analysis.
WINDOWS = 48
WINDOW_SECONDS = 15
#: The judge's default bar: two signals, falseRollbackRate 0.01 (k / alpha).
DEFAULT_BAR = len(CanaryJudge().signals) / CanaryJudge().false_rollback_rate


def binomial(rng: random.Random, n: int, p: float) -> int:
    """One Binomial(n, p) draw by inversion (exact; O(n p) steps, fine for rare bad requests)."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    q = 1.0 - p
    prob = q**n
    cdf = prob
    u = rng.random()
    k = 0
    odds = p / q
    while u > cdf and k < n:
        prob *= (n - k) / (k + 1) * odds
        k += 1
        cdf += prob
    return k


def binomial_slack(alpha: float, runs: int, z: float = 3.0) -> float:
    """``z`` standard errors of a rejection fraction whose true value is ``alpha`` (one-sided, ~0.1%)."""
    return z * math.sqrt(alpha * (1.0 - alpha) / runs)


@dataclass(frozen=True)
class Analysis:
    """One simulated analysis: the traffic share and base rate of each window."""

    max_ratio: float
    shares: tuple[float, ...]
    base_rates: tuple[float, ...]
    requests: int


def random_analysis(rng: random.Random) -> Analysis:
    """A canary share in 0.05..0.5 (fixed, or stepping up like canary weights), a base rate in
    0.1%..5% (log-uniform; fixed, or drifting diurnally for both revisions alike), 20..200 rps."""
    max_ratio = rng.choice((1.25, 1.5, 2.0))
    if rng.random() < 0.5:
        shares = (rng.uniform(0.05, 0.5),) * WINDOWS
    else:
        step = rng.choice((0.05, 0.1))
        shares = tuple(min(0.5, 0.05 + step * (w // 4)) for w in range(WINDOWS))
    base = math.exp(rng.uniform(math.log(0.001), math.log(0.05)))
    if rng.random() < 0.5:
        base_rates = (base,) * WINDOWS
    else:
        # A shared swing of +-80% (a busy hour, a flaky dependency): it must not fake a regression.
        phase = rng.uniform(0.0, 2.0 * math.pi)
        base_rates = tuple(
            min(0.05, max(0.001, base * (1.0 + 0.8 * math.sin(phase + w / 5.0)))) for w in range(WINDOWS)
        )
    rps = rng.choice((20, 50, 100, 200))
    return Analysis(max_ratio, shares, base_rates, rps * WINDOW_SECONDS)


def run_analysis(
    rng: random.Random, analysis: Analysis, canary_ratio: float, multipliers: Sequence[float]
) -> float:
    """The largest e-value seen over the analysis (looked at after every window)."""
    log_evidence: list[float] = []
    largest = 1.0
    for rho, base in zip(analysis.shares, analysis.base_rates, strict=True):
        n_c = round(analysis.requests * rho)
        n_p = analysis.requests - n_c
        counts = WindowCounts(
            canary_requests=n_c,
            canary_bad=binomial(rng, n_c, min(1.0, base * canary_ratio)),
            primary_requests=n_p,
            primary_bad=binomial(rng, n_p, base),
        )
        log_evidence = fold(log_evidence, counts, analysis.max_ratio, multipliers)
        largest = max(largest, e_value(log_evidence))
    return largest


@cache
def largest_e_values(seed: int, at_boundary: bool, no_regression: bool) -> tuple[float, ...]:
    """Each simulated analysis's largest e-value, under a null hypothesis.

    Regression test: the canary is as good as the primary, or exactly ``maxRatio`` times worse
    (the boundary of "no worse than tolerated"). No-regression test: exactly ``maxRatio`` worse.
    """
    rng = random.Random(seed)
    multipliers = NO_REGRESSION_MULTIPLIERS if no_regression else REGRESSION_MULTIPLIERS
    out = []
    for _ in range(ANALYSES):
        analysis = random_analysis(rng)
        ratio = analysis.max_ratio if at_boundary else 1.0
        out.append(run_analysis(rng, analysis, ratio, multipliers))
    return tuple(out)


NULLS = [
    pytest.param(11, False, False, id="regression-test-canary-as-good"),
    pytest.param(12, True, False, id="regression-test-canary-maxRatio-worse"),
    pytest.param(13, True, True, id="no-regression-test-canary-maxRatio-worse"),
]


@pytest.mark.parametrize("alpha", [0.05, 0.01])
@pytest.mark.parametrize(("seed", "at_boundary", "no_regression"), NULLS)
def test_e_value_rarely_ever_reaches_one_over_alpha_under_the_null(
    seed: int, at_boundary: bool, no_regression: bool, alpha: float
) -> None:
    largest = largest_e_values(seed, at_boundary, no_regression)
    assert len(largest) == ANALYSES
    rejected = sum(1 for e in largest if e >= 1.0 / alpha) / ANALYSES
    assert rejected <= alpha + binomial_slack(alpha, ANALYSES)


def test_null_simulation_is_not_vacuous() -> None:
    """The simulated analyses do see bad requests and evidence that moves (both ways)."""
    largest = largest_e_values(12, True, False)
    assert sum(1 for e in largest if e > 1.5) > ANALYSES // 20
    assert max(largest) > 5.0


def time_to_detection(
    seed: int, runs: int, *, rps: int, rho: float, canary_rate: float, primary_rate: float, windows: int
) -> list[int | None]:
    """Windows until the default judge's error signal reaches its bar (None: not within ``windows``)."""
    rng = random.Random(seed)
    judge = CanaryJudge()
    n_c = round(rps * WINDOW_SECONDS * rho)
    n_p = rps * WINDOW_SECONDS - n_c
    out: list[int | None] = []
    for _ in range(runs):
        log_evidence: list[float] = []
        found = None
        for w in range(windows):
            counts = WindowCounts(n_c, binomial(rng, n_c, canary_rate), n_p, binomial(rng, n_p, primary_rate))
            log_evidence = fold(log_evidence, counts, judge.errors.max_ratio, REGRESSION_MULTIPLIERS)
            if e_value(log_evidence) >= DEFAULT_BAR:
                found = w + 1
                break
        out.append(found)
    return out


def test_ten_times_worse_canary_is_caught_within_five_minutes() -> None:
    """1% errors against the primary's 0.1%, 10% of 100 rps: >= 99% caught within 5 minutes."""
    windows = 5 * 60 // WINDOW_SECONDS
    found = time_to_detection(
        21, 1000, rps=100, rho=0.1, canary_rate=0.01, primary_rate=0.001, windows=windows
    )
    assert sum(1 for w in found if w is not None) / len(found) >= 0.99


def test_three_times_worse_canary_is_caught_within_ten_minutes() -> None:
    """0.3% errors against 0.1%, 10% of 500 rps: >= 90% caught within 10 minutes."""
    windows = 10 * 60 // WINDOW_SECONDS
    found = time_to_detection(
        22, 500, rps=500, rho=0.1, canary_rate=0.003, primary_rate=0.001, windows=windows
    )
    assert sum(1 for w in found if w is not None) / len(found) >= 0.90


def test_three_times_worse_at_100_rps_is_beyond_any_test_in_ten_minutes() -> None:
    """Why the 3x case needs more traffic than the 10x one: at 10% of 100 rps, even a test told
    the true ratio (an SPRT of 3 against 1.5) expects less than ln(bar) nats of evidence in 10
    minutes (~1.8 bad requests per 15 s window), so no >= 90% detection is possible there."""
    rho, primary_rate, canary_rate = 0.1, 0.001, 0.003
    requests = 100 * 10 * 60
    bad = requests * (rho * canary_rate + (1 - rho) * primary_rate)
    true_share, null_share = share(rho, 3.0), share(rho, 1.5)
    kl = true_share * math.log(true_share / null_share) + (1 - true_share) * math.log(
        (1 - true_share) / (1 - null_share)
    )
    assert bad * kl < math.log(DEFAULT_BAR)
    found = time_to_detection(
        23, 300, rps=100, rho=rho, canary_rate=canary_rate, primary_rate=primary_rate, windows=40
    )
    assert sum(1 for w in found if w is not None) / len(found) < 0.5


# --------------------------------------------------------------------------- the pieces


def test_share_is_the_traffic_share_when_both_are_equally_good() -> None:
    assert share(0.2, 1.0) == pytest.approx(0.2)
    assert share(0.2, 1.5) == pytest.approx(0.3 / 1.1)


@pytest.mark.parametrize(
    "counts",
    [
        pytest.param(WindowCounts(100, 0, 900, 0), id="no-bad-requests"),
        pytest.param(WindowCounts(0, 0, 900, 9), id="no-canary-traffic"),
        pytest.param(WindowCounts(100, 3, 0, 0), id="no-primary-traffic"),
        pytest.param(WindowCounts(100, 0.4, 900, 0.3), id="extrapolated-fractions-round-to-zero"),
        pytest.param(WindowCounts(0.4, 0, 900, 9), id="canary-rounds-to-no-traffic"),
    ],
)
def test_window_without_information_adds_no_evidence(counts: WindowCounts) -> None:
    assert window_log_ratio(counts, 3.0, 1.5) == 0.0
    assert fold([0.7] * len(REGRESSION_MULTIPLIERS), counts, 1.5, REGRESSION_MULTIPLIERS) == [0.7] * len(
        REGRESSION_MULTIPLIERS
    )


def test_window_log_ratio_is_the_binomial_likelihood_ratio_of_the_split() -> None:
    counts = WindowCounts(canary_requests=200, canary_bad=5, primary_requests=800, primary_bad=4)
    alt, null = share(0.2, 3.0), share(0.2, 1.5)
    expected = 5 * math.log(alt / null) + 4 * math.log((1 - alt) / (1 - null))
    assert window_log_ratio(counts, 3.0, 1.5) == pytest.approx(expected)
    # Bad requests are capped at the requests (a counter reset cannot make more than all fail).
    capped = WindowCounts(canary_requests=2, canary_bad=5, primary_requests=800, primary_bad=4)
    assert window_log_ratio(capped, 3.0, 1.5) == pytest.approx(
        window_log_ratio(WindowCounts(2, 2, 800, 4), 3.0, 1.5)
    )


def test_fold_starts_fresh_and_e_value_is_the_mixture_mean() -> None:
    counts = WindowCounts(200, 5, 800, 4)
    first = fold([], counts, 1.5, REGRESSION_MULTIPLIERS)
    assert first == [window_log_ratio(counts, 1.5 * m, 1.5) for m in REGRESSION_MULTIPLIERS]
    assert e_value(first) == pytest.approx(sum(math.exp(v) for v in first) / len(first))
    assert e_value([]) == 1.0
    assert e_value([800.0, 0.0]) == math.inf


def buckets(*pairs: tuple[float, float]) -> list[LatencyBucket]:
    return [LatencyBucket(le=le, count=count) for le, count in pairs]


#: 1000 primary requests: 90% within 50ms, 98% within 100ms, 99.5% within 250ms.
PRIMARY = buckets((0.05, 900), (0.1, 980), (0.25, 995), (0.5, 999), (math.inf, 1000))


@pytest.mark.parametrize(
    ("quantile", "boundary"),
    [
        pytest.param(0.99, 0.1, id="p99-between-100ms-and-250ms"),
        pytest.param(0.9, 0.05, id="p90-at-50ms"),
        pytest.param(0.999, 0.5, id="p999-exactly-0.1pct-over-500ms"),
        pytest.param(0.5, 0.05, id="below-every-bucket-smallest-bound"),
    ],
)
def test_choose_boundary_takes_the_bucket_at_the_primary_quantile(quantile: float, boundary: float) -> None:
    assert choose_boundary(PRIMARY, quantile) == boundary
    assert choose_boundary(list(reversed(PRIMARY)), quantile) == boundary


@pytest.mark.parametrize(
    ("primary", "quantile", "boundary"),
    [
        pytest.param(
            buckets((0.05, 900), (0.1, 980), (0.25, 990), (0.5, 999), (math.inf, 1000)),
            0.99,
            0.25,
            id="p99-exactly-1pct-over-250ms",
        ),
        pytest.param(PRIMARY, 0.98, 0.1, id="p98-exactly-2pct-over-100ms"),
    ],
)
def test_choose_boundary_counts_a_tail_of_exactly_one_minus_quantile(
    primary: list[LatencyBucket], quantile: float, boundary: float
) -> None:
    """At least ``1 - quantile`` exceed, as documented, includes exactly that share: 10 of 1000 for
    the p99, although ``1.0 - 0.99`` is 0.010000000000000009 in binary floating point."""
    assert choose_boundary(primary, quantile) == boundary


def test_choose_boundary_needs_enough_primary_requests_and_a_total() -> None:
    few = buckets((0.1, MIN_BOUNDARY_REQUESTS - 2), (math.inf, MIN_BOUNDARY_REQUESTS - 1))
    assert choose_boundary(few, 0.99) is None
    assert choose_boundary(buckets((0.1, 900), (0.25, 1000)), 0.99) is None
    assert choose_boundary(buckets((math.inf, 1000)), 0.99) is None


def test_slow_counts_reads_cumulative_buckets() -> None:
    sample = RevisionSample(
        requests=1000, errors=0, latency_buckets=((0.05, 900.0), (0.1, 980.0), (math.inf, 1000.0))
    )
    assert slow_counts(sample, 0.1) == (1000.0, 20.0)
    assert slow_counts(sample, 0.1 + 1e-12) == (1000.0, 20.0)
    assert slow_counts(sample, 0.25) is None
    assert slow_counts(RevisionSample(1000, 0, ((0.1, 980.0),)), 0.1) is None
    assert slow_counts(RevisionSample(1000, 0, ((0.1, 1001.0), (math.inf, 1000.0))), 0.1) == (1000.0, 0.0)


def histogram(total: float, within: dict[float, float]) -> tuple[tuple[float, float], ...]:
    """Cumulative buckets from the fraction of ``total`` answered within each bound."""
    return (*((le, total * frac) for le, frac in sorted(within.items())), (math.inf, total))


FAST = {0.05: 0.9, 0.1: 0.98, 0.25: 0.995, 0.5: 0.999, 1.0: 1.0}
SLOW = {0.05: 0.1, 0.1: 0.3, 0.25: 0.6, 0.5: 0.9, 1.0: 0.999}


def window(canary_latency: dict[float, float], primary_latency: dict[float, float]) -> WindowSamples:
    return WindowSamples(
        window_seconds=15,
        canary=RevisionSample(200, 1, histogram(200, canary_latency)),
        primary=RevisionSample(1000, 5, histogram(1000, primary_latency)),
    )


def test_latency_boundary_is_chosen_from_earlier_windows_only() -> None:
    spec = CanaryJudge()
    first = update(spec, None, window(FAST, FAST), observed_until="2026-01-01T12:00:15Z", step_started_at="s")
    # The first window only teaches the primary's histogram: no boundary, no latency evidence yet.
    assert first.status.latency_boundary is None
    assert first.status.latency is None
    assert first.status.errors is not None
    held = [*first.status.primary_buckets, LatencyBucket(le=math.inf, count=first.status.primary_total)]
    assert choose_boundary(held, 0.99) == 0.1
    # The second window's primary is much slower: the boundary still comes from the first one
    # (a boundary picked from the judged window itself would bias the test of that window).
    second = update(
        spec, first.status, window(SLOW, SLOW), observed_until="2026-01-01T12:00:30Z", step_started_at="s"
    )
    merged = list(second.status.primary_buckets)
    assert choose_boundary(merged, 0.99) != 0.1
    assert second.status.latency_boundary == 0.1
    assert second.status.latency is not None
    assert (second.status.latency.canary_requests, second.status.latency.canary_bad) == (200, 140)
    assert (second.status.latency.primary_requests, second.status.latency.primary_bad) == (1000, 700)
    # Once chosen, the boundary stays for the whole analysis.
    third = update(
        spec, second.status, window(FAST, SLOW), observed_until="2026-01-01T12:00:45Z", step_started_at="s"
    )
    assert third.status.latency_boundary == 0.1


def test_window_without_primary_requests_teaches_nothing() -> None:
    spec = CanaryJudge()
    held = JudgeStatus(observed_until="2026-01-01T12:00:00Z", step_started_at="s")
    empty = WindowSamples(window_seconds=15, canary=RevisionSample(200, 50), primary=None)
    outcome = update(spec, held, empty, observed_until="2026-01-01T12:00:15Z", step_started_at="s")
    assert (outcome.status.errors, outcome.status.latency, outcome.status.primary_buckets) == (None, None, [])
    assert outcome.status.observed_until == "2026-01-01T12:00:15Z"
    assert outcome.verdict.value == "Undecided"
