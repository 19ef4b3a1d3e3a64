"""AlertProviders resolved into what a POST needs: type, address, proxy, token, channel, username.

As in Flagger (``pkg/controller/events.go``): ``providerRef.namespace`` defaults to the Canary's;
with a ``secretRef``, the Secret in the AlertProvider's namespace must hold ``address`` (which
wins over ``spec.address``) and may hold ``token`` (sent as ``Authorization: Bearer``). We also
read an optional ``proxy`` key there (a proxy URL with credentials belongs in a Secret).

The address is a secret (a webhook URL is its own credential): error messages here never name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from canary.alerts.payloads import DEFAULT_CHANNEL, DEFAULT_USERNAME, discord_address
from canary.api.models import AlertProvider, AlertProviderType, ProviderRef
from canary.kube import KubeClients, ObjectUnavailable, call_json, read_canary_object
from canary.metrics.factory import secret_strings

__all__ = [
    "ALERT_PROVIDER_PLURAL",
    "AlertProviderError",
    "KubeProviderResolver",
    "ProviderResolver",
    "ResolvedProvider",
    "origin",
    "resolved",
]

ALERT_PROVIDER_PLURAL = "alertproviders"


class AlertProviderError(Exception):
    """An AlertProvider that cannot be used (missing, invalid, no address); the message is safe to log."""


@dataclass(frozen=True)
class ResolvedProvider:
    """An AlertProvider with its Secret applied and Flagger's defaults filled in."""

    name: str
    namespace: str
    type: AlertProviderType
    address: str
    """The URL posted to (a secret: log :func:`origin` of it, never the URL)."""
    channel: str = DEFAULT_CHANNEL
    username: str = DEFAULT_USERNAME
    proxy: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # the dataclass repr would print the address and token
        return f"ResolvedProvider({self.name}.{self.namespace}, {self.type.value}, {origin(self.address)})"


class ProviderResolver(Protocol):
    """Finds the provider ``ref`` names for a Canary of ``namespace`` (blocking; run in a thread)."""

    def __call__(self, ref: ProviderRef, namespace: str) -> ResolvedProvider: ...


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL for log lines (no credentials, path or query)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid address>"
    if not parts.scheme or not host:
        return "<invalid address>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _check_url(url: str, what: str, where: str) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        valid = False
    if not valid:
        raise AlertProviderError(f"AlertProvider {where}: {what} is not an http(s) URL")
    return url


def resolved(provider: AlertProvider, secret: dict[str, str] | None = None) -> ResolvedProvider:
    """Apply the Secret's values (``address``, ``token``, ``proxy``) and the defaults to ``provider``."""
    spec = provider.spec
    where = f"{provider.name}.{provider.namespace}"
    address = spec.address or ""
    proxy = spec.proxy or None
    token = None
    if spec.secret_ref is not None:
        values = secret or {}
        if not values.get("address"):
            raise AlertProviderError(
                f"AlertProvider {where}: secret {spec.secret_ref.name} does not contain an address"
            )
        address = values["address"].strip()
        token = values.get("token") or None
        proxy = values.get("proxy") or proxy
    _check_url(address, "the address", where)
    if proxy is not None:
        _check_url(proxy, "the proxy", where)
    if spec.type is AlertProviderType.DISCORD:
        address = discord_address(address)
    return ResolvedProvider(
        name=provider.name,
        namespace=provider.namespace,
        type=spec.type,
        address=address,
        channel=spec.channel or DEFAULT_CHANNEL,
        username=spec.username or DEFAULT_USERNAME,
        proxy=proxy,
        token=token,
    )


class KubeProviderResolver:
    """Reads AlertProviders and their Secrets through the API (a :class:`ProviderResolver`)."""

    def __init__(self, clients: KubeClients) -> None:
        self._clients = clients

    def __call__(self, ref: ProviderRef, namespace: str) -> ResolvedProvider:
        namespace = ref.namespace or namespace
        where = f"{ref.name}.{namespace}"
        try:
            body = read_canary_object(
                self._clients, ALERT_PROVIDER_PLURAL, "AlertProvider", namespace, ref.name
            )
        except ObjectUnavailable as exc:
            raise AlertProviderError(str(exc)) from exc
        try:
            provider = AlertProvider.from_body(body)
        except ValidationError as exc:
            problems = "; ".join(
                ".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors(include_input=False)
            )
            raise AlertProviderError(f"AlertProvider {where} is invalid: {problems}") from exc
        secret: dict[str, str] | None = None
        if provider.spec.secret_ref is not None:
            secret_name = provider.spec.secret_ref.name
            try:
                secret = secret_strings(
                    call_json(self._clients.core.read_namespaced_secret, secret_name, namespace)
                )
            except ApiException as exc:
                raise AlertProviderError(
                    f"secret {secret_name}.{namespace} of AlertProvider {ref.name} could not be read: "
                    f"{exc.reason}"
                ) from exc
        return resolved(provider, secret)
