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

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.alias_generators import to_camel

from canary.api.duration import DURATION_PATTERN, duration_seconds, parse_duration

__all__ = [
    "API_VERSION",
    "BUILTIN_METRICS",
    "CONDITION_PROMOTED",
    "CONDITION_UNSUPPORTED",
    "GROUP",
    "VERSION",
    "AlertSeverity",
    "AnalysisMatch",
    "ApiModel",
    "AutoscalerKind",
    "AutoscalerRef",
    "BackendObjectReference",
    "Canary",
    "CanaryAlert",
    "CanaryAnalysis",
    "CanaryCondition",
    "CanaryMetric",
    "CanaryService",
    "CanarySpec",
    "CanaryStatus",
    "CanaryWebhook",
    "CheckResult",
    "ConditionStatus",
    "CorsPolicy",
    "CrossFieldRule",
    "CustomMetadata",
    "GatewayRef",
    "HTTPMatchRequest",
    "HTTPMirror",
    "HTTPRetry",
    "HTTPRewrite",
    "HeaderOperations",
    "Headers",
    "IngressRef",
    "MetricProviderType",
    "MetricTemplate",
    "MetricTemplateProvider",
    "MetricTemplateSpec",
    "Phase",
    "PrimaryScalerReplicas",
    "Provider",
    "ProviderRef",
    "Revision",
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

    The CEL expressions deliberately stay within the small subset our API emulator implements
    (``has``, ``!``, ``&&``, ``||``, comparisons, ``==`` against literals).
    """

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        self.message = message

    def as_cel(self) -> dict[str, str]:
        """The ``x-kubernetes-validations`` entry."""
        return {"rule": self.rule, "message": self.message}


def _cel(*rules: CrossFieldRule) -> dict[str, Any]:
    return {"x-kubernetes-validations": [r.as_cel() for r in rules]}


# --------------------------------------------------------------------------- enums


class Provider(StrEnum):
    """Traffic management providers (Flagger's list, all accepted by the schema)."""

    APISIX = "apisix"
    APPMESH = "appmesh"
    APPMESH_V1BETA2 = "appmesh:v1beta2"
    CONTOUR = "contour"
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
    """Alert severities (Flagger's enum, empty means info)."""

    UNSET = ""
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


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


class TargetRef(ApiModel):
    """The workload under progressive delivery."""

    api_version: str
    kind: TargetKind
    name: str


class PrimaryScalerReplicas(ApiModel):
    """Replica bounds for the primary's scaler (Flagger; not implemented)."""

    min_replicas: int | None = Field(default=None, ge=1)
    max_replicas: int | None = Field(default=None, ge=1)


class AutoscalerRef(ApiModel):
    """The autoscaler of the target; the operator clones it for the primary."""

    api_version: str
    kind: AutoscalerKind
    name: str
    primary_scaler_queries: dict[str, str] | None = None
    primary_scaler_replicas: PrimaryScalerReplicas | None = None


class IngressRef(ApiModel):
    """NGINX Ingress to clone for canary routing (Flagger; not implemented)."""

    api_version: str
    kind: Literal["Ingress"]
    name: str


class RouteRef(ApiModel):
    """APISIX route selector (Flagger; not implemented)."""

    api_version: str
    kind: Literal["ApisixRoute"]
    name: str


class UpstreamRef(ApiModel):
    """Gloo Upstream selector (Flagger; not implemented)."""

    api_version: str
    kind: Literal["Upstream"]
    name: str
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
    port: int | None = None
    source_labels: dict[str, str] | None = None
    source_namespace: str | None = None
    gateways: list[str] | None = None
    ignore_uri_case: bool | None = None


class HTTPRetry(ApiModel):
    """Retry policy for HTTP requests (not implemented)."""

    attempts: int | None = None
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


class CanaryService(ApiModel):
    """How the target is exposed: the apex/primary/canary Services and the routing object."""

    name: str | None = None
    """Apex Service name; defaults to the target's name."""
    port: int = Field(ge=1, le=65535)
    """Service port."""
    port_name: str | None = None
    target_port: IntOrString | None = None
    """Container port (number or name); defaults to ``port``."""
    port_discovery: bool | None = None
    app_protocol: str | None = None
    traffic_distribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    headless: bool | None = None
    timeout: str | None = None
    backend_timeout: str | None = None
    mesh_name: str | None = None
    backends: list[str] | None = None
    gateway_refs: list[GatewayRef] | None = None
    """Gateways the generated HTTPRoute attaches to."""
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
#: Not expressible in our CEL subset; enforced by pydantic only.
MSG_STEP_WEIGHTS_INCREASING = "stepWeights must be strictly increasing"


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

    name: str
    namespace: str | None = None


class CanaryMetric(ApiModel):
    """One metric check run every analysis interval."""

    model_config = ConfigDict(json_schema_extra=_cel(RULE_QUERY_XOR_TEMPLATE, RULE_QUERY_OR_BUILTIN))

    name: str = Field(min_length=1, max_length=253)
    interval: Duration | None = None
    """Query window; defaults to the analysis interval."""
    threshold: float | None = None
    """Legacy single threshold (Flagger): a minimum for request-success-rate, else a maximum."""
    threshold_range: ThresholdRange | None = None
    query: str | None = None
    """Inline PromQL (Flagger's legacy form)."""
    template_ref: TemplateRef | None = None
    template_variables: dict[str, str] | None = None

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
    """Reference to a Flagger AlertProvider."""

    name: str
    namespace: str | None = None


class CanaryAlert(ApiModel):
    """Flagger alert (not implemented)."""

    name: str
    severity: AlertSeverity | None = None
    provider_ref: ProviderRef


class CanaryWebhook(ApiModel):
    """Flagger webhook (not implemented)."""

    name: str
    type: WebhookType | None = None
    url: str
    timeout: Duration | None = None
    retries: int | None = None
    disable_tls: bool | None = Field(default=None, alias="disableTLS")
    mute_alert: bool | None = None
    metadata: dict[str, str] | None = None


class AnalysisMatch(ApiModel):
    """A/B testing match conditions (not implemented)."""

    headers: dict[str, StringMatch] | None = None
    query_params: dict[str, StringMatch] | None = None
    source_labels: dict[str, str] | None = None


class SessionAffinity(ApiModel):
    """Cookie-based session affinity during a canary run (not implemented)."""

    cookie_name: str
    primary_cookie_name: str | None = None
    domain: str | None = None
    http_only: bool | None = None
    max_age: int = 86400
    partitioned: bool | None = None
    path: str | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = None
    secure: bool | None = None


DEFAULT_INTERVAL = "1m"
DEFAULT_THRESHOLD = 5
DEFAULT_MAX_WEIGHT = 100
DEFAULT_READY_THRESHOLD = 100


class CanaryAnalysis(ApiModel):
    """How traffic is shifted and judged.

    Schema defaults (Flagger only has code defaults): interval 1m, threshold 5.
    """

    model_config = ConfigDict(
        json_schema_extra=_cel(RULE_STEP_EXCLUSIVE, RULE_STEP_REQUIRED, RULE_STEP_LE_MAX)
    )

    interval: Duration = DEFAULT_INTERVAL
    """Time between steps (and metric checks)."""
    threshold: int = Field(default=DEFAULT_THRESHOLD, ge=1)
    """Failed checks tolerated before rollback."""
    iterations: int | None = Field(default=None, ge=0)
    """Fixed number of checks (A/B testing, blue/green) instead of weight steps."""
    max_weight: int | None = Field(default=None, ge=1, le=100)
    """Canary weight at which promotion starts (default 100, or the last stepWeights entry)."""
    step_weight: int | None = Field(default=None, ge=1, le=100)
    step_weights: list[Percent] | None = Field(default=None, min_length=1)
    step_weight_promotion: int | None = Field(default=None, ge=1, le=100)
    primary_ready_threshold: Percent | None = None
    canary_ready_threshold: Percent | None = None
    mirror: bool | None = None
    mirror_weight: Percent | None = None
    match: list[AnalysisMatch] | None = None
    metrics: list[CanaryMetric] | None = Field(default=None, max_length=64)
    """Checks run every interval (bounded so the API server's CEL cost estimate stays small)."""
    alerts: list[CanaryAlert] | None = None
    webhooks: list[CanaryWebhook] | None = None
    session_affinity: SessionAffinity | None = None

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
            raise ValueError(MSG_STEP_WEIGHTS_INCREASING)
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
    def is_iteration_based(self) -> bool:
        """True for A/B and blue/green runs (fixed iterations, no weight steps)."""
        return self.iterations is not None and self.step_weight is None and self.step_weights is None


# --------------------------------------------------------------------------- canary

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600


class CanarySpec(ApiModel):
    """Desired state of a Canary (Flagger-compatible field names)."""

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
    progress_deadline_seconds: int = Field(default=DEFAULT_PROGRESS_DEADLINE_SECONDS, ge=1)
    """Seconds a rollout may make no progress before it is rolled back."""
    skip_analysis: bool = False
    """Promote without analysis."""
    suspend: bool = False
    """Pause the operator's reconciliation of this Canary."""
    revert_on_deletion: bool = False
    """Restore the target when the Canary is deleted."""

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
    checks: list[CheckResult] = Field(default_factory=list)
    step_started_at: Timestamp | None = None
    """When the current step began; paces steps across operator restarts."""
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

    name: str


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
    query: str


class MetricTemplate(_Resource):
    """A MetricTemplate custom resource (``canary.dev/v1alpha1``)."""

    KIND: ClassVar[str] = "MetricTemplate"

    api_version: Literal["canary.dev/v1alpha1"] = API_VERSION
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    spec: MetricTemplateSpec


# --------------------------------------------------------------------------- unsupported fields

#: Paths (camelCase, from the spec) accepted for Flagger compatibility but not acted on yet.
_UNSUPPORTED_PATHS: tuple[str, ...] = (
    "ingressRef",
    "routeRef",
    "upstreamRef",
    "autoscalerRef.primaryScalerQueries",
    "autoscalerRef.primaryScalerReplicas",
    "service.portDiscovery",
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
    "analysis.alerts",
    "analysis.webhooks",
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
