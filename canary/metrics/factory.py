"""Build metrics providers and wire a :class:`MetricCheck` for a Canary.

Address precedence (Flagger's): a MetricTemplate's ``provider.address``, else the Canary's
``spec.metricsServer``, else the operator's configured Prometheus.  Credentials come from the
template's ``secretRef`` Secret: ``token`` for a bearer token, or ``username``/``password``.

Trust rule for credentials.  A Canary may reference a MetricTemplate in any namespace
(``templateRef.namespace``, as in Flagger), and the template's Secret is read from the
template's namespace with the operator's rights.  So the address those credentials are sent
to must come from the same place as the Secret: a template with a ``secretRef`` must set its
own ``provider.address``.  It never falls back to the Canary's ``spec.metricsServer`` (or the
operator default); otherwise anyone able to write a Canary could name a template in another
namespace and point its credentials at a server they control.  Such a metric is an ERROR
outcome naming the template.  Templates without a ``secretRef`` keep Flagger's fallback.
Credentials sent to an ``http://`` address still work, but the measurement carries a warning.

Allow-list.  With ``canary operator --metrics-address-allow`` (an :class:`AddressPolicy`), a
template's or Canary's address outside the list is not contacted at all (its Secret is not even
read): the metric is an ERROR saying so.  The operator's own default Prometheus is always allowed.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from canary.api.models import (
    Canary,
    MetricProviderType,
    MetricTemplate,
    MetricTemplateProvider,
    TemplateRef,
)
from canary.kube import KubeClients, ObjectUnavailable, call_json, read_canary_object
from canary.metrics.addresses import AddressPolicy, display_address, parse_address
from canary.metrics.base import (
    MetricCheck,
    MetricsProvider,
    MetricsQueryError,
    MetricTemplateError,
    ResolvedTemplate,
    VectorSample,
)
from canary.metrics.prometheus import PrometheusProvider

__all__ = [
    "METRIC_TEMPLATE_PLURAL",
    "KubeTemplateResolver",
    "RefusedProvider",
    "metric_check_for",
    "metrics_address",
    "plain_http_warning",
    "provider_for",
    "secret_strings",
]

METRIC_TEMPLATE_PLURAL = "metrictemplates"


def secret_strings(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's ``data`` (base64) and ``stringData`` as plain strings."""
    values = {k: base64.b64decode(v).decode("utf-8") for k, v in (secret.get("data") or {}).items()}
    values.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return values


def provider_for(
    provider: MetricTemplateProvider | str,
    credentials: Mapping[str, str] | None = None,
    default_address: str | None = None,
) -> MetricsProvider:
    """A provider from a template's ``spec.provider`` (or a bare Prometheus address) and its Secret's values."""
    if isinstance(provider, str):
        return PrometheusProvider(provider)
    if provider.type is not MetricProviderType.PROMETHEUS:
        raise MetricTemplateError(
            f"metric provider type {provider.type.value!r} is not supported (supported: prometheus)"
        )
    address = provider.address or default_address
    if not address:
        raise MetricTemplateError(
            "prometheus provider has no address and no default metrics server is configured"
        )
    credentials = credentials or {}
    token = credentials.get("token")
    basic = (
        (credentials["username"], credentials["password"])
        if "username" in credentials and "password" in credentials
        else None
    )
    headers = {k: ", ".join(v) for k, v in (provider.headers or {}).items()}
    return PrometheusProvider(
        address,
        bearer_token=token,
        basic_auth=basic,
        insecure_skip_verify=bool(provider.insecure_skip_verify),
        headers=headers,
    )


def metrics_address(canary: Canary, default_address: str) -> str:
    """``spec.metricsServer`` overrides the operator's Prometheus, as in Flagger."""
    return canary.spec.metrics_server or default_address


