"""Prometheus metrics provider (Flagger's ``PrometheusProvider``) on ``prometheus_api_client``.

Retries are left to the caller (:class:`canary.metrics.base.MetricCheck` bounds them with
tenacity); one request never retries, so a stopped Prometheus fails fast.

Error text is written for whoever reads a Canary's status and Events, who may not be whoever
runs the operator: an address comes from a Canary or a MetricTemplate, so the provider must not
become a way to read other services' responses through the operator.  Hence:

* redirects are never followed (a 3xx is an error, "redirect refused");
* a message names the provider by ``scheme://host:port`` and gives the HTTP status code; the
  response body is only used when it is a Prometheus API error (JSON with ``"status":"error"``),
  and then only its ``errorType`` and ``error``, cut to :data:`ERROR_DETAIL_CHARS`.  Any other
  body is neither shown nor logged: ``HTTP 404 from http://host:port (not a Prometheus API
  response)``;
* transport failures are named (``Prometheus unreachable at ... (connection refused)``,
  ``Prometheus timed out after 5s at ...``) without the request URL and its encoded query;
* a request is bounded by :data:`QUERY_TIMEOUT_SECONDS` (connect, each read, and the whole body).

``PrometheusConnect`` sends the query; a response hook on its session reads the body (bounded in
size and time) and refuses redirects before they are followed, and the answer is judged from what
the hook saw, never from the client's exception text (which quotes the body).
"""

from __future__ import annotations

import json
import math
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
import urllib3.exceptions
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from canary.metrics.addresses import Endpoint, display_address, parse_address
from canary.metrics.base import MetricsQueryError, VectorSample

__all__ = [
    "ERROR_DETAIL_CHARS",
    "ONLINE_QUERY",
    "QUERY_TIMEOUT_SECONDS",
    "PrometheusProvider",
    "parse_result",
]

#: Flagger's liveness query.
ONLINE_QUERY = "vector(1)"

QUERY_TIMEOUT_SECONDS = 5.0
"""Longest one query request may take: to connect, for each read, and for the whole response
body (a server trickling bytes is cut off too).  A caller may pass a shorter timeout (what is
left of a check's budget, :data:`canary.metrics.base.CHECK_BUDGET_SECONDS`), never a longer one."""

ERROR_DETAIL_CHARS = 200
"""Longest ``errorType: error`` text of a Prometheus API error copied into a message."""

_MAX_BODY_BYTES = 16 * 1024 * 1024
"""A successful answer larger than this is refused (a check's answer is a few series)."""

_MAX_ERROR_BODY_BYTES = 64 * 1024
"""Of an error response only this much is read: enough for any Prometheus API error."""

_WHITESPACE = re.compile(r"\s+")


class _BodyTimeout(Exception):
    """The response body did not arrive within the request's timeout."""


class _BodyTooLarge(Exception):
    """The response body exceeds the size accepted for its status."""


class _RedirectRefused(requests.RequestException):
    """A 3xx answer, stopped in the response hook before requests follows it."""


def _to_float(raw: Any) -> float | None:
    value = float(raw)
    return None if math.isnan(value) else value


def parse_result(result: Any) -> list[VectorSample]:
    """Samples of an instant query's ``data.result`` (vector or scalar); NaN values dropped."""
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        value = _to_float(result[1])  # scalar: [timestamp, "value"]
        return [] if value is None else [VectorSample({}, value)]
    samples: list[VectorSample] = []
    for series in result or []:
        if "values" in series:
            raise MetricsQueryError("query returned a range vector; use an instant query", retryable=False)
        value = _to_float(series["value"][1])
        if value is not None:
            samples.append(VectorSample(dict(series.get("metric") or {}), value))
    return samples


def _one_line(text: str, limit: int = ERROR_DETAIL_CHARS) -> str:
    """Whitespace and control characters collapsed, cut to ``limit`` characters."""
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}s"


