"""Pydantic models for the ``canary.dev/v1alpha1`` API: the single source of truth.

The CRDs in ``crds/`` are generated from these classes (``python -m canary.api.crdgen crds``),
so the API server and the operator agree on field names, defaults and cross-field rules.
Field names follow Flagger's ``flagger.app/v1beta1`` Canary where the concept is the same:
a Flagger manifest converts by changing only ``apiVersion``. Fields we accept but do not act
on yet are reported by :func:`unsupported_fields` so the operator can surface a condition.

Conventions: snake_case attributes, camelCase aliases; dump with
``model_dump(by_alias=True, exclude_none=True, mode="json")`` (see :meth:`ApiModel.to_dict`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel

from canary.api.duration import DURATION_PATTERN, bounded_pattern, duration_seconds, parse_duration

__all__ = [
    "API_VERSION",
    "BUILTIN_METRICS",
    "CONDITION_METRIC_PROVIDER_WARNING",
    "CONDITION_PRIMARY_MISSING",
    "CONDITION_PROGRESSING",
    "CONDITION_PROMOTED",
    "CONDITION_TARGET_CONFLICT",
    "CONDITION_TRAFFIC_REDIRECTED",
    "CONDITION_UNSUPPORTED",
    "GROUP",
    "MANUAL_REQUESTS",
    "REQUEST_ABORT",
    "REQUEST_PROMOTE",
    "REQUEST_RETRY",
    "VERSION",
    "AlertProvider",
    "AlertProviderSpec",
    "AlertProviderType",
    "AlertSeverity",
    "AnalysisMatch",
    "ApiModel",
    "AutoscalerKind",
    "AutoscalerRef",
    "BackendObjectReference",
    "BurnRateWindow",
    "Canary",
    "CanaryAlert",
    "CanaryAnalysis",
    "CanaryCondition",
    "CanaryJudge",
    "CanaryMetric",
    "CanarySLO",
    "CanaryService",
    "CanarySpec",
    "CanaryStatus",
    "CanaryWebhook",
    "CheckResult",
    "ConditionStatus",
    "CorsPolicy",
    "CrossFieldRule",
    "CustomMetadata",
    "DurationRange",
    "GateWait",
    "GatewayRef",
    "HTTPMatchRequest",
    "HTTPMirror",
    "HTTPRetry",
    "HTTPRewrite",
    "HeaderOperations",
    "Headers",
    "IngressRef",
    "JudgeEvidence",
    "JudgeLatency",
    "JudgeSignal",
    "JudgeStatus",
    "LatencyBucket",
    "MetricProviderType",
    "MetricTemplate",
    "MetricTemplateProvider",
    "MetricTemplateSpec",
    "Phase",
    "PrimaryScalerReplicas",
    "Provider",
    "ProviderRef",
    "Revision",
    "RevisionOutcome",
    "RouteRef",
    "SecretRef",
    "SessionAffinity",
    "StringMatch",
    "TargetKind",
    "TargetRef",
    "TemplateRef",
    "ThresholdRange",
    "UnmanagedMetadata",
    "UpstreamRef",
    "Verdict",
    "WebhookType",
    "format_time",
    "parse_time",
    "request_annotation",
    "unsupported_fields",
]

GROUP = "canary.dev"
VERSION = "v1alpha1"
PLURAL = "canaries"
API_VERSION: Final = "canary.dev/v1alpha1"  # f"{GROUP}/{VERSION}", spelled out for Literal typing

#: Metric names Flagger (and we) resolve without a query or templateRef.
BUILTIN_METRICS: tuple[str, ...] = ("request-success-rate", "request-duration")

#: Flagger's condition type for "the last rollout was promoted".
CONDITION_PROMOTED = "Promoted"
#: Our condition type warning that the spec uses Flagger fields we do not implement yet.
CONDITION_UNSUPPORTED = "UnsupportedFields"
#: Our condition type warning that an HPA scales the target but spec.autoscalerRef does not name it.
CONDITION_AUTOSCALER_NOT_REFERENCED = "AutoscalerNotReferenced"
#: Kubernetes' Deployment-style condition: True while a revision is in flight, False with reason
#: ``Succeeded``/``Failed``/``Initialized`` once settled, so ``kubectl wait`` can end on either outcome.
CONDITION_PROGRESSING = "Progressing"
#: Manual requests, made as annotations ``canary.dev/<request>`` whose value is the revision hash
#: they are meant for, optionally followed by ``@<nonce>`` (see ``canary promote|abort|retry``).
REQUEST_PROMOTE = "promote"
REQUEST_ABORT = "abort"
REQUEST_RETRY = "retry"
MANUAL_REQUESTS: tuple[str, ...] = (REQUEST_PROMOTE, REQUEST_ABORT, REQUEST_RETRY)


def request_annotation(request: str) -> str:
    """``canary.dev/promote``: the annotation that carries a manual request."""
    return f"{GROUP}/{request}"


#: Another Canary manages the same target: this one stands aside and changes nothing.
CONDITION_TARGET_CONFLICT = "TargetConflict"
#: ``<target>-primary`` disappeared: the operator recreates it from the promoted template.
CONDITION_PRIMARY_MISSING = "PrimaryMissing"
#: The route sends everything to one workload because the other has no available replicas.
CONDITION_TRAFFIC_REDIRECTED = "TrafficRedirected"
#: A metric provider is used unsafely (credentials over plain http, ...); the value still counts.
CONDITION_METRIC_PROVIDER_WARNING = "MetricProviderWarning"


# --------------------------------------------------------------------------- shared types


class ApiModel(BaseModel):
    """Base for every API object: camelCase on the wire, unknown fields rejected."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        alias_generator=to_camel,
        use_attribute_docstrings=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """Dump the way the API server stores it (camelCase, no nulls, JSON types)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _check_duration(value: str) -> str:
    """Validate eagerly so a bad interval fails with the duration parser's clear message."""
    parse_duration(value)
    return value


#: Go-style duration string (``1m30s``); the CRD carries the same pattern.
Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]

