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
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from canary.api.models import (
    GROUP,
    VERSION,
    Canary,
    MetricProviderType,
    MetricTemplate,
    MetricTemplateProvider,
    TemplateRef,
)
from canary.kube import KubeClients, call_json, is_not_found
from canary.metrics.base import MetricCheck, MetricsProvider, MetricTemplateError, ResolvedTemplate
from canary.metrics.prometheus import PrometheusProvider

__all__ = [
    "METRIC_TEMPLATE_PLURAL",
    "KubeTemplateResolver",
    "metric_check_for",
    "metrics_address",
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


class KubeTemplateResolver:
    """Loads MetricTemplates and their Secrets through the API (a :class:`TemplateResolver`)."""

    def __init__(self, clients: KubeClients, default_address: str) -> None:
        self._clients = clients
        self._default_address = default_address

    def __call__(self, canary: Canary, ref: TemplateRef) -> ResolvedTemplate:
        """Template ``ref.namespace`` defaults to the Canary's; its Secret lives next to the template."""
        namespace = ref.namespace or canary.namespace
        try:
            body = call_json(
                self._clients.custom.get_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                METRIC_TEMPLATE_PLURAL,
                ref.name,
            )
        except ApiException as exc:
            if is_not_found(exc):
                raise MetricTemplateError(f"MetricTemplate {ref.name}.{namespace} not found") from exc
            raise MetricTemplateError(
                f"MetricTemplate {ref.name}.{namespace} could not be read: {exc.reason}"
            ) from exc
        try:
            template = MetricTemplate.from_body(body)
        except ValueError as exc:
            raise MetricTemplateError(f"MetricTemplate {ref.name}.{namespace} is invalid: {exc}") from exc
        credentials: dict[str, str] = {}
        secret_ref = template.spec.provider.secret_ref
        if secret_ref is not None:
            if not template.spec.provider.address:
                raise MetricTemplateError(
                    f"MetricTemplate {ref.name}.{namespace} has secretRef {secret_ref.name} but no "
                    "provider.address: credentials are only sent to the address the template itself "
                    "names, never to the Canary's metricsServer; set spec.provider.address"
                )
            try:
                secret = call_json(self._clients.core.read_namespaced_secret, secret_ref.name, namespace)
            except ApiException as exc:
                raise MetricTemplateError(
                    f"secret {secret_ref.name}.{namespace} of MetricTemplate {ref.name} could not be read: {exc.reason}"
                ) from exc
            credentials = secret_strings(secret)
        provider = provider_for(
            template.spec.provider, credentials, metrics_address(canary, self._default_address)
        )
        return ResolvedTemplate(query=template.spec.query, provider=provider)


def metric_check_for(canary: Canary, clients: KubeClients, default_address: str) -> MetricCheck:
    """The MetricCheck the operator uses for this Canary's metrics."""
    return MetricCheck(
        provider=PrometheusProvider(metrics_address(canary, default_address)),
        resolve_template=KubeTemplateResolver(clients, default_address),
    )
