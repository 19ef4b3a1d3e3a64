"""Alerts: the core's alert-worthy Events sent to the Canary's ``analysis.alerts`` providers.

Fed by the same :class:`~canary.core.actions.EmitEvent` values the operator posts as Kubernetes
Events (those with an ``alert`` severity), after the status is written; never raises.

Modules: :mod:`~canary.alerts.payloads` (each provider type's JSON body, in Flagger's shapes),
:mod:`~canary.alerts.providers` (AlertProvider and Secret lookup), :mod:`~canary.alerts.sender`
(severity filter and the HTTP POST).
"""

from __future__ import annotations

from canary.alerts.payloads import Alert, AlertField, payload_for
from canary.alerts.providers import (
    AlertProviderError,
    KubeProviderResolver,
    ProviderResolver,
    ResolvedProvider,
)
from canary.alerts.sender import AlertSender, admits

__all__ = [
    "Alert",
    "AlertField",
    "AlertProviderError",
    "AlertSender",
    "KubeProviderResolver",
    "ProviderResolver",
    "ResolvedProvider",
    "admits",
    "payload_for",
]