#: Kubernetes IntOrString (ports by number or by name).
IntOrString = Annotated[
    int | str,
    WithJsonSchema({"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
]

#: RFC3339 timestamp kept as a string, exactly as the API server round-trips it.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]

#: Deeply nested mesh-specific object we pass through without modelling every field.
OpaqueObject = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]

Percent = Annotated[int, Field(ge=0, le=100)]


def format_time(when: datetime) -> str:
    """RFC3339 in UTC with a ``Z`` suffix and second precision, as Kubernetes writes it."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC3339 timestamp (``Z`` or offset) into an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))


class CrossFieldRule:
    """A rule enforced twice with the same message: as CEL by the API server and in Python.

    The CEL expressions stay within what both a real kube-apiserver and our emulator
    (``canary/sandbox/apiserver/cel.py``) evaluate: ``has``, ``!``, ``&&``, ``||``, ``?:``,
    comparisons, ``in``, ``size``, ``matches``, ``duration``, ``type``, ``isSorted`` and the
    ``all``/``exists_one`` macros. Rules must not fail at runtime on any object the OpenAPI
    schema admits (a real server refuses the object on a runtime error; the emulator skips the
    rule), so they guard with ``has()`` and regex checks before calling ``duration()``.
    ``field_path`` (kube >= 1.28) reports the error at a child field instead of the rule's node.
    """

    def __init__(self, rule: str, message: str, field_path: str | None = None) -> None:
        self.rule = rule
        self.message = message
        self.field_path = field_path

    def as_cel(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry."""
        entry = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            entry["fieldPath"] = self.field_path
        return entry


#: Generic duration syntax in CEL-literal-safe form (``[.]`` instead of an escaped dot).
_CEL_DURATION_SYNTAX = DURATION_PATTERN.replace("\\.", "[.]")
#: Longest duration string accepted: plenty for ``1h30m`` and keeps CEL's cost estimate tiny.
DURATION_MAX_LENGTH = 32


class DurationRange(CrossFieldRule):
    """Inclusive bounds of a Go-style duration field, enforced as CEL and by :meth:`check`.

    The CEL rule only calls ``duration()`` on strings matching :func:`bounded_pattern`, whose
    parts are too short to overflow Go's int64 nanoseconds (``99999999999999h`` would make a real
    server's ``duration()`` fail at runtime), so an absurd value gets this rule's message. Strings
    that are not durations at all are left to the schema ``pattern`` (one error, not two).
    """

    def __init__(self, field: str, low: str, high: str) -> None:
        self.low, self.high = low, high
        self.low_seconds, self.high_seconds = duration_seconds(low), duration_seconds(high)
        self.safe_pattern = bounded_pattern(int(self.high_seconds))
        super().__init__(
            f"!self.matches('{_CEL_DURATION_SYNTAX}') || (self.matches('{self.safe_pattern}') "
            f"&& duration(self) >= duration('{low}') && duration(self) <= duration('{high}'))",
            f"{field} must be between {low} and {high}",
        )

    def check(self, value: str) -> str:
        """Pydantic side of the rule: the format error first, then the bounds message."""
        if not isinstance(value, str) or not re.fullmatch(DURATION_PATTERN, value):
            parse_duration(value)  # raises the clear "invalid duration" ValueError
        if not re.search(self.safe_pattern, value) or not (
            self.low_seconds <= duration_seconds(value) <= self.high_seconds
        ):
            raise ValueError(self.message)
        return value

    def json_schema(self) -> dict[str, Any]:
        """The string schema carrying the pattern, a length cap and the rule."""
        return {
            "type": "string",
            "maxLength": DURATION_MAX_LENGTH,
            "pattern": DURATION_PATTERN,
            **_cel(self),
        }


def _cel(*rules: CrossFieldRule) -> dict[str, Any]:
    return {"x-kubernetes-validations": [r.as_cel() for r in rules]}


#: analysis.interval and metrics[].interval: a step/query window of 0s or of years can never work.
RULE_INTERVAL_RANGE = DurationRange("interval", "1s", "24h")
#: webhooks[].timeout: zero would fail every call; the upper bound keeps it a duration Go can hold.
RULE_TIMEOUT_RANGE = DurationRange("timeout", "1ms", "24h")

#: webhooks[].maxWait: how long a closed gate may hold a release (a week at most).
RULE_MAX_WAIT_RANGE = DurationRange("maxWait", "1s", "168h")

#: An analysis or metric interval (Go-style, 1s..24h).
Interval = Annotated[
    str,
    Field(max_length=DURATION_MAX_LENGTH),
    AfterValidator(RULE_INTERVAL_RANGE.check),
    WithJsonSchema(RULE_INTERVAL_RANGE.json_schema()),
]

#: A webhook timeout (Go-style, 1ms..24h).
Timeout = Annotated[
    str,
    Field(max_length=DURATION_MAX_LENGTH),
    AfterValidator(RULE_TIMEOUT_RANGE.check),
    WithJsonSchema(RULE_TIMEOUT_RANGE.json_schema()),
]

#: A gate's longest hold (Go-style, 1s..168h).
MaxWait = Annotated[
    str,
    Field(max_length=DURATION_MAX_LENGTH),
    AfterValidator(RULE_MAX_WAIT_RANGE.check),
    WithJsonSchema(RULE_MAX_WAIT_RANGE.json_schema()),
]

#: A traffic weight that means something: 1..100 percent.
Weight = Annotated[int, Field(ge=1, le=100)]

#: Kubernetes int32 fields (Flagger declares progressDeadlineSeconds as *int32).
INT32_MAX = 2**31 - 1


# --------------------------------------------------------------------------- enums


class Provider(StrEnum):
    """Traffic management providers (Flagger's list, all accepted by the schema)."""

    APISIX = "apisix"
    APPMESH = "appmesh"
    APPMESH_V1BETA2 = "appmesh:v1beta2"
    CONTOUR = "contour"
    GATEWAYAPI = "gatewayapi"
    """Gateway API at the default version (v1); Flagger's router factory accepts it too."""
    GATEWAYAPI_V1 = "gatewayapi:v1"
    GATEWAYAPI_V1BETA1 = "gatewayapi:v1beta1"
    GLOO = "gloo"
    ISTIO = "istio"
    KNATIVE = "knative"
    KUBERNETES = "kubernetes"
    KUMA = "kuma"
    LINKERD = "linkerd"
    NGINX = "nginx"
    OSM = "osm"
    SKIPPER = "skipper"
    SMI_V1ALPHA1 = "smi:v1alpha1"
    SMI_V1ALPHA2 = "smi:v1alpha2"
    SMI_V1ALPHA3 = "smi:v1alpha3"
    TRAEFIK = "traefik"


class TargetKind(StrEnum):
    """Workload kinds a Canary may target (only Deployment is implemented)."""

    DEPLOYMENT = "Deployment"
    DAEMONSET = "DaemonSet"
    SERVICE = "Service"


class AutoscalerKind(StrEnum):
    """Autoscaler kinds (only HorizontalPodAutoscaler is implemented)."""

    HPA = "HorizontalPodAutoscaler"
    SCALED_OBJECT = "ScaledObject"


class WebhookType(StrEnum):
    """Flagger's webhook hook points; empty means ``rollout``."""

    UNSET = ""
    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    EVENT = "event"
    ROLLBACK = "rollback"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"


class AlertSeverity(StrEnum):
    """Alert severities (Flagger's enum, empty means info).

    As an ``analysis.alerts[].severity`` it is the least severe alert the entry receives:
    ``info`` (or empty) everything, ``warn`` warnings and errors, ``error`` only errors.
    """

    UNSET = ""
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class AlertProviderType(StrEnum):
    """Where an AlertProvider posts: Flagger's chat types, plus ``webhook`` (a plain JSON POST)."""

    SLACK = "slack"
    MSTEAMS = "msteams"
    DISCORD = "discord"
    ROCKET = "rocket"
    GCHAT = "gchat"
    WEBHOOK = "webhook"


class Phase(StrEnum):
    """Canary analysis phases, identical to Flagger's so dashboards and tooling carry over."""

    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


class ConditionStatus(StrEnum):
    """Kubernetes condition status values."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Verdict(StrEnum):
    """Outcome of one metric check (Argo Rollouts vocabulary; Inconclusive = no data)."""

    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"


class MetricProviderType(StrEnum):
    """Metric providers of a MetricTemplate (Flagger's list; only prometheus is implemented)."""

    PROMETHEUS = "prometheus"
    INFLUXDB = "influxdb"
    DATADOG = "datadog"
    EXTERNALMETRICS = "externalmetrics"
    STACKDRIVER = "stackdriver"
    CLOUDWATCH = "cloudwatch"
    NEWRELIC = "newrelic"
    GRAPHITE = "graphite"
    DYNATRACE = "dynatrace"
    KEPTN = "keptn"
    SPLUNK = "splunk"


# --------------------------------------------------------------------------- references


_DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
#: ``<name>-primary`` must still be a DNS-1123 subdomain (253).
MAX_WORKLOAD_NAME = 253 - len("-primary")
#: ``<apex>-primary`` / ``<apex>-canary`` must still be Service names (DNS-1035 labels, 63).
MAX_SERVICE_NAME = 63 - len("-primary")


class TargetRef(ApiModel):
    """The workload under progressive delivery."""

    api_version: str
    kind: TargetKind
    name: str = Field(min_length=1, max_length=MAX_WORKLOAD_NAME, pattern=_DNS1123_SUBDOMAIN)
    """Workload name; without ``service.name`` it also names the Services, so it must then be a
    DNS-1035 label of at most 55 characters (``<name>-primary`` is a Service)."""


RULE_REPLICAS_ORDER = CrossFieldRule(
    "!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
    "minReplicas must be less than or equal to maxReplicas",
)


class PrimaryScalerReplicas(ApiModel):
    """Replica bounds for the primary's scaler (Flagger; not implemented)."""

    model_config = ConfigDict(json_schema_extra=_cel(RULE_REPLICAS_ORDER))

    min_replicas: int | None = Field(default=None, ge=1)
    max_replicas: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.min_replicas > self.max_replicas
        ):
            raise ValueError(RULE_REPLICAS_ORDER.message)
        return self


class AutoscalerRef(ApiModel):
    """The autoscaler of the target; the operator clones it for the primary."""

    api_version: str
    kind: AutoscalerKind
    name: str = Field(min_length=1, max_length=MAX_WORKLOAD_NAME, pattern=_DNS1123_SUBDOMAIN)
    """Autoscaler name (``<name>-primary`` is created for the primary)."""
    primary_scaler_queries: dict[str, str] | None = None
    primary_scaler_replicas: PrimaryScalerReplicas | None = None


class IngressRef(ApiModel):
    """NGINX Ingress to clone for canary routing (Flagger; not implemented)."""

    api_version: str
    kind: Literal["Ingress"]
    name: str = Field(min_length=1)


class RouteRef(ApiModel):
    """APISIX route selector (Flagger; not implemented)."""

    api_version: str
    kind: Literal["ApisixRoute"]
    name: str = Field(min_length=1)


class UpstreamRef(ApiModel):
    """Gloo Upstream selector (Flagger; not implemented)."""

    api_version: str
    kind: Literal["Upstream"]
    name: str = Field(min_length=1)
    namespace: str | None = None


# --------------------------------------------------------------------------- service

_DNS_SUBDOMAIN = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_KIND = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
_SECTION = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class StringMatch(ApiModel):
    """Istio-style string match (one of exact/prefix/suffix/regex)."""

    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    regex: str | None = None


class HTTPMatchRequest(ApiModel):
    """Istio HTTPMatchRequest as embedded by Flagger (not implemented)."""

    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] | None = None
    query_params: dict[str, StringMatch] | None = None
    without_headers: dict[str, StringMatch] | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    source_labels: dict[str, str] | None = None
    source_namespace: str | None = None
    gateways: list[str] | None = None
    ignore_uri_case: bool | None = None


