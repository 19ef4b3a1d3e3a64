"""The judgment benchmark (``bench/judgment.py``): what a user reads from it, not its figures.

The figures (bad requests, false-rollback rates...) are measured, never asserted here.
"""

from __future__ import annotations

import io
import json
import math
import sys
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``bench`` is not installed; it lives at the repository root
    sys.path.insert(0, str(ROOT))

from bench import judgment  # noqa: E402
from bench.__main__ import main as bench_main  # noqa: E402

SCENARIO = {s.number: s for s in judgment.SCENARIOS}

JSON_KEYS = {
    "bad_requests_ratio",
    "false_rollback_rate_judge",
    "false_rollback_rate_flagger",
    "false_rollback_rate_threshold",
    "missed_bad_rate_judge",
    "missed_bad_rate_flagger",
    "promote_time_ratio",
    "rows",
}


def test_histogram_quantile_interpolates_inside_the_bucket_as_prometheus() -> None:
    """Hand-computed: 100 observations, rank 99 lies in (250, 500] holding 10 of them (90 below).

    Prometheus: 250 + (500 - 250) * (99 - 90) / 10 = 475.
    """
    buckets = [(100.0, 50.0), (250.0, 90.0), (500.0, 100.0), (math.inf, 100.0)]
    assert judgment.histogram_quantile(0.99, buckets) == 475.0
    # The first bucket starts at 0: rank 25 of 50 in (0, 100] -> 50.
    assert judgment.histogram_quantile(0.25, buckets) == 50.0
    # A rank in the +Inf bucket answers the highest finite bound; no observations is NaN.
    assert judgment.histogram_quantile(0.99, [(100.0, 1.0), (math.inf, 10.0)]) == 100.0
    assert math.isnan(judgment.histogram_quantile(0.99, [(100.0, 0.0), (math.inf, 0.0)]))
    # Without a +Inf bucket Prometheus answers NaN.
    assert math.isnan(judgment.histogram_quantile(0.5, [(100.0, 1.0), (250.0, 2.0)]))


def test_flagger_model_promotes_a_good_release_in_six_minutes() -> None:
    """Weight 0 at t=0, 10 at 1m, +10 per passing check to 50 at 5m, promotion at 6m."""
    for seed in range(5):
        result = judgment.run_flagger(SCENARIO[1], seed)
        assert result.outcome == judgment.PROMOTED
        assert result.decided_at_s == 6 * 60
        assert result.bad_requests == 0.0


def test_flagger_model_rolls_back_ten_percent_errors_after_five_failed_checks() -> None:
    """Checks fail at 2m..6m (5 failed checks at weight 10); the next tick (7m) rolls back."""
    for seed in range(5):
        result = judgment.run_flagger(SCENARIO[4], seed)
        assert result.outcome == judgment.ROLLED_BACK
        assert result.decided_at_s == 7 * 60
        # 6 minutes at 10% of 100 rps, each request 10 points more likely to fail: ~360.
        assert 250 < result.bad_requests < 500


def test_flagger_model_counts_no_data_as_a_failed_check() -> None:
    """An empty window is NaN in Prometheus; Flagger fails the check."""
    world = judgment.World(SCENARIO[1], 0, with_primary=False)
    world.advance(120, 0)
    assert not judgment.flagger_check(world, 120)
    world.advance(180, 10)
    assert judgment.flagger_check(world, 180)


def test_world_is_seeded_and_splits_traffic_by_weight() -> None:
    """Same seed, same counts; at weight 10 the canary gets about a tenth of 100 rps."""
    first = judgment.World(SCENARIO[1], 3)
    second = judgment.World(SCENARIO[1], 3)
    for world in (first, second):
        world.advance(600, 10)
    assert first.canary.window(0, first.slices) == second.canary.window(0, second.slices)
    canary, _, _ = first.canary_window(600, 600)
    primary, _, _ = first.primary_window(600, 600)
    assert 5000 < canary < 7000
    assert 50000 < primary < 58000


def test_json_has_the_headline_keys_and_rows() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert bench_main(["judgment", "--seeds", "3", "--json"]) == 0
    document = json.loads(out.getvalue())
    assert set(document) >= JSON_KEYS
    rows = document["rows"]
    assert len(rows) == len(judgment.SCENARIOS) * len(judgment.POLICIES)
    assert {row["policy"] for row in rows} == set(judgment.POLICIES)
    flagger_good = next(r for r in rows if r["policy"] == "flagger" and r["scenario"] == 1)
    assert flagger_good["promoted"] == 3
    assert flagger_good["median_time_to_promote_s"] == 360


def test_quick_run_is_deterministic_and_prints_the_ratio_line() -> None:
    outputs = []
    for _ in range(2):
        out = io.StringIO()
        with redirect_stdout(out):
            assert judgment.main(["--quick", "--json"]) == 0
        document = json.loads(out.getvalue())
        document.pop("elapsed_s")
        outputs.append(document)
    assert outputs[0] == outputs[1]
    assert outputs[0]["seeds"] == judgment.QUICK_SEEDS
    text = judgment.render(judgment.suite(2))
    assert "ratio judge / Flagger policy" in text
    assert "reproduce: python -m bench judgment --seeds 2" in text
    for scenario in judgment.SCENARIOS:
        assert scenario.title in text


def test_core_policies_run_through_decide_in_this_checkout() -> None:
    """(b) and (c) are built from the API (minSamples, judge) and reach a decision on a good release."""
    for policy in (judgment.THRESHOLD_MODE, judgment.JUDGE):
        spec = judgment.core_spec(policy)
        assert spec is not None, f"{policy}: the Canary spec no longer validates"
        result = judgment.run_core(spec, SCENARIO[1], 0)
        assert result.outcome in (judgment.PROMOTED, judgment.ROLLED_BACK)
        assert result.decided_at_s is not None
        assert result.canary_requests > 0


def test_bad_requests_follow_the_definition() -> None:
    """Excess error probability per canary request; latency: P(slower than the stable p99) - 1%."""
    assert judgment.latency_excess(1.0) == 0.0
    # Latency x2 with sigma 0.5: P(Z > 2.326 - ln 2 / 0.5) - 0.01 = 0.1636.
    assert abs(judgment.latency_excess(2.0) - 0.1636) < 0.001
    world = judgment.World(SCENARIO[4], 0)
    world.advance(600, 10)
    assert abs(world.bad_requests - 0.10 * world.canary_requests) < 1e-6
    # Promoted at 10m: the rest of the 30 minutes at 100 rps, each request 10 points worse.
    assert abs(world.expected_harm_after(600) - 0.10 * 100 * 1200) < 1e-6
