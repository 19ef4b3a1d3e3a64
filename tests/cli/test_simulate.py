"""`canary simulate` on real Prometheus history: backfilled with promtool, replayed by the real core.

Istio's two series families for ``podinfo`` (canary) and ``podinfo-primary`` in namespace ``test``
are written as OpenMetrics text, turned into TSDB blocks with ``promtool tsdb
create-blocks-from openmetrics`` and served by a real Prometheus (the project's
:class:`~canary.sandbox.prometheus.PrometheusProcess`, on that data directory). Two 15-minute
histories end more than an hour ago: a good release (the canary's error ratio is the primary's)
and a bad one (10% 5xx on the canary from the start). ``canary simulate`` runs as a subprocess,
as users run it.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from canary.api.models import Canary
from canary.cli.simulate import backtest, format_result, load_canary_file
from canary.sandbox.prometheus import PROMETHEUS_BIN, PrometheusProcess, free_port

CANARY_BIN = Path(sys.executable).parent / "canary"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
NAMESPACE = "test"
STEP_SECONDS = 5
HISTORY = timedelta(minutes=15)
#: Cumulative share of requests answered within each bucket bound (ms): p99 is between 50 and 100 ms.
LATENCY = ((5.0, 0.2), (10.0, 0.5), (25.0, 0.8), (50.0, 0.95), (100.0, 0.995), (250.0, 0.999), (500.0, 1.0))
PRIMARY_RPS, CANARY_RPS = 20.0, 5.0
BASELINE_ERRORS = 0.001


@dataclass(frozen=True)
class Release:
    """One release's history: when it starts and the canary's share of 5xx answers."""

    start: datetime
    canary_errors: float

    @property
    def end(self) -> datetime:
        return self.start + HISTORY


def openmetrics(releases: list[Release]) -> str:
    """Both revisions' Istio counters over every release, one series at a time (OpenMetrics rules:
    a counter family's TYPE name drops ``_total``, timestamps in seconds, ``# EOF`` last)."""
    stamps: list[float] = []
    for release in releases:
        first = release.start.timestamp()
        stamps += [first + i * STEP_SECONDS for i in range(int(HISTORY.total_seconds()) // STEP_SECONDS + 1)]
    workloads = {"podinfo": CANARY_RPS, "podinfo-primary": PRIMARY_RPS}

    def error_share(workload: str, at: float) -> float:
        if workload == "podinfo-primary":
            return BASELINE_ERRORS
        release = next(r for r in releases if r.start.timestamp() <= at <= r.end.timestamp())
        return release.canary_errors

    def counts(workload: str) -> list[tuple[float, float, float]]:
        """(time, requests so far, 5xx so far): counters keep growing across releases."""
        out, requests, errors, previous = [], 0.0, 0.0, None
        for at in stamps:
            served = workloads[workload] * (at - previous if previous is not None else 0.0)
            requests += served
            errors += served * error_share(workload, at)
            previous = at
            out.append((at, requests, errors))
        return out

    lines = ["# TYPE istio_requests counter"]
    for workload in workloads:
        labels = (
            f'reporter="destination",destination_workload_namespace="{NAMESPACE}",'
            f'destination_workload="{workload}"'
        )
        series = counts(workload)
        for code, pick in (("200", lambda r, e: r - e), ("500", lambda r, e: e)):
            lines += [
                f'istio_requests_total{{{labels},response_code="{code}"}} {pick(r, e):.3f} {at:.0f}'
                for at, r, e in series
            ]
    lines.append("# TYPE istio_request_duration_milliseconds histogram")
    for workload in workloads:
        labels = (
            f'reporter="destination",destination_workload_namespace="{NAMESPACE}",'
            f'destination_workload="{workload}"'
        )
        for at, requests, _ in counts(workload):
            for bound, share in LATENCY:
                lines.append(
                    f'istio_request_duration_milliseconds_bucket{{{labels},le="{bound:g}"}} '
                    f"{requests * share:.3f} {at:.0f}"
                )
            lines.append(
                f'istio_request_duration_milliseconds_bucket{{{labels},le="+Inf"}} {requests:.3f} {at:.0f}'
            )
            lines.append(f"istio_request_duration_milliseconds_count{{{labels}}} {requests:.3f} {at:.0f}")
            lines.append(
                f"istio_request_duration_milliseconds_sum{{{labels}}} {requests * 20.0:.3f} {at:.0f}"
            )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class History:
    url: str
    good: Release
    bad: Release


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    assert Path(PROMTOOL).exists(), "promtool missing: run scripts/system-deps.sh (Debian's prometheus)"
    assert Path(PROMETHEUS_BIN).exists(), f"{PROMETHEUS_BIN} missing: run `make install`"
    now = datetime.now(UTC).replace(microsecond=0)
    # Both histories end more than an hour ago (promtool must not write into the head's range)
    # and lie within 45 minutes of each other, inside the 1h retention the project's Prometheus
    # keeps (retention counts back from the newest block, not from the wall clock).
    bad_start = now - timedelta(minutes=65) - HISTORY
    bad_start -= timedelta(seconds=bad_start.second % STEP_SECONDS)
    good = Release(start=bad_start - timedelta(minutes=30), canary_errors=BASELINE_ERRORS)
    bad = Release(start=bad_start, canary_errors=0.10)
    workdir = tmp_path_factory.mktemp("backfill")
    source = workdir / "history.om"
    source.write_text(openmetrics([good, bad]))
    data = workdir / "prometheus" / "data"
    data.mkdir(parents=True)
    made = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    with PrometheusProcess(workdir=workdir) as prom:
        yield History(prom.url, good, bad)


def manifest(tmp_path: Path, **analysis: Any) -> str:
    body = {
        "apiVersion": "canary.dev/v1alpha1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {
                "interval": "1m",
                "threshold": 2,
                "stepWeight": 20,
                "maxWeight": 60,
                "metrics": [
                    {"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99}},
                    {"name": "request-duration", "interval": "1m", "thresholdRange": {"max": 500}},
                ],
                **analysis,
            },
        },
    }
    path = tmp_path / "canary.yaml"
    path.write_text(yaml.safe_dump(body))
    return str(path)


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(
        [str(CANARY_BIN), "simulate", *args], capture_output=True, text=True, timeout=60, check=False
    )
    print(f"canary simulate {' '.join(args)}: exit {done.returncode} in {time.monotonic() - started:.1f}s")
    print(done.stdout, done.stderr, sep="\n")
    return done


def window(release: Release) -> list[str]:
    return ["--from", release.start.isoformat(), "--to", str(int(release.end.timestamp()))]


def outcome_line(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("outcome: ")]
    assert len(lines) == 1, stdout
    return lines[0]


def test_good_history_is_promoted(history: History, tmp_path: Path) -> None:
    done = simulate("-f", manifest(tmp_path), "--prometheus", history.url, *window(history.good))
    assert done.returncode == 0, done.stderr
    assert outcome_line(done.stdout).startswith("outcome: promoted at +4m "), done.stdout
    assert "history cannot be re-routed" in done.stdout
    steps = [line for line in done.stdout.splitlines() if line.lstrip().startswith("+")]
    assert any(" weight 20 " in s for s in steps) and any(" weight 60 " in s for s in steps), steps
    measured = [s for s in steps if "request-success-rate=" in s]
    assert measured and all("request-success-rate=99.90 Successful" in s for s in measured), measured
    assert all("request-duration=" in s and "Failed" not in s for s in measured), measured


def test_bad_history_is_rolled_back_naming_the_failing_check(history: History, tmp_path: Path) -> None:
    done = simulate("-f", manifest(tmp_path), "--prometheus", history.url, *window(history.bad))
    assert done.returncode == 0, done.stderr
    line = outcome_line(done.stdout)
    assert line.startswith("outcome: rolled back at +3m "), done.stdout
    assert "request-success-rate 90.00 < 99" in line and "2 failed checks" in line, line
    assert "request-success-rate=90.00 Failed" in done.stdout
    assert "Rolling back podinfo.test failed checks threshold reached 2" in done.stdout


def test_judge_rolls_back_the_bad_history_earlier_than_thresholds(history: History, tmp_path: Path) -> None:
    args = ["--prometheus", history.url, *window(history.bad), "--json"]
    thresholds = json.loads(simulate("-f", manifest(tmp_path), *args).stdout)
    judged = json.loads(simulate("-f", manifest(tmp_path, judge={}), *args).stdout)
    assert thresholds["outcome"]["result"] == judged["outcome"]["result"] == "rolled back"
    assert judged["outcome"]["offsetSeconds"] < thresholds["outcome"]["offsetSeconds"], judged["outcome"]
    assert judged["outcome"]["offsetSeconds"] < 120, "the judge needs less than a step at 20%"
    assert "the judge found a regression" in " ".join(judged["steps"][-1]["events"])
    assert "error ratio" in judged["outcome"]["reason"], judged["outcome"]
    assert any(step["judge"] for step in judged["steps"])
    assert math.isclose(thresholds["outcome"]["offsetSeconds"], 180.0)


def test_judge_lets_the_good_history_through(history: History, tmp_path: Path) -> None:
    done = simulate(
        "-f", manifest(tmp_path, judge={}), "--prometheus", history.url, *window(history.good), "--json"
    )
    result = json.loads(done.stdout)
    assert result["outcome"]["result"] == "promoted", result["outcome"]


def test_unreachable_prometheus_exits_1(history: History, tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    done = simulate("-f", manifest(tmp_path), "--prometheus", address, *window(history.bad))
    assert done.returncode == 1
    assert f"cannot query Prometheus: Prometheus unreachable at {address}" in done.stderr, done.stderr
    assert done.stdout == ""


def test_invalid_canary_exits_2_naming_the_field(tmp_path: Path) -> None:
    path = manifest(tmp_path, stepWeight=150)
    done = simulate(
        "-f", path, "--prometheus", "http://127.0.0.1:9", "--from", "1700000000", "--to", "1700000600"
    )
    assert done.returncode == 2
    assert "spec.analysis.stepWeight: Input should be less than or equal to 100" in done.stderr, done.stderr
    missing = simulate(
        "-f", str(tmp_path / "nope.yaml"), "--prometheus", "http://x:9", "--from", "1700000000"
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr, missing.stderr
    backwards = simulate(
        "-f", path, "--prometheus", "http://x:9", "--from", "1700000600", "--to", "1700000000"
    )
    assert backwards.returncode == 2 and "must be after --from" in backwards.stderr
    naive = simulate("-f", path, "--prometheus", "http://x:9", "--from", "2026-01-01T00:00:00")
    assert naive.returncode == 2 and "no timezone" in naive.stderr


# ---------------------------------------------------------------- the loop, without Prometheus


class FakeHistory:
    """A provider answering the built-in checks with fixed values, recording when it was asked."""

    def __init__(self, success_rate: float | None = 99.9, p99: float | None = 40.0) -> None:
        self.success_rate = success_rate
        self.p99 = p99
        self.asked: list[float | None] = []

    def is_online(self) -> bool:
        return True

    def run_query(self, query: str, timeout: float | None = None, at: float | None = None) -> float | None:
        self.asked.append(at)
        return self.p99 if "histogram_quantile" in query else self.success_rate

    def run_vector(self, query: str, timeout: float | None = None, at: float | None = None) -> list[Any]:
        self.asked.append(at)
        return []


def canary_model(tmp_path: Path, **analysis: Any) -> Canary:
    return load_canary_file(manifest(tmp_path, **analysis))


START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_backtest_queries_at_historical_times_and_answers_gates(tmp_path: Path) -> None:
    hooks = [
        {"name": "approve", "type": "confirm-rollout", "url": "http://gate.example/"},
        {"name": "promote", "type": "confirm-promotion", "url": "http://gate.example/"},
        {"name": "smoke", "type": "rollout", "url": "http://tests.example/"},
        {"name": "stop", "type": "rollback", "url": "http://gate.example/"},
    ]
    provider = FakeHistory()
    result = backtest(canary_model(tmp_path, webhooks=hooks), provider, START, START + timedelta(hours=1))
    assert result.outcome == "promoted", format_result(result)
    assert result.decided_after == 240.0
    assert result.reason == "analysis passed at canary weight 60"
    assert [s.canary_weight for s in result.steps] == [0, 20, 40, 60, 60]
    asked = {START.timestamp() + minutes * 60 for minutes in (2, 3, 4)}
    assert set(provider.asked) == asked, "every query is evaluated at its tick's historical time"
    assert any("Confirm-rollout check approve passed" in e for s in result.steps for e in s.events)


def test_backtest_without_data_is_undecided_with_a_warning(tmp_path: Path) -> None:
    end = START + timedelta(minutes=2, seconds=30)
    result = backtest(canary_model(tmp_path, threshold=5), FakeHistory(None, None), START, end)
    assert result.outcome == "undecided" and result.decided_at == end
    assert "still Progressing at canary weight 20" in result.reason, result.reason
    lines = format_result(result)
    assert any(line.startswith("warning: no check found any data") for line in lines), lines
    assert lines[-1].startswith("outcome: undecided at +2m30s "), lines


def test_backtest_min_samples_are_shown(tmp_path: Path) -> None:
    metrics = [{"name": "request-success-rate", "thresholdRange": {"min": 99}, "minSamples": 10}]
    result = backtest(
        canary_model(tmp_path, metrics=metrics), FakeHistory(), START, START + timedelta(minutes=3)
    )
    text = "\n".join(format_result(result))
    assert "(samples 0/10)" in text, text