class HTTPRetry(ApiModel):
    """Retry policy for HTTP requests (not implemented)."""

    attempts: int | None = Field(default=None, ge=0)
    per_try_timeout: str | None = None
    retry_on: str | None = None


class HTTPRewrite(ApiModel):
    """URI/authority rewrite (not implemented)."""

    uri: str | None = None
    authority: str | None = None
    type: str | None = None


class BackendObjectReference(ApiModel):
    """Gateway API BackendObjectReference used by request mirroring."""

    group: str | None = Field(default="", max_length=253, pattern=_DNS_SUBDOMAIN)
    kind: str | None = Field(default="Service", min_length=1, max_length=63, pattern=_KIND)
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(default=None, min_length=1, max_length=63, pattern=_DNS_LABEL)
    port: int | None = Field(default=None, ge=1, le=65535)


class HTTPMirror(ApiModel):
    """A Gateway API request-mirror filter (not implemented)."""

    backend_ref: BackendObjectReference


class HeaderOperations(ApiModel):
    """Header add/set/remove operations."""

    add: dict[str, str] | None = None
    set: dict[str, str] | None = None
    remove: list[str] | None = None


class Headers(ApiModel):
    """Request/response header manipulation (not implemented)."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class GatewayRef(ApiModel):
    """Gateway API parent reference for the generated HTTPRoute."""

    group: str | None = Field(default="gateway.networking.k8s.io", max_length=253, pattern=_DNS_SUBDOMAIN)
    kind: str | None = Field(default="Gateway", min_length=1, max_length=63, pattern=_KIND)
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(default=None, min_length=1, max_length=63, pattern=_DNS_LABEL)
    section_name: str | None = Field(default=None, min_length=1, max_length=253, pattern=_SECTION)
    port: int | None = Field(default=None, ge=1, le=65535)


class CorsPolicy(ApiModel):
    """Istio CORS policy (not implemented)."""

    allow_credentials: bool | None = None
    allow_headers: list[str] | None = None
    allow_methods: list[str] | None = None
    allow_origin: list[str] | None = None
    allow_origins: list[StringMatch] | None = None
    expose_headers: list[str] | None = None
    max_age: str | None = None


class CustomMetadata(ApiModel):
    """Labels and annotations added to a generated Service."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class UnmanagedMetadata(ApiModel):
    """Label/annotation keys the operator must not overwrite (Flagger; not implemented)."""

    labels: list[str] | None = None
    annotations: list[str] | None = None


RULE_TARGET_PORT = CrossFieldRule(
    "type(self) == int ? (self >= 1 && self <= 65535) : (self.size() >= 1 && self.size() <= 15)",
    "targetPort must be a port number (1-65535) or a port name (at most 15 characters)",
)


def _check_target_port(value: int | str) -> int | str:
    ok = 1 <= value <= 65535 if isinstance(value, int) else 1 <= len(value) <= 15
    if not ok:
        raise ValueError(RULE_TARGET_PORT.message)
    return value


#: Kubernetes ServicePort.targetPort: a number 1..65535 or a port name (IANA_SVC_NAME, <= 15).
TargetPort = Annotated[
    int | str,
    AfterValidator(_check_target_port),
    WithJsonSchema(
        {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            **_cel(RULE_TARGET_PORT),
        }
    ),
]


