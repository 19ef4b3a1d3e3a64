"""The operator's metrics as Prometheus scrapes them: Flagger's families and labels, and our own."""

from __future__ import annotations

from typing import Any

import pytest
from edges_helpers import NAMESPACE, make_canary
from kubernetes.client.exceptions import ApiException

from canary.api.models import CanaryStatus, CheckResult, Phase, Verdict
from canary.kube import KubeClients, call_json, instrument
from canary.operator.recorder import Recorder

TARGET = "podinfo"


def value(recorder: Recorder, metric_name: str, /, **labels: str) -> float | None:
    return recorder.registry.get_sample_value(metric_name, labels)


def status(phase: Phase, weight: int = 0, **fields: Any) -> CanaryStatus:
    return CanaryStatus(phase=phase, canary_weight=weight, **fields)


def test_status_reads_zero_while_running_one_when_succeeded_two_when_failed() -> None:
    recorder, canary = Recorder(), make_canary()
    seen = []
    for phase in (Phase.INITIALIZED, Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING,
                  Phase.FINALISING, Phase.SUCCEEDED, Phase.PROGRESSING, Phase.FAILED):  # fmt: skip
        recorder.record_canary(canary, None, status(phase))
        seen.append(value(recorder, "flagger_canary_status", name=TARGET, namespace=NAMESPACE))
    assert seen == [1, 0, 0, 0, 0, 1, 0, 2]


def test_weights_are_published_per_workload_like_flagger() -> None:
    recorder, canary = Recorder(), make_canary()
    recorder.record_canary(canary, None, status(Phase.PROGRESSING, 30))
    assert value(recorder, "flagger_canary_weight", workload=TARGET, namespace=NAMESPACE) == 30
    assert value(recorder, "flagger_canary_weight", workload=f"{TARGET}-primary", namespace=NAMESPACE) == 70
    assert value(recorder, "flagger_canary_total", namespace=NAMESPACE) == 1


def test_checks_publish_their_value_and_thresholds() -> None:
    recorder, canary = Recorder(), make_canary()
    checks = [
        CheckResult(name="request-success-rate", verdict=Verdict.SUCCESSFUL, value=99.5, threshold_min=99),
        CheckResult(name="request-duration", verdict=Verdict.FAILED, value=612.0, threshold_max=500),
    ]
    recorder.record_canary(canary, None, status(Phase.PROGRESSING, 10, checks=checks))
    labels = {"name": TARGET, "namespace": NAMESPACE}
    assert value(recorder, "flagger_canary_metric_analysis", metric="request-success-rate", **labels) == 99.5
    assert value(recorder, "flagger_canary_metric_analysis", metric="request-duration", **labels) == 612
    assert (
        value(recorder, "canary_metric_threshold", metric="request-success-rate", bound="min", **labels) == 99
    )
    assert value(recorder, "canary_metric_threshold", metric="request-duration", bound="max", **labels) == 500
    assert (
        value(recorder, "canary_metric_threshold", metric="request-duration", bound="min", **labels) is None
    )


def test_outcomes_are_counted_once_per_transition_with_strategy_labels() -> None:
    recorder, canary = Recorder(), make_canary()
    progressing = status(Phase.PROGRESSING, 50)
    recorder.record_canary(canary, progressing, status(Phase.SUCCEEDED))
    recorder.record_canary(canary, status(Phase.SUCCEEDED), status(Phase.SUCCEEDED))  # a later idle tick
    recorder.record_canary(canary, progressing, status(Phase.FAILED))
    labels = {
        "name": TARGET,
        "namespace": NAMESPACE,
        "deployment_strategy": "canary",
        "analysis_status": "completed",
    }
    assert value(recorder, "flagger_canary_successes_total", **labels) == 1
    assert value(recorder, "flagger_canary_failures_total", **labels) == 1
    blue_green = make_canary(analysis={"interval": "15s", "iterations": 3, "threshold": 2})
    recorder.record_canary(blue_green, progressing, status(Phase.SUCCEEDED))
    assert (
        value(recorder, "flagger_canary_successes_total", **{**labels, "deployment_strategy": "blue-green"})
        == 1
    )


def test_progress_time_and_deadline_come_from_the_status() -> None:
    recorder, canary = Recorder(), make_canary(progressDeadlineSeconds=60)
    new = status(Phase.PROGRESSING, 10, step_started_at="2026-12-03T10:00:30Z",
                 last_transition_time="2026-12-03T10:00:00Z")  # fmt: skip
    recorder.record_canary(canary, None, new)
    labels = {"name": TARGET, "namespace": NAMESPACE}
    assert value(recorder, "canary_last_progress_timestamp_seconds", **labels) == 1796292030
    # interval 15s: two intervals are shorter than the 60 s deadline, which wins
    assert value(recorder, "canary_progress_deadline_seconds", **labels) == 60


def test_a_deleted_canary_leaves_no_series_behind() -> None:
    recorder, canary = Recorder(), make_canary()
    checks = [
        CheckResult(name="request-duration", verdict=Verdict.SUCCESSFUL, value=100.0, threshold_max=500)
    ]
    recorder.record_canary(canary, None, status(Phase.PROGRESSING, 10, checks=checks))
    recorder.forget(NAMESPACE, canary.name)
    exposition = {s.name for family in recorder.registry.collect() for s in family.samples
                  if s.labels.get("namespace") == NAMESPACE and s.labels.get("name", s.labels.get("workload"))}  # fmt: skip
    assert exposition == set()
    assert value(recorder, "flagger_canary_total", namespace=NAMESPACE) == 0


def test_instrumented_clients_count_requests_by_verb_and_code(kube: KubeClients) -> None:
    recorder = Recorder()
    instrument(kube, recorder.count_kube_request)
    call_json(kube.core.read_namespace, NAMESPACE)
    with pytest.raises(ApiException):
        call_json(kube.core.read_namespace, "absent")
    assert value(recorder, "canary_operator_kube_requests_total", verb="get", code="200") == 1
    assert value(recorder, "canary_operator_kube_requests_total", verb="get", code="404") == 1
