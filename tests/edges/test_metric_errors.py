"""What a user sees when a metric check fails: short, named, and never another server's response.

A real Prometheus (the session fixture) for genuine API errors; small real HTTP servers on
127.0.0.1 for "a server that is not Prometheus", redirects, and a server that never answers.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from edges_helpers import NAMESPACE, PrometheusFixture, free_port, make_canary

from canary.api.models import CanaryMetric
from canary.cli.main import build_parser
from canary.core.observations import Measurement, ProviderOutcome
from canary.kube import KubeClients, call_json
from canary.metrics.addresses import AddressPolicy, parse_address
from canary.metrics.analysis import measure_checks
from canary.metrics.base import CHECK_BUDGET_SECONDS, MetricCheck
from canary.metrics.factory import plain_http_warning
from canary.metrics.prometheus import QUERY_TIMEOUT_SECONDS, PrometheusProvider
from canary.operator import cli as operator_cli
from canary.operator.config import OperatorConfig

#: Text only the non-Prometheus servers send: it must never reach a message or a log.
MARKER = "INTERNAL-ONLY-BODY-7f3a"

#: A long query with braces and quotes: URL-encoded it is full of %7B, %22, %28...
LONG_QUERY = (
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="test",'
    'destination_workload=~"podinfo",response_code!~"5.*"}[1m])) / sum(rate(istio_requests_total{'
    'reporter="destination",destination_workload_namespace="test",destination_workload=~"podinfo"}[1m])) * 100'
)


def _metric(**fields: object) -> CanaryMetric:
    return CanaryMetric.model_validate(fields)


def _assert_quiet(measurement: Measurement) -> None:
    """The message is one short line that echoes neither a body nor the encoded query."""
    message = measurement.message
    assert message.startswith(f"metric {measurement.name}: "), message
    assert len(message) < 300 and "\n" not in message, message
    for leak in (MARKER, "%7B", "%22", "%28", "query=", "/api/v1/query", "?"):
        assert leak not in message, f"{leak!r} leaked into {message!r}"


# ---------------------------------------------------------------- a server that is not Prometheus


class _Foreign(ThreadingHTTPServer):
    """Routes by the first path segment; counts the requests each route got."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ForeignHandler)
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ForeignHandler(BaseHTTPRequestHandler):
    server: _Foreign

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        route = self.path.split("/")[1].split("?")[0]
        with self.server.lock:
            self.server.hits[route] = self.server.hits.get(route, 0) + 1
        html = f"<html><body>{MARKER} {self.path}</body></html>".encode()
        if route == "html404":
            self._send(404, html, "text/html")
        elif route == "html200":
            self._send(200, html, "text/html")
        elif route == "json500":
            self._send(500, json.dumps({"secret": MARKER, "path": self.path}).encode(), "application/json")
        elif route == "fakeok":  # JSON, 200, but not the API's shape
            self._send(200, json.dumps({"status": "ok", "token": MARKER}).encode(), "application/json")
        elif route == "promerror":  # a Prometheus-shaped error with a very long text
            body = {"status": "error", "errorType": "execution", "error": "x" * 1000}
            self._send(422, json.dumps(body).encode(), "application/json")
        elif route == "redirect":
            self._send(302, html, "text/html", Location=f"{self.server.address}/target/api/v1/query")
        elif route == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(200):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:
                pass  # the client gave up, as it should
        else:
            self._send(
                200, b'{"status":"success","data":{"resultType":"vector","result":[]}}', "application/json"
            )

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def foreign() -> Iterator[_Foreign]:
    server = _Foreign()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- a server that never answers