class CanaryService(ApiModel):
    """How the target is exposed: the apex/primary/canary Services and the routing object."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_SERVICE_NAME, pattern=_DNS1035_LABEL)
    """Apex Service name; defaults to the target's name. ``<name>-primary`` and ``<name>-canary``
    are Services too, hence a DNS-1035 label of at most 55 characters."""
    port: int = Field(ge=1, le=65535)
    """Service port."""
    port_name: str | None = Field(default=None, min_length=1, max_length=63, pattern=_DNS1123_LABEL)
    target_port: TargetPort | None = None
    """Container port (number or name); defaults to ``port``."""
    port_discovery: bool | None = None
    app_protocol: str | None = None
    traffic_distribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    headless: bool | None = None
    timeout: str | None = None
    backend_timeout: str | None = None
    mesh_name: str | None = None
    backends: list[str] | None = None
    gateway_refs: list[GatewayRef] | None = Field(default=None, min_length=1, max_length=32)
    """Gateways the generated HTTPRoute attaches to (required for the Gateway API providers)."""
    hosts: list[str] | None = None
    """Host names the route answers for."""
    gateways: list[str] | None = None
    delegation: bool | None = None
    match: list[HTTPMatchRequest] | None = None
    rewrite: HTTPRewrite | None = None
    retries: HTTPRetry | None = None
    headers: Headers | None = None
    mirror: list[HTTPMirror] | None = None
    cors_policy: CorsPolicy | None = None
    traffic_policy: OpaqueObject | None = None
    """Istio DestinationRule trafficPolicy, passed through unmodelled."""
    apex: CustomMetadata | None = None
    primary: CustomMetadata | None = None
    canary: CustomMetadata | None = None
    unmanaged_metadata: UnmanagedMetadata | None = None

    @property
    def effective_target_port(self) -> int | str:
        """Container port the Services point at (Kubernetes defaults it to ``port``)."""
        return self.target_port if self.target_port is not None else self.port


# --------------------------------------------------------------------------- analysis

RULE_RANGE_ORDER = CrossFieldRule(
    "!has(self.min) || !has(self.max) || self.min <= self.max",
    "thresholdRange.min must be less than or equal to thresholdRange.max",
)
RULE_QUERY_XOR_TEMPLATE = CrossFieldRule(
    "!(has(self.query) && has(self.templateRef))",
    "metric query and templateRef are mutually exclusive",
)
RULE_QUERY_OR_BUILTIN = CrossFieldRule(
    "has(self.query) || has(self.templateRef) || self.name == 'request-success-rate' "
    "|| self.name == 'request-duration'",
    "metric needs a query or a templateRef unless its name is a builtin "
    "(request-success-rate, request-duration)",
)
RULE_STEP_EXCLUSIVE = CrossFieldRule(
    "!(has(self.stepWeight) && has(self.stepWeights))",
    "stepWeight and stepWeights are mutually exclusive",
)
RULE_STEP_REQUIRED = CrossFieldRule(
    "has(self.stepWeight) || has(self.stepWeights) || has(self.iterations)",
    "one of stepWeight, stepWeights or iterations is required",
)
RULE_STEP_LE_MAX = CrossFieldRule(
    "!has(self.stepWeight) || !has(self.maxWeight) || self.stepWeight <= self.maxWeight",
    "stepWeight must not exceed maxWeight",
)
RULE_STEP_WEIGHTS_INCREASING = CrossFieldRule(
    "self.isSorted() && self.all(w, self.exists_one(v, v == w))",
    "stepWeights must be strictly increasing",
)
MSG_STEP_WEIGHTS_INCREASING = RULE_STEP_WEIGHTS_INCREASING.message


class ThresholdRange(ApiModel):
    """Accepted range of a metric value; either bound may be omitted."""

    model_config = ConfigDict(json_schema_extra=_cel(RULE_RANGE_ORDER))

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(RULE_RANGE_ORDER.message)
        return self

    def contains(self, value: float) -> bool:
        """True when value lies within the (inclusive) bounds."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class TemplateRef(ApiModel):
    """Reference to a MetricTemplate; namespace defaults to the Canary's."""

    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(default=None, min_length=1, max_length=63, pattern=_DNS1123_LABEL)


class CanaryMetric(ApiModel):
    """One metric check run every analysis interval."""

    model_config = ConfigDict(json_schema_extra=_cel(RULE_QUERY_XOR_TEMPLATE, RULE_QUERY_OR_BUILTIN))

    name: str = Field(min_length=1, max_length=253)
    interval: Interval | None = None
    """Query window (1s..24h); defaults to the analysis interval."""
    threshold: float | None = None
    """Legacy single threshold (Flagger): a minimum for request-success-rate, else a maximum."""
    threshold_range: ThresholdRange | None = None
    query: str | None = Field(default=None, min_length=1)
    """Inline PromQL (Flagger's legacy form)."""
    template_ref: TemplateRef | None = None
    template_variables: dict[str, str] | None = None
    min_samples: int | None = Field(default=None, ge=1, le=1_000_000_000)
    """Fewest canary requests the check's window must hold before its value is judged. Fewer is
    Inconclusive: advancement halts but no failed check is counted (see ``inconclusiveDeadline``).
    With it the window is the whole current step, so a quiet step collects until it has enough."""

    @model_validator(mode="after")
    def _query_source(self) -> Self:
        if self.query is not None and self.template_ref is not None:
            raise ValueError(RULE_QUERY_XOR_TEMPLATE.message)
        if self.query is None and self.template_ref is None and self.name not in BUILTIN_METRICS:
            raise ValueError(RULE_QUERY_OR_BUILTIN.message)
        return self

    @property
    def is_builtin(self) -> bool:
        """True when the query comes from the builtin metric of that name."""
        return self.query is None and self.template_ref is None and self.name in BUILTIN_METRICS

    @property
    def interval_seconds(self) -> float | None:
        """The query window in seconds, or None to use the analysis interval."""
        return duration_seconds(self.interval) if self.interval is not None else None

    @property
    def effective_range(self) -> ThresholdRange:
        """thresholdRange, or the legacy ``threshold`` translated with Flagger's semantics."""
        if self.threshold_range is not None:
            return self.threshold_range
        if self.threshold is None:
            return ThresholdRange()
        if self.name == "request-success-rate":
            return ThresholdRange(min=self.threshold)
        return ThresholdRange(max=self.threshold)


class ProviderRef(ApiModel):
    """Reference to an AlertProvider."""

    name: str = Field(min_length=1)
    namespace: str | None = None
    """Namespace of the AlertProvider (and of its Secret); defaults to the Canary's."""


class CanaryAlert(ApiModel):
    """An alert destination: the Canary's alert-worthy events at ``severity`` or above, posted to
    the AlertProvider ``providerRef`` names (Flagger's ``analysis.alerts``).

    Alerts are sent when the analysis starts (initialization, new revision: info), when a gate
    holds the release (warn, unless the hook has ``muteAlert``), when it succeeds (info) and when
    it fails or rolls back (error).
    """

    name: str
    """Name of this alert entry (shown in the operator's logs)."""
    severity: AlertSeverity | None = None
    """Least severe alert sent here: info (default, everything), warn (warnings and errors) or error."""
    provider_ref: ProviderRef