def _api_error(payload: Any) -> str | None:
    """``errorType: error`` of a Prometheus API error body, else None (not Prometheus' format)."""
    if not isinstance(payload, dict) or payload.get("status") != "error":
        return None
    error_type, error = payload.get("errorType"), payload.get("error")
    if not isinstance(error_type, str) or not isinstance(error, str):
        return None
    return _one_line(f"{error_type}: {error}")


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (``__cause__``, ``__context__``, urllib3's ``reason``)."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 20:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        for linked in (current.__cause__, current.__context__, getattr(current, "reason", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return seen


def _is_timeout(exc: BaseException) -> bool:
    """True for connect and read timeouts (urllib3's NewConnectionError subclasses its connect
    timeout error for history's sake, but is a refused or failed connection)."""
    for cause in _causes(exc):
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            continue
        if isinstance(
            cause,
            requests.Timeout
            | urllib3.exceptions.ReadTimeoutError
            | urllib3.exceptions.ConnectTimeoutError
            | TimeoutError,
        ):
            return True
    return False


def _transport_reason(exc: BaseException) -> str:
    """A short, fixed description of a transport failure (never the exception text: it holds the URL)."""
    causes = _causes(exc)
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {_one_line(str(cause.verify_message), 80)}"
    for kind, reason in (
        (ConnectionRefusedError, "connection refused"),
        (socket.gaierror, "host name not resolved"),
        (urllib3.exceptions.NameResolutionError, "host name not resolved"),
        (ssl.SSLError, "TLS handshake failed"),
        (ConnectionResetError, "connection reset"),
        (urllib3.exceptions.ProtocolError, "connection closed without a valid HTTP response"),
        (OSError, "network error"),
    ):
        if any(isinstance(cause, kind) for cause in causes):
            return reason
    return "connection failed"


class PrometheusProvider:
    """Implements :class:`canary.metrics.base.MetricsProvider` for Prometheus' HTTP API.

    An unusable address does not raise here: every query then fails with a provider ERROR
    that says why, without contacting anything.
    """

    def __init__(
        self,
        address: str,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        insecure_skip_verify: bool = False,
        timeout: float = QUERY_TIMEOUT_SECONDS,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._endpoint: Endpoint | None
        self._invalid: str | None
        try:
            self._endpoint, self._invalid = parse_address(address), None
        except ValueError as exc:
            self._endpoint, self._invalid = None, str(exc)
        self.address = self._endpoint.url if self._endpoint else address.strip().rstrip("/")
        self.origin = self._endpoint.origin if self._endpoint else display_address(address)
        self._timeout = timeout
        self._session = requests.Session()
        self._session.verify = not insecure_skip_verify
        self._session.headers.update(headers or {})
        if bearer_token:
            self._session.headers["Authorization"] = f"Bearer {bearer_token}"
        elif basic_auth is not None:
            self._session.auth = basic_auth
        self._session.hooks["response"].append(self._capture)
        self._seen = threading.local()
        self._client = PrometheusConnect(
            url=self._endpoint.url if self._endpoint else "http://invalid.invalid",
            session=self._session,
            retry=Retry(total=0, connect=0, read=0, redirect=0, status=0),
        )

    def __repr__(self) -> str:
        return f"PrometheusProvider({self.origin!r})"

    def run_vector(
        self, query: str, timeout: float | None = None, at: float | None = None
    ) -> list[VectorSample]:
        """All samples of an instant query (whitespace collapsed, as Flagger sends it).

        ``timeout`` shortens this request's :data:`QUERY_TIMEOUT_SECONDS` (never lengthens it);
        ``at`` is the evaluation time (unix seconds, the API's ``time`` parameter; default now).
        """
        if self._endpoint is None:
            raise MetricsQueryError(self._invalid or "invalid metrics address", retryable=False)
        limit = self._timeout if timeout is None else max(0.001, min(timeout, self._timeout))
        compact = _WHITESPACE.sub(" ", query).strip()
        status, body = self._get(compact, limit, at)
        return self._answer(status, body)

    def _capture(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """Response hook: remember status and bounded body for this thread; refuse redirects."""
        status = response.status_code
        self._seen.answer = (status, b"")
        if 300 <= status < 400:
            response.close()
            raise _RedirectRefused(f"HTTP {status}")
        limit = _MAX_BODY_BYTES if 200 <= status < 300 else _MAX_ERROR_BODY_BYTES
        try:
            body: bytes | None = _read_body(response, limit, self._seen.deadline)
        except _BodyTooLarge:
            body = None
        finally:
            response.close()
        self._seen.answer = (status, body)
        response._content = body if body is not None else b""  # what the client reads next
        return response

    def _get(self, query: str, timeout: float, at: float | None = None) -> tuple[int, bytes | None]:
        """Status and body (None when too large) of ``GET /api/v1/query``; no redirect is followed."""
        assert self._endpoint is not None
        self._seen.deadline = time.monotonic() + timeout
        self._seen.answer = None
        try:
            try:
                params = {"time": f"{at:.3f}"} if at is not None else None
                self._client.custom_query(query, params=params, timeout=(timeout, timeout))
            except (PrometheusApiClientException, KeyError, TypeError, ValueError):
                pass  # judged below from what the hook saw, never from the exception's text
            except _RedirectRefused:
                pass
            answer: tuple[int, bytes | None] | None = self._seen.answer
            if answer is None:
                raise MetricsQueryError(f"no answer from {self.origin}")
            return answer
        except _BodyTimeout:
            raise self._timed_out(timeout) from None
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL):
            raise MetricsQueryError(
                f"request to {self.origin} not sent: invalid provider.headers value or address",
                retryable=False,
            ) from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if _is_timeout(exc):
                raise self._timed_out(timeout) from None
            raise MetricsQueryError(
                f"Prometheus unreachable at {self.origin} ({_transport_reason(exc)})"
            ) from None

    def _timed_out(self, timeout: float) -> MetricsQueryError:
        return MetricsQueryError(f"Prometheus timed out after {_seconds(timeout)} at {self.origin}")

    def _answer(self, status: int, body: bytes | None) -> list[VectorSample]:
        """The samples of a Prometheus answer, or a MetricsQueryError that never quotes a foreign body."""
        if 300 <= status < 400:
            raise MetricsQueryError(f"HTTP {status} from {self.origin}: redirect refused", retryable=False)
        payload: Any = None
        if body is not None:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
        foreign = f"HTTP {status} from {self.origin} (not a Prometheus API response)"
        if 200 <= status < 300:
            if body is None:
                raise MetricsQueryError(
                    f"HTTP {status} from {self.origin}: answer larger than "
                    f"{_MAX_BODY_BYTES // (1024 * 1024)} MiB refused",
                    retryable=False,
                )
            data = payload.get("data") if isinstance(payload, dict) else None
            if (
                not isinstance(payload, dict)
                or payload.get("status") != "success"
                or not isinstance(data, dict)
                or "result" not in data
            ):
                raise MetricsQueryError(foreign, retryable=False)
            try:
                return parse_result(data["result"])
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                raise MetricsQueryError(foreign, retryable=False) from None
        # 4xx is a bad query (asking again gives the same answer), except "slow down" statuses.
        retryable = status >= 500 or status in (408, 429)
        detail = _api_error(payload)
        if detail is None:
            raise MetricsQueryError(foreign, retryable=retryable)
        raise MetricsQueryError(
            f"HTTP {status} from Prometheus at {self.origin}: {detail}", retryable=retryable
        )

    def run_query(self, query: str, timeout: float | None = None, at: float | None = None) -> float | None:
        """The query's value; None when it returned no (non-NaN) sample.

        Several series are an error (not retried): Flagger silently takes the last one, which
        depends on the order Prometheus happens to return them in.  Aggregate in the query
        (``sum(...)``) to get a single number.
        """
        samples = self.run_vector(query, timeout, at)
        if len(samples) > 1:
            raise MetricsQueryError(
                f"query returned {len(samples)} series; a check needs one (aggregate it, e.g. with sum())",
                retryable=False,
            )
        return samples[0].value if samples else None

    def is_online(self) -> bool:
        """True when Prometheus answers ``vector(1)`` with 1."""
        try:
            return self.run_query(ONLINE_QUERY) == 1.0
        except MetricsQueryError:
            return False


def _read_body(response: requests.Response, limit: int, deadline: float) -> bytes:
    """The body, read as it arrives; raises when it exceeds ``limit`` bytes or outlives ``deadline``.

    ``read1`` returns whatever has arrived, so a server trickling bytes is noticed at the deadline
    (give or take one read timeout), which a fixed-size ``read`` would not.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = read1(64 * 1024, decode_content=True) if read1 is not None else raw.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _BodyTimeout
