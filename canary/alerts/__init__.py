"""Alerts: the core's alert-worthy Events sent to the Canary's ``analysis.alerts`` providers.

Fed by the same :class:`~canary.core.actions.EmitEvent` values the operator posts as Kubernetes
Events (those with an ``alert`` severity), after the status is written; never raises.
"""

from __future__ import annotations

from canary.api.models import Canary
from canary.core.actions import EmitEvent
from canary.kube import KubeClients

__all__ = ["AlertSender"]


class AlertSender:
    """Sends alert-worthy Events to AlertProviders (placeholder: alerts are not sent yet)."""

    def __init__(self, clients: KubeClients) -> None:
        self.clients = clients

    async def send(self, canary: Canary, event: EmitEvent) -> None:
        """Send ``event`` to every ``analysis.alerts`` entry whose severity admits it."""
        return None