#: Flagger's default webhook timeout (``CallWebhook``: a timeout shorter than 2 characters is 10s).
DEFAULT_WEBHOOK_TIMEOUT = "10s"


class CanaryWebhook(ApiModel):
    """A Flagger webhook: a gate, a test or a notification POSTed at one point of the analysis.

    What each type does is decided in :mod:`canary.core.hooks`; the call itself is made by
    :mod:`canary.webhooks`. ``maxWait`` is ours (not Flagger's): a closed gate holds the release
    at most that long and then fails it (fluxcd/flagger #1450); without it a gate holds forever,
    as in Flagger.
    """

    name: str = Field(min_length=1, max_length=253)
    type: WebhookType | None = None
    """Hook point; empty means ``rollout`` (a test run with every check)."""
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")
    """http(s) URL the webhook is POSTed to."""
    timeout: Timeout | None = None
    """Request timeout (1ms..24h, default 10s)."""
    retries: int | None = Field(default=None, ge=0, le=10)
    """Retries after a connection error or a 5xx answer (at most 10: each tick waits for them)."""
    disable_tls: bool | None = Field(default=None, alias="disableTLS")
    """Skip TLS certificate verification for this URL."""
    mute_alert: bool | None = None
    """No alert when this gate holds the release."""
    metadata: dict[str, str] | None = None
    """Sent as the payload's ``metadata`` (the loadtester reads ``cmd`` and ``type`` from it)."""
    max_wait: MaxWait | None = None
    """Extension: the longest a closed gate may hold the release before it fails (1s..168h)."""

    @property
    def effective_type(self) -> WebhookType:
        """``rollout`` when the type is empty, as in Flagger."""
        return self.type if self.type not in (None, WebhookType.UNSET) else WebhookType.ROLLOUT

    @property
    def timeout_seconds(self) -> float:
        """The request timeout in seconds (10s when unset)."""
        return duration_seconds(self.timeout or DEFAULT_WEBHOOK_TIMEOUT)

    @property
    def max_wait_seconds(self) -> float | None:
        """``maxWait`` in seconds, None to hold forever."""
        return duration_seconds(self.max_wait) if self.max_wait is not None else None


class AnalysisMatch(ApiModel):
    """A/B testing match conditions (not implemented)."""

    headers: dict[str, StringMatch] | None = None
    query_params: dict[str, StringMatch] | None = None
    source_labels: dict[str, str] | None = None


class SessionAffinity(ApiModel):
    """Cookie-based session affinity during a canary run (not implemented)."""

    cookie_name: str = Field(min_length=1)
    primary_cookie_name: str | None = Field(default=None, min_length=1)
    domain: str | None = None
    http_only: bool | None = None
    max_age: int = Field(default=86400, ge=1)
    """Cookie lifetime in seconds (``Max-Age=0`` would delete the cookie at once)."""
    partitioned: bool | None = None
    path: str | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = None
    secure: bool | None = None


class JudgeSignal(ApiModel):
    """One signal the judge compares between canary and primary (errors, or slow requests)."""

    enabled: bool = True
    max_ratio: float = Field(default=1.5, ge=1.0, le=1000.0)
    """The minimum effect that matters: the canary's rate of bad requests (5xx, or slower than the
    latency boundary) may be up to this many times the primary's before it counts as a regression."""


class JudgeLatency(JudgeSignal):
    """Latency compared as the share of requests slower than the primary's ``quantile``."""

    quantile: float = Field(default=0.99, ge=0.5, le=0.999)
    """The boundary is the histogram bucket nearest the primary's quantile (its p99 by default)."""


class CanaryJudge(ApiModel):
    """Canary-vs-primary judge: an anytime-valid sequential test over both revisions' requests.

    Off unless present, so Flagger semantics stay intact. It looks every ``interval`` (between
    steps too), rolls back as soon as the evidence of a regression is decisive and, with
    ``earlyAdvance``, lets a step end early once the evidence that there is none is decisive.
    """

    false_rollback_rate: float = Field(default=0.01, ge=0.0001, le=0.2)
    """Largest chance of rolling back a release that is no worse than tolerated (split between
    the enabled signals); also the chance of ending one step early for a release that is worse."""
    errors: JudgeSignal = Field(default_factory=JudgeSignal)
    latency: JudgeLatency = Field(default_factory=JudgeLatency)
    interval: Interval | None = None
    """How often the judge looks at new traffic; default a quarter of ``analysis.interval`` (>= 1s)."""
    early_advance: bool = True
    """Let a step end before its interval once the judge has shown the canary is not worse."""

    @property
    def signals(self) -> tuple[str, ...]:
        """Names of the enabled signals, in a fixed order."""
        out: list[str] = []
        if self.errors.enabled:
            out.append("errors")
        if self.latency.enabled:
            out.append("latency")
        return tuple(out)


class BurnRateWindow(ApiModel):
    """One multi-window burn-rate rule (Google SRE workbook, "Alerting on SLOs")."""

    short_window: Interval
    long_window: Interval
    burn_rate: float = Field(ge=0.01, le=10000.0)
    """Fails when the burn rate over both windows exceeds this (14.4 spends 2% of a 30-day budget in 1h)."""


def _default_burn_rates() -> list[BurnRateWindow]:
    return [
        BurnRateWindow(short_window="5m", long_window="1h", burn_rate=14.4),
        BurnRateWindow(short_window="30m", long_window="6h", burn_rate=6.0),
    ]


class CanarySLO(ApiModel):
    """An availability SLO for the canary revision, checked as error-budget burn rates.

    Windows are cut to the revision's own traffic: a 1h window of a canary analysed for 6 minutes
    covers those 6 minutes.
    """

    objective: float = Field(ge=50.0, le=99.9999)
    """Percent of requests that must not fail with a 5xx (99.9 leaves an error budget of 0.1%)."""
    burn_rates: list[BurnRateWindow] = Field(default_factory=_default_burn_rates, min_length=1, max_length=8)

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, 0..1."""
        return 1.0 - self.objective / 100.0


DEFAULT_INTERVAL = "1m"
DEFAULT_THRESHOLD = 5


def _threshold_zero_is_one(value: int) -> int:
    """Flagger's GetAnalysisThreshold: a threshold of 0 (unset in Go) means 1."""
    return value if value > 0 else 1


DEFAULT_MAX_WEIGHT = 100
DEFAULT_READY_THRESHOLD = 100
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4


