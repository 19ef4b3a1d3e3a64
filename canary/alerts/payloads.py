"""The JSON bodies of alerts, one builder per AlertProvider type, in Flagger's shapes.

Flagger's ``pkg/notifier``: Slack, Discord (Slack-compatible, posted to ``<address>/slack``) and
Rocket.Chat get a Slack attachment, MS Teams a ``MessageCard``, Google Chat a legacy ``cards``
message. Only ``error`` changes the colour (Slack ``danger``, the others red), as in Flagger.
The ``webhook`` type is ours: a plain JSON object for receivers that are not chat services.
Deliberate differences: the default username is ``canary`` (Flagger's ``flagger``), the Google
Chat card is titled ``Canary`` without Flagger's logo, and its text is HTML-escaped.
Pure functions: no I/O, so each shape is tested without a receiver.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from canary.api.models import AlertProviderType, AlertSeverity, Canary

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_USERNAME",
    "Alert",
    "AlertField",
    "discord_address",
    "gchat_payload",
    "metadata_fields",
    "msteams_payload",
    "payload_for",
    "rocket_payload",
    "slack_payload",
    "webhook_payload",
]

#: Flagger's defaults when the AlertProvider sets no channel / username (ours is ``canary``).
DEFAULT_CHANNEL = "general"
DEFAULT_USERNAME = "canary"

#: Events after which Flagger adds the Canary's analysis settings to the alert.
_METADATA_REASONS = frozenset({"Initialized", "NewRevision"})


@dataclass(frozen=True)
class AlertField:
    """One name/value line of an alert (Flagger's ``notifier.Field``)."""

    name: str
    value: str


@dataclass(frozen=True)
class Alert:
    """What every provider type is told: which Canary, what happened, how bad."""

    name: str
    namespace: str
    message: str
    severity: AlertSeverity
    reason: str = ""
    event_type: str = "Normal"
    fields: Sequence[AlertField] = field(default_factory=tuple)
    timestamp: str = ""

    @property
    def workload(self) -> str:
        """``name.namespace``, as Flagger titles its alerts."""
        return f"{self.name}.{self.namespace}"

    @property
    def is_error(self) -> bool:
        return self.severity is AlertSeverity.ERROR


def metadata_fields(canary: Canary, reason: str, cluster: str | None = None) -> list[AlertField]:
    """Flagger's alert fields: ``Cluster`` when named, and the analysis settings when a rollout starts."""
    fields: list[AlertField] = []
    if cluster:
        fields.append(AlertField("Cluster", cluster))
    if reason not in _METADATA_REASONS:
        return fields
    spec = canary.spec
    analysis = spec.analysis
    fields += [
        AlertField("Target", f"{spec.target_ref.kind}/{spec.target_ref.name}.{canary.namespace}"),
        AlertField("Failed checks threshold", str(analysis.threshold)),
        AlertField("Progress deadline", f"{spec.progress_deadline_seconds}s"),
    ]
    if analysis.iterations:
        routing = "A/B Testing" if analysis.match else "Blue/Green"
        fields.append(AlertField("Traffic routing", routing))
    elif analysis.step_weight:
        fields.append(
            AlertField(
                "Traffic routing",
                f"Weight step: {analysis.step_weight} max: {analysis.effective_max_weight}",
            )
        )
    elif analysis.step_weights:
        steps = ",".join(str(w) for w in analysis.step_weights)
        fields.append(
            AlertField("Traffic routing", f"Weight steps: {steps} max: {analysis.effective_max_weight}")
        )
    return fields


def _slack_like(alert: Alert, username: str, channel: str, color: str) -> dict[str, Any]:
    """Flagger's ``SlackPayload`` with one attachment (Slack, Discord and Rocket.Chat)."""
    return {
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": ":rocket:",
        "attachments": [
            {
                "color": color,
                "author_name": alert.workload,
                "text": alert.message,
                "mrkdwn_in": ["text"],
                "fields": [{"title": f.name, "value": f.value, "short": False} for f in alert.fields],
            }
        ],
    }


def slack_payload(
    alert: Alert, username: str = DEFAULT_USERNAME, channel: str = DEFAULT_CHANNEL
) -> dict[str, Any]:
    """Slack incoming webhook (or ``chat.postMessage`` with a token): ``good``/``danger`` attachment."""
    return _slack_like(alert, username, channel, "danger" if alert.is_error else "good")


def rocket_payload(
    alert: Alert, username: str = DEFAULT_USERNAME, channel: str = DEFAULT_CHANNEL
) -> dict[str, Any]:
    """Rocket.Chat incoming webhook: Slack's shape with hex colours."""
    return _slack_like(alert, username, channel, "#FF0000" if alert.is_error else "#0076D7")


def msteams_payload(alert: Alert, username: str = "", channel: str = "") -> dict[str, Any]:
    """MS Teams incoming webhook: a ``MessageCard`` whose facts are the fields."""
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000" if alert.is_error else "0076D7",
        "summary": alert.workload,
        "sections": [
            {
                "activityTitle": alert.message,
                "activitySubtitle": alert.workload,
                "facts": [{"name": f.name, "value": f.value} for f in alert.fields],
            }
        ],
    }


def _gchat_text(text: str) -> dict[str, Any]:
    return {"widgets": [{"textParagraph": {"text": text}}]}


def gchat_payload(alert: Alert, username: str = "", channel: str = "") -> dict[str, Any]:
    """Google Chat incoming webhook: one card, the message then one section per field.

    Text is HTML-escaped (Google Chat renders a subset of HTML in ``textParagraph``).
    """
    grey = "<font color=#848484><strong>{}</strong></font>"
    sections = [_gchat_text(grey.format(html.escape(alert.message)))]
    sections += [
        _gchat_text(html.escape(f.name) + "<br>" + grey.format(html.escape(f.value))) for f in alert.fields
    ]
    return {
        "cards": [
            {
                "header": {"title": "Canary", "subtitle": alert.workload},
                "sections": sections,
            }
        ]
    }


def webhook_payload(alert: Alert, username: str = "", channel: str = "") -> dict[str, Any]:
    """Our generic ``webhook`` type: the alert as one flat JSON object."""
    return {
        "name": alert.name,
        "namespace": alert.namespace,
        "severity": alert.severity.value,
        "reason": alert.reason,
        "eventType": alert.event_type,
        "message": alert.message,
        "fields": {f.name: f.value for f in alert.fields},
        "timestamp": alert.timestamp,
    }


PayloadBuilder = Callable[[Alert, str, str], dict[str, Any]]

_BUILDERS: dict[AlertProviderType, PayloadBuilder] = {
    AlertProviderType.SLACK: slack_payload,
    AlertProviderType.DISCORD: slack_payload,
    AlertProviderType.ROCKET: rocket_payload,
    AlertProviderType.MSTEAMS: msteams_payload,
    AlertProviderType.GCHAT: gchat_payload,
    AlertProviderType.WEBHOOK: webhook_payload,
}


def payload_for(
    type_: AlertProviderType,
    alert: Alert,
    username: str = DEFAULT_USERNAME,
    channel: str = DEFAULT_CHANNEL,
) -> dict[str, Any]:
    """The body a provider of ``type_`` receives for ``alert``."""
    return _BUILDERS[type_](alert, username, channel)


def discord_address(address: str) -> str:
    """Discord's Slack-compatible endpoint: ``/slack`` appended to the webhook path (as Flagger does)."""
    parts = urlsplit(address)
    if parts.path.endswith("/slack"):
        return address
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/slack"))