class _BlackHole:
    """Accepts connections and never writes a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(connection)

    def close(self) -> None:
        self._stop.set()
        for connection in self.held:
            connection.close()
        self.sock.close()


@pytest.fixture
def black_hole() -> Iterator[_BlackHole]:
    server = _BlackHole()
    try:
        yield server
    finally:
        server.close()


def _check(address: str, **options: Any) -> MetricCheck:
    return MetricCheck(PrometheusProvider(address), **options)


# ---------------------------------------------------------------- real Prometheus API errors


def test_prometheus_parse_error_names_status_and_error_not_the_encoded_query(
    prometheus: PrometheusFixture,
) -> None:
    broken = LONG_QUERY[:-5] + "("  # unbalanced: a 400 bad_data from Prometheus
    outcome = _check(prometheus.address).measure(make_canary(), _metric(name="ratio", query=broken))
    assert outcome.outcome is ProviderOutcome.ERROR
    _assert_quiet(outcome)
    assert outcome.message.startswith(
        f"metric ratio: HTTP 400 from Prometheus at {prometheus.address}: bad_data: "
    )
    assert "parse error" in outcome.message


def test_a_prometheus_error_text_is_cut_to_200_characters(foreign: _Foreign) -> None:
    outcome = _check(f"{foreign.address}/promerror").measure(make_canary(), _metric(name="m", query="up"))
    assert outcome.outcome is ProviderOutcome.ERROR
    _assert_quiet(outcome)
    prefix = f"metric m: HTTP 422 from Prometheus at {foreign.address}: "
    assert outcome.message.startswith(prefix)
    detail = outcome.message[len(prefix) :]
    assert detail.startswith("execution: xxx") and len(detail) == 200
    assert foreign.hits["promerror"] == 1, "a 4xx is not retried"


# ---------------------------------------------------------------- non-Prometheus responses


@pytest.mark.parametrize(
    ("route", "status", "requests_made"),
    [("html404", 404, 1), ("html200", 200, 1), ("fakeok", 200, 1), ("json500", 500, 3)],
)
def test_a_foreign_response_is_reported_by_status_only(
    foreign: _Foreign, caplog: pytest.LogCaptureFixture, route: str, status: int, requests_made: int
) -> None:
    caplog.set_level(logging.DEBUG)
    check = _check(f"{foreign.address}/{route}", min_wait=0.01, max_wait=0.02)
    outcome = check.measure(make_canary(), _metric(name="probe", query=LONG_QUERY))
    assert outcome.outcome is ProviderOutcome.ERROR
    assert (
        outcome.message
        == f"metric probe: HTTP {status} from {foreign.address} (not a Prometheus API response)"
    )
    _assert_quiet(outcome)
    assert MARKER not in caplog.text, "response bodies stay out of the logs too"
    assert foreign.hits[route] == requests_made, "5xx is retried, 4xx and foreign 200s are not"


def test_redirects_are_refused_not_followed(foreign: _Foreign) -> None:
    outcome = _check(f"{foreign.address}/redirect").measure(make_canary(), _metric(name="hop", query="up"))
    assert outcome.outcome is ProviderOutcome.ERROR
    assert outcome.message == f"metric hop: HTTP 302 from {foreign.address}: redirect refused"
    _assert_quiet(outcome)
    assert foreign.hits == {"redirect": 1}, "the Location was never requested, nor the redirect retried"


def test_an_address_with_a_query_string_or_credentials_is_never_contacted(foreign: _Foreign) -> None:
    for address, reason in (
        (f"{foreign.address}/html404?x=", "a query string or fragment is not allowed"),
        (f"http://user:pw@127.0.0.1:{foreign.server_address[1]}", "credentials in the URL are not sent"),
        ("file:///etc/passwd", "the scheme must be http or https"),
    ):
        outcome = _check(address).measure(make_canary(), _metric(name="odd", query="up"))
        assert outcome.outcome is ProviderOutcome.ERROR
        assert (
            outcome.message.startswith("metric odd: invalid metrics address: ") and reason in outcome.message
        )
        assert "pw" not in outcome.message and "passwd" not in outcome.message
    assert foreign.hits == {}


def test_a_server_answering_the_query_normally_is_no_data_not_an_error(foreign: _Foreign) -> None:
    """The distinction stays: a query that ran and answered nothing is NO_DATA."""
    outcome = _check(f"{foreign.address}/empty").measure(make_canary(), _metric(name="quiet", query="up"))
    assert outcome.outcome is ProviderOutcome.NO_DATA and outcome.value is None


# ---------------------------------------------------------------- unreachable and slow providers


def test_a_refused_connection_is_unreachable_not_no_data() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    outcome = _check(address, min_wait=0.01, max_wait=0.02).measure(
        make_canary(), _metric(name="request-success-rate", thresholdRange={"min": 99})
    )
    assert outcome.outcome is ProviderOutcome.ERROR
    assert (
        outcome.message
        == f"metric request-success-rate: Prometheus unreachable at {address} (connection refused)"
    )


def test_a_server_that_never_answers_times_out_within_the_budget(black_hole: _BlackHole) -> None:
    check = MetricCheck(
        PrometheusProvider(black_hole.address, timeout=1), budget=3, min_wait=0.1, max_wait=0.2
    )
    started = time.monotonic()
    outcome = check.measure(make_canary(), _metric(name="request-success-rate", thresholdRange={"min": 99}))
    elapsed = time.monotonic() - started
    assert outcome.outcome is ProviderOutcome.ERROR
    assert "Prometheus timed out after" in outcome.message
    assert outcome.message.endswith(f"s at {black_hole.address}")
    _assert_quiet(outcome)
    assert elapsed < 3 + 5, "bounded by the budget (plus generous slack for a loaded machine)"


def test_a_body_trickling_in_is_cut_off(foreign: _Foreign) -> None:
    provider = PrometheusProvider(f"{foreign.address}/trickle", timeout=1)
    started = time.monotonic()
    outcome = MetricCheck(provider, attempts=1).measure(make_canary(), _metric(name="drip", query="up"))
    assert outcome.outcome is ProviderOutcome.ERROR
    assert outcome.message == f"metric drip: Prometheus timed out after 1s at {foreign.address}"
    assert time.monotonic() - started < 10, "the server would take 40s to finish"


def test_the_default_bounds_are_documented_and_consistent() -> None:
    assert QUERY_TIMEOUT_SECONDS <= CHECK_BUDGET_SECONDS <= 10
    assert PrometheusProvider.__init__.__defaults__ is not None
    assert QUERY_TIMEOUT_SECONDS in PrometheusProvider.__init__.__defaults__


# ---------------------------------------------------------------- through the operator's entry point


def _template(kube: KubeClients, name: str, provider: dict[str, Any], query: str = "vector(1)") -> None:
    call_json(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        NAMESPACE,
        "metrictemplates",
        {
            "apiVersion": "canary.dev/v1alpha1",
            "kind": "MetricTemplate",
            "metadata": {"name": name},
            "spec": {"provider": {"type": "prometheus", **provider}, "query": query},
        },
    )


def _templated_canary(*names: str, **overrides: Any) -> Any:
    metrics = [
        {"name": f"m-{name}", "templateRef": {"name": name}, "thresholdRange": {"min": 0}} for name in names
    ]
    return make_canary(analysis={"interval": "15s", "stepWeight": 10, "metrics": metrics}, **overrides)


async def test_a_slow_prometheus_costs_one_budget_per_step(kube: KubeClients, black_hole: _BlackHole) -> None:
    """The real defaults: three checks against a server that never answers end together, in time."""
    for name in ("a", "b", "c"):
        _template(kube, name, {"address": black_hole.address})
    started = time.monotonic()
    outcomes = await measure_checks(_templated_canary("a", "b", "c"), kube, f"http://127.0.0.1:{free_port()}")
    elapsed = time.monotonic() - started
    assert [o.outcome for o in outcomes] == [ProviderOutcome.ERROR] * 3
    for outcome in outcomes:
        assert "Prometheus timed out after" in outcome.message, outcome.message
        _assert_quiet(outcome)
    assert elapsed < CHECK_BUDGET_SECONDS + 10, "concurrent and bounded, with generous slack"


async def test_credentials_over_plain_http_are_sent_with_a_warning(
    kube: KubeClients, prometheus: PrometheusFixture
) -> None:
    token = base64.b64encode(b"s3cr3t").decode()
    call_json(
        kube.core.create_namespaced_secret,
        NAMESPACE,
        {"metadata": {"name": "auth"}, "data": {"token": token}},
    )
    _template(kube, "with-secret", {"address": prometheus.address, "secretRef": {"name": "auth"}})
    _template(kube, "no-secret", {"address": prometheus.address})
    secret, plain = await measure_checks(
        _templated_canary("with-secret", "no-secret"), kube, prometheus.address
    )
    assert (secret.outcome, secret.value) == (ProviderOutcome.MEASURED, 1.0)
    assert secret.warning == (
        f"metric template with-secret.test sends credentials to {prometheus.address} over plain http; use https"
    )
    assert (plain.outcome, plain.warning) == (ProviderOutcome.MEASURED, "")
    assert plain_http_warning("t.test", "https://prom.monitoring:9090") == ""


async def test_the_allow_list_refuses_other_addresses_without_contacting_them(
    kube: KubeClients, prometheus: PrometheusFixture, foreign: _Foreign
) -> None:
    call_json(
        kube.core.create_namespaced_secret,
        NAMESPACE,
        {"metadata": {"name": "auth"}, "stringData": {"token": "s3cr3t"}},
    )
    _template(kube, "elsewhere", {"address": f"{foreign.address}/html404", "secretRef": {"name": "auth"}})
    _template(kube, "operator-default", {"address": prometheus.address})
    canary = _templated_canary("elsewhere", "operator-default")
    allow = ("http://prometheus.monitoring:9090",)
    refused, default = await measure_checks(canary, kube, prometheus.address, metrics_address_allow=allow)
    assert refused.outcome is ProviderOutcome.ERROR
    assert refused.message == (
        f"metric m-elsewhere: MetricTemplate elsewhere.test: address {foreign.address}/html404 "
        "not allowed by the operator's --metrics-address-allow"
    )
    assert refused.warning == "", "nothing was sent"
    assert foreign.hits == {}
    assert (default.outcome, default.value) == (ProviderOutcome.MEASURED, 1.0), (
        "the operator's own is allowed"
    )

    # The Canary's spec.metricsServer is an address from a user too.
    builtin = make_canary(metricsServer=foreign.address)
    outcomes = await measure_checks(builtin, kube, prometheus.address, metrics_address_allow=allow)
    assert [o.outcome for o in outcomes] == [ProviderOutcome.ERROR] * 2
    assert outcomes[0].message == (
        f"metric request-success-rate: address {foreign.address} not allowed by the operator's "
        f"--metrics-address-allow (spec.metricsServer {foreign.address})"
    )
    assert foreign.hits == {}

    # Allowed by a prefix, or by a regular expression: queried as usual.
    for entry in (foreign.address, r"http://127\.0\.0\.1:\d+(/.*)?"):
        (allowed, _) = await measure_checks(canary, kube, prometheus.address, metrics_address_allow=(entry,))
        assert (
            allowed.message
            == f"metric m-elsewhere: HTTP 404 from {foreign.address} (not a Prometheus API response)"
        )


def test_allow_list_matching() -> None:
    policy = AddressPolicy.of(["http://prom.monitoring", r"https://thanos-[a-z]+\.obs\.svc:10902"])
    assert policy.refusal("http://prom.monitoring:9090") is None
    assert policy.refusal("http://PROM.monitoring/prometheus/") is None
    assert policy.refusal("https://thanos-query.obs.svc:10902") is None
    for outside in (
        "http://prom.monitoring.evil.example",
        "http://prom.monitoringx:9090",
        "https://prom.monitoring",
        "https://thanos-query.obs.svc:10902/extra",
        "http://10.0.0.1:9090",
    ):
        assert policy.refusal(outside) == (
            f"address {parse_address(outside).url} not allowed by the operator's --metrics-address-allow"
        ), outside
    assert AddressPolicy().refusal("http://anything:1") is None, "off by default"
    assert AddressPolicy.of(["http://a"], always=["http://prom:9090/"]).refusal("http://prom:9090") is None
    with pytest.raises(ValueError, match="not a valid regular expression"):
        AddressPolicy.of(["(unclosed"])


def test_the_operator_flag_and_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args(
        [
            "operator",
            "--metrics-address-allow",
            "http://prom:9090",
            "--metrics-address-allow",
            r"https://.*\.svc",
        ]
    )
    assert args.metrics_address_allow == ["http://prom:9090", r"https://.*\.svc"]
    assert build_parser().parse_args(["operator"]).metrics_address_allow is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["operator", "--metrics-address-allow", "(unclosed"])
    assert OperatorConfig().metrics_address_allow == ()
    with pytest.raises(ValueError):
        OperatorConfig(metrics_address_allow=("[bad",))
    # An unusable entry from the environment stops start-up before anything runs.
    monkeypatch.setenv("CANARY_METRICS_ADDRESS_ALLOW", "http://prom:9090 [bad")
    assert operator_cli.run(build_parser().parse_args(["operator"])) == 2