class CanaryAnalysis(ApiModel):
    """How traffic is shifted and judged.

    Schema defaults (Flagger only has code defaults): interval 1m, threshold 5.
    """

    model_config = ConfigDict(
        json_schema_extra=_cel(RULE_STEP_EXCLUSIVE, RULE_STEP_REQUIRED, RULE_STEP_LE_MAX)
    )

    interval: Interval = DEFAULT_INTERVAL
    """Time between steps (and metric checks), 1s..24h."""
    threshold: Annotated[int, AfterValidator(_threshold_zero_is_one)] = Field(default=DEFAULT_THRESHOLD, ge=0)
    """Failed checks tolerated before rollback; ``0`` means 1, as in Flagger's GetAnalysisThreshold
    (the parsed model holds 1, so ``failedChecks >= threshold`` never rolls back at once)."""
    iterations: int | None = Field(default=None, ge=0)
    """Fixed number of checks (A/B testing, blue/green) instead of weight steps (``0`` runs one)."""
    max_weight: Weight | None = None
    """Canary weight at which promotion starts (default 100, or the last stepWeights entry)."""
    step_weight: Weight | None = None
    step_weights: list[Weight] | None = Field(
        default=None, min_length=1, max_length=100, json_schema_extra=_cel(RULE_STEP_WEIGHTS_INCREASING)
    )
    """Weights of the steps, strictly increasing, each 1..100 (so at most 100 entries)."""
    step_weight_promotion: Weight | None = None
    primary_ready_threshold: Percent | None = None
    canary_ready_threshold: Percent | None = None
    mirror: bool | None = None
    mirror_weight: Percent | None = None
    match: list[AnalysisMatch] | None = None
    metrics: list[CanaryMetric] | None = Field(default=None, max_length=64)
    """Checks run every interval (bounded so the API server's CEL cost estimate stays small)."""
    consecutive_error_limit: int | None = Field(default=None, ge=1, le=100)
    """Steps in a row whose checks could not be measured (provider ERROR: Prometheus unreachable or
    failing) before rolling back; default 4 (Argo Rollouts' ``consecutiveErrorLimit``). Such steps
    never advance and never count toward ``threshold``."""
    alerts: list[CanaryAlert] | None = None
    webhooks: list[CanaryWebhook] | None = Field(default=None, max_length=64)
    """Hooks (bounded so the API server's CEL cost estimate for their timeouts stays small)."""
    session_affinity: SessionAffinity | None = None
    judge: CanaryJudge | None = None
    """Compare the canary with the primary statistically (see CanaryJudge); off when absent."""
    slo: CanarySLO | None = None
    """Check the canary's error-budget burn rate against an SLO every step."""
    inconclusive_deadline: MaxWait | None = None
    """How long checks may stay Inconclusive for too few samples before the release is rolled
    back (default: progressDeadlineSeconds)."""

    @model_validator(mode="after")
    def _steps(self) -> Self:
        if self.step_weight is not None and self.step_weights is not None:
            raise ValueError(RULE_STEP_EXCLUSIVE.message)
        if self.step_weight is None and self.step_weights is None and self.iterations is None:
            raise ValueError(RULE_STEP_REQUIRED.message)
        if (
            self.step_weight is not None
            and self.max_weight is not None
            and self.step_weight > self.max_weight
        ):
            raise ValueError(RULE_STEP_LE_MAX.message)
        if self.step_weights is not None and any(
            a >= b for a, b in zip(self.step_weights, self.step_weights[1:], strict=False)
        ):
            raise ValueError(RULE_STEP_WEIGHTS_INCREASING.message)
        return self

    @property
    def interval_seconds(self) -> float:
        """Analysis interval in seconds."""
        return duration_seconds(self.interval)

    @property
    def interval_timedelta(self) -> timedelta:
        """Analysis interval as a timedelta."""
        return parse_duration(self.interval)

    @property
    def inconclusive_deadline_timedelta(self) -> timedelta | None:
        """inconclusiveDeadline as a timedelta (None: use progressDeadlineSeconds)."""
        return parse_duration(self.inconclusive_deadline) if self.inconclusive_deadline is not None else None

    @property
    def effective_max_weight(self) -> int:
        """maxWeight, else the last stepWeights entry, else 100 (Flagger's behaviour)."""
        if self.max_weight is not None:
            return self.max_weight
        if self.step_weights:
            return self.step_weights[-1]
        return DEFAULT_MAX_WEIGHT

    @property
    def effective_primary_ready_threshold(self) -> int:
        """Percent of primary pods that must be ready (Flagger default 100)."""
        return (
            DEFAULT_READY_THRESHOLD if self.primary_ready_threshold is None else self.primary_ready_threshold
        )

    @property
    def effective_canary_ready_threshold(self) -> int:
        """Percent of canary pods that must be ready (Flagger default 100)."""
        return DEFAULT_READY_THRESHOLD if self.canary_ready_threshold is None else self.canary_ready_threshold

    @property
    def effective_consecutive_error_limit(self) -> int:
        """consecutiveErrorLimit, default 4 as in Argo Rollouts."""
        return (
            DEFAULT_CONSECUTIVE_ERROR_LIMIT
            if self.consecutive_error_limit is None
            else self.consecutive_error_limit
        )

    @property
    def is_iteration_based(self) -> bool:
        """True for A/B and blue/green runs (fixed iterations, no weight steps)."""
        return self.iterations is not None and self.step_weight is None and self.step_weights is None


# --------------------------------------------------------------------------- canary

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600

#: Providers whose router writes an HTTPRoute and so needs ``service.gatewayRefs``.
GATEWAY_API_PROVIDERS: tuple[str, ...] = (
    Provider.GATEWAYAPI.value,
    Provider.GATEWAYAPI_V1.value,
    Provider.GATEWAYAPI_V1BETA1.value,
)

RULE_SERVICE_NAMES = CrossFieldRule(
    "(has(self.service) && has(self.service.name)) || (self.targetRef.name.size() <= "
    f"{MAX_SERVICE_NAME} && self.targetRef.name.matches('{_DNS1035_LABEL}'))",
    f"must be a DNS-1035 label (a-z, 0-9 and '-', starting with a letter) of at most "
    f"{MAX_SERVICE_NAME} characters unless service.name is set: it names the Services "
    "<name>-primary and <name>-canary",
    field_path=".targetRef.name",
)
RULE_GATEWAY_REFS = CrossFieldRule(
    "!has(self.provider) || !(self.provider in ["
    + ", ".join(f"'{p}'" for p in GATEWAY_API_PROVIDERS)
    + "]) || (has(self.service) && has(self.service.gatewayRefs))",
    "service.gatewayRefs is required when the provider is a Gateway API one",
    field_path=".service.gatewayRefs",
)


