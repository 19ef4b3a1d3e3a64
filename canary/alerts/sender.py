"""AlertSender: posts an alert-worthy Event to each ``analysis.alerts`` entry that admits its severity.

Severity filter (Flagger's): an entry at ``info`` (or without severity) receives every alert,
``warn`` receives warnings and errors, ``error`` only errors. Each entry is resolved and posted
on its own, concurrently; a failure (provider missing, Secret without address, timeout, non-2xx
answer) is one log line and never stops the others, nor raises.

HTTP: one JSON POST per entry, ``trust_env`` (``HTTPS_PROXY``/``NO_PROXY``), the provider's
``proxy`` when set, TLS verified, redirects not followed, a bounded total timeout. Log lines name
the provider and ``scheme://host`` of its address, never the URL (a webhook URL is a credential),
the token, or the receiver's answer body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from canary.alerts.payloads import Alert, metadata_fields, payload_for
from canary.alerts.providers import (
    AlertProviderError,
    KubeProviderResolver,
    ProviderResolver,
    ResolvedProvider,
    origin,
)
from canary.api.models import AlertSeverity, Canary, CanaryAlert, format_time
from canary.core.actions import EmitEvent
from canary.kube import KubeClients

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "AlertSender", "admits"]

logger = logging.getLogger(__name__)

#: Total time one alert POST may take (Flagger: 5 s).
DEFAULT_TIMEOUT_SECONDS = 10.0

_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARN: 1, AlertSeverity.ERROR: 2}


def admits(entry: AlertSeverity | None, severity: AlertSeverity) -> bool:
    """True when an alert entry of severity ``entry`` receives an alert of ``severity``."""
    threshold = _RANK.get(entry or AlertSeverity.INFO, 0)
    return _RANK.get(severity or AlertSeverity.INFO, 0) >= threshold


class AlertSender:
    """Sends alert-worthy Events to AlertProviders.

    ``resolve`` finds an entry's provider (default: read the AlertProvider and its Secret through
    ``clients``; blocking, so it runs in a thread); ``cluster`` adds Flagger's ``Cluster`` field.
    """

    def __init__(
        self,
        clients: KubeClients,
        *,
        resolve: ProviderResolver | None = None,
        cluster: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients = clients
        self.resolve: ProviderResolver = resolve or KubeProviderResolver(clients)
        self.cluster = cluster
        self.timeout = timeout
        self.clock = clock

    async def send(self, canary: Canary, event: EmitEvent) -> None:
        """Send ``event`` to every ``analysis.alerts`` entry whose severity admits it; never raises."""
        try:
            severity = event.alert
            entries = canary.spec.analysis.alerts or []
            if severity is None or not entries:
                return
            targets = [entry for entry in entries if admits(entry.severity, severity)]
            if not targets:
                return
            alert = Alert(
                name=canary.name,
                namespace=canary.namespace,
                message=event.message,
                severity=severity,
                reason=event.reason,
                event_type=str(event.type),
                fields=tuple(metadata_fields(canary, event.reason, self.cluster)),
                timestamp=format_time(datetime.fromtimestamp(self.clock(), tz=UTC)),
            )
            await asyncio.gather(*(self._send_one(canary, entry, alert) for entry in targets))
        except Exception as exc:  # a bug here must not take the reconciler's background task down
            logger.error(
                "alerts of canary %s.%s not sent: unexpected %s",
                canary.name,
                canary.namespace,
                type(exc).__name__,
            )

    async def _send_one(self, canary: Canary, entry: CanaryAlert, alert: Alert) -> None:
        where = f"canary {canary.name}.{canary.namespace} alert {entry.name!r}"
        try:
            provider = await asyncio.to_thread(self.resolve, entry.provider_ref, canary.namespace)
        except AlertProviderError as exc:
            logger.error("%s not sent: %s", where, exc)
            return
        except Exception as exc:
            logger.error("%s not sent: provider lookup failed (%s)", where, type(exc).__name__)
            return
        target = (
            f"AlertProvider {provider.name}.{provider.namespace} "
            f"({provider.type.value}, {origin(provider.address)})"
        )
        try:
            problem = await self._post(provider, alert)
        except Exception as exc:  # a bug (not a network failure): still one line, never a raise
            problem = f"unexpected {type(exc).__name__}"
        if problem:
            logger.error("%s not sent to %s: %s", where, target, problem)
        else:
            logger.info("%s sent to %s", where, target)

    async def _post(self, provider: ResolvedProvider, alert: Alert) -> str | None:
        """POST the provider's payload; None on a 2xx answer, else why not (safe to log)."""
        body = payload_for(provider.type, alert, provider.username, provider.channel)
        headers = {"Content-Type": "application/json"}
        if provider.token:
            headers["Authorization"] = f"Bearer {provider.token}"
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=True
                ) as session,
                session.post(
                    provider.address,
                    json=body,
                    headers=headers,
                    proxy=provider.proxy,
                    allow_redirects=False,
                    ssl=True,
                ) as response,
            ):
                await response.read()  # drained, never logged: it may echo the request
                status = response.status
        except TimeoutError:
            return f"no answer within {self.timeout:g}s"
        except aiohttp.ClientProxyConnectionError:
            return "could not connect to the proxy"
        except aiohttp.ClientSSLError:
            return "TLS verification failed"
        except aiohttp.ClientConnectorError as exc:
            return f"could not connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
        except (aiohttp.ClientError, ValueError) as exc:
            return f"request failed ({type(exc).__name__})"
        if 200 <= status < 300:
            return None
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        return f"HTTP {status}{note}"