class RefusedProvider:
    """A provider that is never contacted: every query is a (non-retryable) ERROR with ``reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"RefusedProvider({self.reason!r})"

    def is_online(self) -> bool:
        return False

    def run_query(self, query: str, timeout: float | None = None, at: float | None = None) -> float | None:
        raise MetricsQueryError(self.reason, retryable=False)

    def run_vector(
        self, query: str, timeout: float | None = None, at: float | None = None
    ) -> list[VectorSample]:
        raise MetricsQueryError(self.reason, retryable=False)


def plain_http_warning(template: str, address: str) -> str:
    """The warning for a template whose credentials go to an ``http://`` address ("" otherwise)."""
    try:
        endpoint = parse_address(address)
    except ValueError:
        return ""  # never contacted: the provider reports the address as invalid
    if endpoint.scheme != "http":
        return ""
    return f"metric template {template} sends credentials to {endpoint.origin} over plain http; use https"


class KubeTemplateResolver:
    """Loads MetricTemplates and their Secrets through the API (a :class:`TemplateResolver`).

    ``policy`` is the operator's allow-list: a template whose address it refuses is an error
    before its Secret is read.
    """

    def __init__(
        self, clients: KubeClients, default_address: str, policy: AddressPolicy | None = None
    ) -> None:
        self._clients = clients
        self._default_address = default_address
        self._policy = policy or AddressPolicy()

    def __call__(self, canary: Canary, ref: TemplateRef) -> ResolvedTemplate:
        """Template ``ref.namespace`` defaults to the Canary's; its Secret lives next to the template."""
        namespace = ref.namespace or canary.namespace
        try:
            body = read_canary_object(
                self._clients, METRIC_TEMPLATE_PLURAL, "MetricTemplate", namespace, ref.name
            )
        except ObjectUnavailable as exc:
            raise MetricTemplateError(str(exc)) from exc
        try:
            template = MetricTemplate.from_body(body)
        except ValueError as exc:
            raise MetricTemplateError(f"MetricTemplate {ref.name}.{namespace} is invalid: {exc}") from exc
        credentials: dict[str, str] = {}
        warning = ""
        secret_ref = template.spec.provider.secret_ref
        if secret_ref is not None and not template.spec.provider.address:
            raise MetricTemplateError(
                f"MetricTemplate {ref.name}.{namespace} has secretRef {secret_ref.name} but no "
                "provider.address: credentials are only sent to the address the template itself "
                "names, never to the Canary's metricsServer; set spec.provider.address"
            )
        address = template.spec.provider.address or metrics_address(canary, self._default_address)
        refusal = self._policy.refusal(address)
        if refusal is not None:
            raise MetricTemplateError(f"MetricTemplate {ref.name}.{namespace}: {refusal}")
        if secret_ref is not None:
            warning = plain_http_warning(f"{ref.name}.{namespace}", address)
            try:
                secret = call_json(self._clients.core.read_namespaced_secret, secret_ref.name, namespace)
            except ApiException as exc:
                raise MetricTemplateError(
                    f"secret {secret_ref.name}.{namespace} of MetricTemplate {ref.name} could not be read: {exc.reason}"
                ) from exc
            credentials = secret_strings(secret)
        provider = provider_for(template.spec.provider, credentials, address)
        return ResolvedTemplate(query=template.spec.query, provider=provider, warning=warning)


def metric_check_for(
    canary: Canary, clients: KubeClients, default_address: str, policy: AddressPolicy | None = None
) -> MetricCheck:
    """The MetricCheck the operator uses for this Canary's metrics.

    ``policy`` (the operator's ``--metrics-address-allow``) applies to ``spec.metricsServer``
    and to MetricTemplate addresses; ``default_address`` is always allowed.
    """
    policy = policy or AddressPolicy()
    address = metrics_address(canary, default_address)
    refusal = policy.refusal(address)
    provider: MetricsProvider = (
        PrometheusProvider(address)
        if refusal is None
        else RefusedProvider(f"{refusal} (spec.metricsServer {display_address(address)})")
    )
    return MetricCheck(
        provider=provider, resolve_template=KubeTemplateResolver(clients, default_address, policy)
    )