class CanarySpec(ApiModel):
    """Desired state of a Canary (Flagger-compatible field names)."""

    model_config = ConfigDict(json_schema_extra=_cel(RULE_SERVICE_NAMES, RULE_GATEWAY_REFS))

    provider: Provider | None = None
    """Traffic management provider."""
    metrics_server: str | None = None
    """Prometheus URL override (Flagger; not implemented: the operator's global one is used)."""
    target_ref: TargetRef
    autoscaler_ref: AutoscalerRef | None = None
    ingress_ref: IngressRef | None = None
    route_ref: RouteRef | None = None
    upstream_ref: UpstreamRef | None = None
    service: CanaryService | None = None
    analysis: CanaryAnalysis
    progress_deadline_seconds: int = Field(default=DEFAULT_PROGRESS_DEADLINE_SECONDS, ge=1, le=INT32_MAX)
    """Seconds a rollout may make no progress before it is rolled back (int32, as in Flagger)."""
    skip_analysis: bool = False
    """Promote without analysis."""
    suspend: bool = False
    """Pause the operator's reconciliation of this Canary."""
    revert_on_deletion: bool = False
    """Restore the target when the Canary is deleted."""

    @model_validator(mode="after")
    def _names_and_routes(self) -> Self:
        service = self.service
        if (service is None or service.name is None) and not (
            len(self.target_ref.name) <= MAX_SERVICE_NAME and re.search(_DNS1035_LABEL, self.target_ref.name)
        ):
            raise ValueError(f"targetRef.name: {RULE_SERVICE_NAMES.message}")
        if (
            self.provider is not None
            and self.provider.value in GATEWAY_API_PROVIDERS
            and (service is None or service.gateway_refs is None)
        ):
            raise ValueError(RULE_GATEWAY_REFS.message)
        return self

    @property
    def analysis_interval_seconds(self) -> float:
        """Analysis interval in seconds."""
        return self.analysis.interval_seconds

    @property
    def analysis_interval(self) -> timedelta:
        """Analysis interval as a timedelta."""
        return self.analysis.interval_timedelta

    @property
    def progress_deadline(self) -> timedelta:
        """progressDeadlineSeconds as a timedelta."""
        return timedelta(seconds=self.progress_deadline_seconds)


class CanaryCondition(ApiModel):
    """A Kubernetes-style condition (Flagger uses type ``Promoted``)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    status: ConditionStatus
    reason: str
    message: str | None = None
    last_update_time: Timestamp | None = None
    last_transition_time: Timestamp | None = None


class Revision(ApiModel):
    """Identity of the pod template under analysis."""

    model_config = ConfigDict(extra="ignore")

    hash: str
    image: str | None = None


class RevisionOutcome(ApiModel):
    """How one revision's release ended: which template, which image, when, and why."""

    model_config = ConfigDict(extra="ignore")

    hash: str
    """Pod-template hash of the revision (what ``canary wait --revision`` compares)."""
    image: str | None = None
    time: Timestamp | None = None
    message: str | None = None
    """One line: for a failure, the failing check and its value (or the other reason)."""


class LatencyBucket(ApiModel):
    """A cumulative histogram bucket: requests answered within ``le`` seconds."""

    model_config = ConfigDict(extra="ignore")

    le: float
    count: float


class JudgeEvidence(ApiModel):
    """What the judge has seen of one signal during this analysis.

    ``logEvidence`` holds the natural log of the e-value against "no regression" for each
    alternative ratio of the mixture (see :mod:`canary.core.sequential`); ``stepLogEvidence`` the
    same against "a regression" for the current step only.
    """

    model_config = ConfigDict(extra="ignore")

    canary_requests: float = 0.0
    canary_bad: float = 0.0
    primary_requests: float = 0.0
    primary_bad: float = 0.0
    log_evidence: list[float] = Field(default_factory=list)
    step_log_evidence: list[float] = Field(default_factory=list)


class JudgeStatus(ApiModel):
    """The judge's running state for the revision under analysis (survives operator restarts)."""

    model_config = ConfigDict(extra="ignore")

    observed_until: Timestamp | None = None
    """End of the last window judged; the next one starts here."""
    step_started_at: Timestamp | None = None
    """The step the per-step evidence belongs to."""
    errors: JudgeEvidence | None = None
    latency: JudgeEvidence | None = None
    latency_boundary: float | None = None
    """Seconds: requests slower than this count as slow (the primary's quantile, bucketed)."""
    primary_buckets: list[LatencyBucket] = Field(default_factory=list)
    """The primary's latency histogram over this analysis (finite bounds), which picks the boundary."""
    primary_total: float = 0.0
    """The primary's requests in that histogram (its +Inf bucket, which JSON cannot spell)."""
    looked_at: Timestamp | None = None
    """When the judge last asked for counts, answered or not (paces retries)."""
    verdict: str | None = None
    """``Regression``, ``NoRegression`` (this step) or ``Undecided``."""
    message: str | None = None


class CheckResult(ApiModel):
    """The last result of one metric check."""

    model_config = ConfigDict(extra="ignore")

    name: str
    verdict: Verdict
    value: float | None = Field(default=None, json_schema_extra={"nullable": True})
    """Canary value; null when the query returned no data."""
    threshold_min: float | None = None
    threshold_max: float | None = None
    message: str | None = None
    primary_value: float | None = Field(default=None, json_schema_extra={"nullable": True})
    """Same metric for the primary, for comparison."""
    time: Timestamp | None = None
    window: str | None = None
    """The query window, ending at ``time`` (e.g. ``37s``: only time since the step began)."""
    scope: str | None = None
    """``Revision`` when the query provably covers only the canary revision (built-in checks);
    ``Query`` when it is a user's query the operator cannot vouch for."""
    samples: float | None = None
    """Canary requests in the window (when counted: built-in checks, or ``minSamples`` set)."""
    min_samples: int | None = None


class GateWait(ApiModel):
    """A gate webhook (confirm-rollout, confirm-traffic-increase, confirm-promotion) that holds the release."""

    name: str
    type: WebhookType
    since: Timestamp
    """When it first held this revision at this point; ``maxWait`` counts from here."""
    message: str | None = None
    """Its last answer (status code or connection error)."""


class CanaryStatus(ApiModel):
    """Observed state, written only by the operator.

    Unknown keys are ignored when reading (and preserved by the CRD) so an older operator
    can read status written by a newer one during an upgrade.
    """

    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )

    phase: Phase | None = None
    canary_weight: int = 0
    failed_checks: int = 0
    consecutive_errors: int = 0
    """Analysis steps in a row whose checks the provider could not answer (see consecutiveErrorLimit)."""
    iterations: int = 0
    tracked_configs: dict[str, str] | None = None
    last_applied_spec: str | None = None
    """Hash of the pod template last seen; a change starts a new analysis."""
    last_promoted_spec: str | None = None
    last_transition_time: Timestamp | None = None
    conditions: list[CanaryCondition] = Field(default_factory=list)
    observed_generation: int | None = None
    session_affinity_cookie: str | None = None
    primary_session_affinity_cookie: str | None = None
    previous_session_affinity_cookie: str | None = None
    revision: Revision | None = None
    """The revision under analysis (or last analysed)."""
    last_promoted_revision: RevisionOutcome | None = None
    """The revision the primary runs since its promotion (or bootstrap)."""
    last_failed_revision: RevisionOutcome | None = None
    """The last revision that was rolled back, and why."""
    handled_requests: dict[str, str] | None = None
    """Manual requests already acted on (``promote``/``abort``/``retry`` -> annotation value)."""
    checks: list[CheckResult] = Field(default_factory=list)
    gate: GateWait | None = None
    """The closed gate holding the release, and since when (cleared when it opens)."""
    step_started_at: Timestamp | None = None
    """When the current step began; paces steps across operator restarts."""
    analysis_started_at: Timestamp | None = None
    """When the revision under analysis first received traffic (SLO windows start here)."""
    inconclusive_since: Timestamp | None = None
    """Since when checks have been Inconclusive for too few samples (cleared by a verdict)."""
    judge: JudgeStatus | None = None
    message: str | None = None
    """Human summary of the last decision."""

    def condition(self, type_: str) -> CanaryCondition | None:
        """The condition of that type, if present."""
        return next((c for c in self.conditions if c.type == type_), None)


def _plain(value: Any) -> Any:
    """Deep-copy Mapping views (kopf bodies) into plain dicts/lists for pydantic."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class _Resource(ApiModel):
    """Common envelope of a namespaced custom resource."""

    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """Parse a raw object (dict or kopf Body); raises pydantic.ValidationError."""
        return cls.model_validate(_plain(body))

    @property
    def name(self) -> str:
        """metadata.name."""
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """metadata.namespace."""
        return str(self.metadata.get("namespace", ""))

    @property
    def generation(self) -> int | None:
        """metadata.generation, when the server set it."""
        gen = self.metadata.get("generation")
        return int(gen) if gen is not None else None


class Canary(_Resource):
    """A Canary custom resource (``canary.dev/v1alpha1``)."""

    KIND: ClassVar[str] = "Canary"

    api_version: Literal["canary.dev/v1alpha1"] = API_VERSION
    kind: Literal["Canary"] = "Canary"
    spec: CanarySpec
    status: CanaryStatus | None = None

    @property
    def current_status(self) -> CanaryStatus:
        """The status, or an empty one for a Canary the operator has not seen yet."""
        return self.status if self.status is not None else CanaryStatus()


# --------------------------------------------------------------------------- metric template


class SecretRef(ApiModel):
    """Secret holding provider credentials."""

    name: str = Field(min_length=1)


class MetricTemplateProvider(ApiModel):
    """Where a MetricTemplate's query is run."""

    type: MetricProviderType
    address: str | None = None
    """Provider API address; defaults to the operator's Prometheus."""
    headers: dict[str, list[str]] | None = None
    secret_ref: SecretRef | None = None
    region: str | None = None
    insecure_skip_verify: bool | None = None


class MetricTemplateSpec(ApiModel):
    """A reusable query with ``{{ name }}``, ``{{ namespace }}``, ``{{ target }}``,
    ``{{ service }}``, ``{{ interval }}`` and ``{{ variables.X }}`` placeholders."""

    provider: MetricTemplateProvider
    query: str = Field(min_length=1)


class MetricTemplate(_Resource):
    """A MetricTemplate custom resource (``canary.dev/v1alpha1``)."""

    KIND: ClassVar[str] = "MetricTemplate"

    api_version: Literal["canary.dev/v1alpha1"] = API_VERSION
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    spec: MetricTemplateSpec


# --------------------------------------------------------------------------- alert provider

RULE_ALERT_PROVIDER_ADDRESS = CrossFieldRule(
    "(has(self.address) && size(self.address) > 0) || has(self.secretRef)",
    "address or secretRef is required: the webhook address comes from one of them",
)


class AlertProviderSpec(ApiModel):
    """Where and how alerts are posted (Flagger's AlertProvider fields).

    With ``secretRef``, the Secret (in the AlertProvider's namespace) must hold ``address``, which
    takes precedence over ``spec.address``; an optional ``token`` is sent as a bearer token (Slack's
    ``chat.postMessage`` API) and an optional ``proxy`` overrides ``spec.proxy``.
    """

    model_config = ConfigDict(json_schema_extra=_cel(RULE_ALERT_PROVIDER_ADDRESS))

    type: AlertProviderType
    """slack, msteams, discord, rocket, gchat, or webhook (our plain JSON body)."""
    channel: str | None = None
    """Channel the message is posted to (slack, discord, rocket); default ``general``."""
    username: str | None = None
    """Bot username (slack, discord, rocket); default ``canary``."""
    address: str | None = None
    """HTTP(S) webhook address; ignored when secretRef is set."""
    proxy: str | None = None
    """HTTP(S) proxy the alerts go through."""
    secret_ref: SecretRef | None = None
    """Secret holding the webhook ``address`` (and optionally ``token``, ``proxy``)."""

    @model_validator(mode="after")
    def _has_address(self) -> Self:
        if not self.address and self.secret_ref is None:
            raise ValueError(RULE_ALERT_PROVIDER_ADDRESS.message)
        return self


class AlertProvider(_Resource):
    """An AlertProvider custom resource (``canary.dev/v1alpha1``)."""

    KIND: ClassVar[str] = "AlertProvider"

    api_version: Literal["canary.dev/v1alpha1"] = API_VERSION
    kind: Literal["AlertProvider"] = "AlertProvider"
    spec: AlertProviderSpec


# --------------------------------------------------------------------------- unsupported fields

#: Paths (camelCase, from the spec) accepted for Flagger compatibility but not acted on yet.
_UNSUPPORTED_PATHS: tuple[str, ...] = (
    "ingressRef",
    "routeRef",
    "upstreamRef",
    "autoscalerRef.primaryScalerQueries",
    "autoscalerRef.primaryScalerReplicas",
    "service.appProtocol",
    "service.trafficDistribution",
    "service.headless",
    "service.timeout",
    "service.backendTimeout",
    "service.meshName",
    "service.backends",
    "service.gateways",
    "service.delegation",
    "service.match",
    "service.rewrite",
    "service.retries",
    "service.headers",
    "service.mirror",
    "service.corsPolicy",
    "service.trafficPolicy",
    "service.unmanagedMetadata",
    "analysis.mirror",
    "analysis.mirrorWeight",
    "analysis.match",
    "analysis.sessionAffinity",
)


def _lookup(spec: Mapping[str, Any], path: str) -> Any:
    node: Any = spec
    for part in path.split("."):
        if type(node) is not dict and not isinstance(node, Mapping):  # dict first: the ABC check is slow
            return None
        node = node.get(part)
    return node


def unsupported_fields(
    spec: CanarySpec | Mapping[str, Any], providers: Collection[str] | None = None
) -> list[str]:
    """Dotted paths (``spec.service.trafficPolicy``) of set fields we accept but ignore.

    A field counts as set when its value would change Flagger's behaviour: present and not
    false/empty (``portDiscovery: false`` is the default behaviour, so no warning).
    Unsupported enum values are reported by path too (``spec.targetRef.kind`` for a
    DaemonSet, ``spec.autoscalerRef.kind`` for a ScaledObject). When ``providers`` (the
    routers the operator has) is given, a ``provider`` outside it is reported as ``spec.provider``.
    """
    data: Mapping[str, Any] = spec.to_dict() if isinstance(spec, CanarySpec) else spec
    found: list[str] = []
    provider = _lookup(data, "provider")
    if providers is not None and provider is not None and provider not in providers:
        found.append("spec.provider")
    if _lookup(data, "targetRef.kind") not in (None, TargetKind.DEPLOYMENT.value):
        found.append("spec.targetRef.kind")
    if _lookup(data, "autoscalerRef.kind") not in (None, AutoscalerKind.HPA.value):
        found.append("spec.autoscalerRef.kind")
    for path in _UNSUPPORTED_PATHS:
        value = _lookup(data, path)
        if value is not None and value is not False and value != [] and value != {}:
            found.append(f"spec.{path}")
    return found
