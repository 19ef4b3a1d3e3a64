"""The alerts edge against a real local receiver: Flagger's payload shapes, severity filter, failures.

Providers are resolved by a fake resolver for the payload tests, and through the API emulator
(AlertProvider CRD + Secret) for the lookup tests.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from edges_helpers import NAMESPACE, canary_body
from kubernetes import client

from canary.alerts import AlertSender, KubeProviderResolver, ResolvedProvider, admits
from canary.alerts.payloads import discord_address
from canary.alerts.providers import AlertProviderError, origin
from canary.api.crdgen import alertprovider_crd
from canary.api.models import AlertProviderType, AlertSeverity, Canary, ProviderRef
from canary.core.actions import EmitEvent
from canary.kube import KubeClients, call_json
from canary.sandbox.serving import serve

SENDER_LOGGER = "canary.alerts.sender"


@dataclass
class Call:
    path: str
    query: str
    host: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Records every request; ``answers`` maps a path to a status code."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(
            Call(
                request.path,
                request.query_string,
                request.host,
                dict(request.headers),
                await request.json(),
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.answers.get(request.path, 200)
        if 300 <= status < 400:
            raise web.HTTPFound(location="/elsewhere")
        return web.Response(status=status, text="receiver says: secret internal detail")

    def paths(self) -> list[str]:
        return [c.path for c in self.calls]


async def _serve(rec: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    rec.url = f"http://127.0.0.1:{await serve(runner, 0)}"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for rec in _serve(Receiver()):
        yield rec


@pytest.fixture
async def proxy() -> AsyncIterator[Receiver]:
    """A second receiver standing in for an HTTP proxy (it sees the absolute-form request)."""
    async for rec in _serve(Receiver()):
        yield rec


class FakeResolver:
    """Provider name -> ResolvedProvider; records what was asked."""

    def __init__(self, *providers: ResolvedProvider) -> None:
        self.providers = {p.name: p for p in providers}
        self.asked: list[tuple[str, str | None, str]] = []

    def __call__(self, ref: ProviderRef, namespace: str) -> ResolvedProvider:
        self.asked.append((ref.name, ref.namespace, namespace))
        if ref.name not in self.providers:
            raise AlertProviderError(f"AlertProvider {ref.name}.{ref.namespace or namespace} not found")
        return self.providers[ref.name]


def provider(name: str, type_: AlertProviderType, address: str, **kwargs: Any) -> ResolvedProvider:
    if type_ is AlertProviderType.DISCORD:
        address = discord_address(address)
    return ResolvedProvider(name=name, namespace=NAMESPACE, type=type_, address=address, **kwargs)


def a_canary(*alerts: tuple[str, str | None], **analysis: Any) -> Canary:
    """A Canary whose analysis.alerts are ``(provider name, severity)`` pairs."""
    body = canary_body()
    body["spec"]["analysis"]["alerts"] = [
        {"name": f"to {name}", "providerRef": {"name": name}, **({"severity": sev} if sev else {})}
        for name, sev in alerts
    ]
    body["spec"]["analysis"].update(analysis)
    return Canary.from_body(body)


INFO = EmitEvent("Normal", "Succeeded", "Promotion completed! Scaling down podinfo.test", AlertSeverity.INFO)
WARN = EmitEvent(
    "Warning", "Waiting", "Halt advancement podinfo.test waiting for approval", AlertSeverity.WARN
)
ERROR = EmitEvent("Warning", "RollingBack", "Rolling back podinfo.test failed checks threshold reached 5", AlertSeverity.ERROR)  # fmt: skip
NEW_REVISION = EmitEvent(
    "Normal", "NewRevision", "New revision detected! Scaling up podinfo.test", AlertSeverity.INFO
)


def sender(*providers: ResolvedProvider, **kwargs: Any) -> AlertSender:
    return AlertSender(None, resolve=FakeResolver(*providers), clock=lambda: 1700000000.0, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- payload shapes


async def test_slack_payload_is_flaggers(receiver: Receiver) -> None:
    slack = provider(
        "slack", AlertProviderType.SLACK, f"{receiver.url}/services/T/B/X", channel="ops", username="bot"
    )
    await sender(slack).send(a_canary(("slack", None)), ERROR)
    await sender(slack).send(a_canary(("slack", None)), INFO)
    error, info = receiver.calls
    assert error.path == "/services/T/B/X"
    assert error.headers["Content-Type"] == "application/json"
    assert "Authorization" not in error.headers
    assert error.body == {
        "channel": "ops",
        "username": "bot",
        "icon_url": "",
        "icon_emoji": ":rocket:",
        "attachments": [
            {
                "color": "danger",
                "author_name": "podinfo.test",
                "text": ERROR.message,
                "mrkdwn_in": ["text"],
                "fields": [],
            }
        ],
    }
    assert info.body["attachments"][0]["color"] == "good"


async def test_slack_token_is_a_bearer_header(receiver: Receiver) -> None:
    slack = provider("slack", AlertProviderType.SLACK, f"{receiver.url}/api/chat.postMessage", token="xoxb-1")
    await sender(slack).send(a_canary(("slack", None)), INFO)
    (call,) = receiver.calls
    assert call.headers["Authorization"] == "Bearer xoxb-1"
    assert call.body["channel"] == "general" and call.body["username"] == "canary"  # the defaults


async def test_discord_gets_slack_formatting_on_the_slack_path(receiver: Receiver) -> None:
    discord = provider("discord", AlertProviderType.DISCORD, f"{receiver.url}/api/webhooks/1/abc")
    already = provider("already", AlertProviderType.DISCORD, f"{receiver.url}/api/webhooks/2/def/slack")
    await sender(discord, already).send(a_canary(("discord", None), ("already", None)), WARN)
    assert sorted(receiver.paths()) == ["/api/webhooks/1/abc/slack", "/api/webhooks/2/def/slack"]
    body = receiver.calls[0].body
    assert set(body) == {"channel", "username", "icon_url", "icon_emoji", "attachments"}
    assert body["attachments"][0]["color"] == "good"  # Flagger: only errors are "danger"


async def test_rocket_uses_hex_colours(receiver: Receiver) -> None:
    rocket = provider("rocket", AlertProviderType.ROCKET, f"{receiver.url}/hooks/abc", channel="releases")
    await sender(rocket).send(a_canary(("rocket", None)), ERROR)
    await sender(rocket).send(a_canary(("rocket", None)), WARN)
    error, warn = (c.body["attachments"][0] for c in receiver.calls)
    assert error["color"] == "#FF0000" and warn["color"] == "#0076D7"
    assert error["author_name"] == "podinfo.test"
    assert receiver.calls[0].body["channel"] == "releases"


async def test_msteams_gets_a_message_card_with_facts(receiver: Receiver) -> None:
    teams = provider("teams", AlertProviderType.MSTEAMS, f"{receiver.url}/webhookb2/x")
    await sender(teams, cluster="prod-eu").send(a_canary(("teams", None)), ERROR)
    (call,) = receiver.calls
    assert call.body == {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000",
        "summary": "podinfo.test",
        "sections": [
            {
                "activityTitle": ERROR.message,
                "activitySubtitle": "podinfo.test",
                "facts": [{"name": "Cluster", "value": "prod-eu"}],
            }
        ],
    }


async def test_gchat_gets_a_card_with_escaped_text(receiver: Receiver) -> None:
    chat = provider("chat", AlertProviderType.GCHAT, f"{receiver.url}/v1/spaces/S/messages?key=K&token=T")
    event = EmitEvent("Warning", "Waiting", "gate <b>closed</b> & held", AlertSeverity.WARN)
    await sender(chat, cluster="prod").send(a_canary(("chat", None)), event)
    (call,) = receiver.calls
    assert (call.path, call.query) == ("/v1/spaces/S/messages", "key=K&token=T")
    (card,) = call.body["cards"]
    assert card["header"] == {"title": "Canary", "subtitle": "podinfo.test"}
    texts = [s["widgets"][0]["textParagraph"]["text"] for s in card["sections"]]
    assert texts == [
        "<font color=#848484><strong>gate &lt;b&gt;closed&lt;/b&gt; &amp; held</strong></font>",
        "Cluster<br><font color=#848484><strong>prod</strong></font>",
    ]


async def test_generic_webhook_gets_a_flat_object(receiver: Receiver) -> None:
    hook = provider("hook", AlertProviderType.WEBHOOK, f"{receiver.url}/alerts")
    await sender(hook).send(a_canary(("hook", None)), ERROR)
    (call,) = receiver.calls
    assert call.body == {
        "name": "podinfo",
        "namespace": "test",
        "severity": "error",
        "reason": "RollingBack",
        "eventType": "Warning",
        "message": ERROR.message,
        "fields": {},
        "timestamp": "2023-11-14T22:13:20Z",
    }


async def test_a_new_revision_carries_the_analysis_settings(receiver: Receiver) -> None:
    """Flagger adds Target, threshold, deadline and routing when a rollout starts."""
    slack = provider("slack", AlertProviderType.SLACK, f"{receiver.url}/s")
    hook = provider("hook", AlertProviderType.WEBHOOK, f"{receiver.url}/h")
    await sender(slack, hook).send(a_canary(("slack", None), ("hook", None)), NEW_REVISION)
    by_path = {c.path: c.body for c in receiver.calls}
    fields = by_path["/s"]["attachments"][0]["fields"]
    assert fields == [
        {"title": "Target", "value": "Deployment/podinfo.test", "short": False},
        {"title": "Failed checks threshold", "value": "5", "short": False},
        {"title": "Progress deadline", "value": "600s", "short": False},
        {"title": "Traffic routing", "value": "Weight step: 10 max: 50", "short": False},
    ]
    assert by_path["/h"]["fields"]["Traffic routing"] == "Weight step: 10 max: 50"
    receiver.calls.clear()
    blue_green = a_canary(("hook", None), iterations=10, stepWeight=None, maxWeight=None)
    await sender(hook).send(blue_green, NEW_REVISION)
    assert receiver.calls[0].body["fields"]["Traffic routing"] == "Blue/Green"


# --------------------------------------------------------------------------- severity filter


@pytest.mark.parametrize(
    ("entry", "info", "warn", "error"),
    [
        (None, True, True, True),
        (AlertSeverity.UNSET, True, True, True),
        (AlertSeverity.INFO, True, True, True),
        (AlertSeverity.WARN, False, True, True),
        (AlertSeverity.ERROR, False, False, True),
    ],
)
def test_admits_is_flaggers_filter(entry: AlertSeverity | None, info: bool, warn: bool, error: bool) -> None:
    assert admits(entry, AlertSeverity.INFO) is info
    assert admits(entry, AlertSeverity.WARN) is warn
    assert admits(entry, AlertSeverity.ERROR) is error


async def test_each_entry_receives_its_severities(receiver: Receiver) -> None:
    names = ("all", "info", "warn", "error")
    providers = [provider(n, AlertProviderType.WEBHOOK, f"{receiver.url}/{n}") for n in names]
    canary = a_canary(("all", None), ("info", "info"), ("warn", "warn"), ("error", "error"))
    send = sender(*providers)
    await send.send(canary, INFO)
    assert sorted(receiver.paths()) == ["/all", "/info"]
    receiver.calls.clear()
    await send.send(canary, WARN)
    assert sorted(receiver.paths()) == ["/all", "/info", "/warn"]
    receiver.calls.clear()
    await send.send(canary, ERROR)
    assert sorted(receiver.paths()) == ["/all", "/error", "/info", "/warn"]
    receiver.calls.clear()
    await send.send(canary, EmitEvent("Normal", "Synced", "no alert"))
    assert receiver.calls == []


# --------------------------------------------------------------------------- failures and transport


async def test_failures_are_logged_without_the_address_and_never_raise(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answers = {"/T0/secret-500": 500, "/T0/secret-302": 302}
    providers = [
        provider("down", AlertProviderType.SLACK, f"{receiver.url}/T0/secret-500"),
        provider("moved", AlertProviderType.SLACK, f"{receiver.url}/T0/secret-302"),
        provider("refused", AlertProviderType.SLACK, "http://127.0.0.1:9/T0/secret-refused"),
        provider("fine", AlertProviderType.SLACK, f"{receiver.url}/T0/secret-ok"),
    ]
    canary = a_canary(("down", None), ("moved", None), ("refused", None), ("missing", None), ("fine", None))
    with caplog.at_level(logging.INFO, logger=SENDER_LOGGER):
        await sender(*providers).send(canary, ERROR)
    # One failing entry does not stop the others; the redirect is not followed.
    assert sorted(receiver.paths()) == ["/T0/secret-302", "/T0/secret-500", "/T0/secret-ok"]
    text = caplog.text
    assert "secret" not in text and "receiver says" not in text
    assert f"AlertProvider down.test (slack, {receiver.url}): HTTP 500" in text
    assert f"AlertProvider moved.test (slack, {receiver.url}): HTTP 302 (redirects are not followed)" in text
    assert "AlertProvider refused.test (slack, http://127.0.0.1:9): could not connect" in text
    assert "alert 'to missing' not sent: AlertProvider missing.test not found" in text
    assert f"alert 'to fine' sent to AlertProvider fine.test (slack, {receiver.url})" in text


async def test_a_slow_receiver_times_out(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.delay = 2.0
    hook = provider("slow", AlertProviderType.WEBHOOK, f"{receiver.url}/slow")
    with caplog.at_level(logging.ERROR, logger=SENDER_LOGGER):
        await sender(hook, timeout=0.2).send(a_canary(("slow", None)), ERROR)
    assert "no answer within 0.2s" in caplog.text


async def test_a_resolver_bug_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(ref: ProviderRef, namespace: str) -> ResolvedProvider:
        raise RuntimeError("http://secret.example/path")

    send = AlertSender(None, resolve=broken)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger=SENDER_LOGGER):
        await send.send(a_canary(("any", None)), ERROR)
    assert "provider lookup failed (RuntimeError)" in caplog.text
    assert "secret" not in caplog.text


async def test_the_providers_proxy_is_used(receiver: Receiver, proxy: Receiver) -> None:
    hook = provider("proxied", AlertProviderType.WEBHOOK, "http://alerts.invalid/hook", proxy=proxy.url)
    await sender(hook).send(a_canary(("proxied", None)), ERROR)
    (call,) = proxy.calls
    assert (call.host, call.path) == ("alerts.invalid", "/hook")
    assert call.body["severity"] == "error"


def test_origin_shows_scheme_host_and_port_only() -> None:
    assert origin("https://user:pw@hooks.slack.com/services/T/B/X?token=1") == "https://hooks.slack.com"
    assert origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert origin("not a url") == "<invalid address>"


# --------------------------------------------------------------------------- lookup through the API


def _setup_kube(kube: KubeClients) -> None:
    call_json(client.ApiextensionsV1Api(kube.api).create_custom_resource_definition, alertprovider_crd())


def _alert_provider(kube: KubeClients, name: str, namespace: str, spec: dict[str, Any]) -> None:
    call_json(
        kube.custom.create_namespaced_custom_object,
        "canary.dev",
        "v1alpha1",
        namespace,
        "alertproviders",
        {
            "apiVersion": "canary.dev/v1alpha1",
            "kind": "AlertProvider",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


def _secret(kube: KubeClients, name: str, namespace: str, data: dict[str, str]) -> None:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    call_json(kube.core.create_namespaced_secret, namespace, {"metadata": {"name": name}, "data": encoded})


async def test_providers_and_secrets_are_read_through_the_api(
    kube: KubeClients, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    _setup_kube(kube)
    call_json(kube.core.create_namespace, {"metadata": {"name": "flagger"}})
    # Same namespace as the Canary, address in the spec.
    _alert_provider(kube, "team", NAMESPACE, {"type": "webhook", "address": f"{receiver.url}/team"})
    # Another namespace, address and token from its Secret (which wins over spec.address).
    _secret(kube, "on-call-url", "flagger", {"address": f"{receiver.url}/services/on-call", "token": "t0k"})
    _alert_provider(
        kube,
        "on-call",
        "flagger",
        {"type": "slack", "channel": "on-call", "secretRef": {"name": "on-call-url"}},
    )
    # A Secret without an address: not sent (Flagger's rule).
    _secret(kube, "no-address", NAMESPACE, {"token": "t0k"})
    _alert_provider(kube, "broken", NAMESPACE, {"type": "slack", "secretRef": {"name": "no-address"}})
    body = canary_body()
    body["spec"]["analysis"]["alerts"] = [
        {"name": "team", "providerRef": {"name": "team"}},
        {"name": "on-call", "severity": "error", "providerRef": {"name": "on-call", "namespace": "flagger"}},
        {"name": "broken", "providerRef": {"name": "broken"}},
        {"name": "ghost", "providerRef": {"name": "ghost"}},
    ]
    canary = Canary.from_body(body)
    with caplog.at_level(logging.ERROR, logger=SENDER_LOGGER):
        await AlertSender(kube).send(canary, ERROR)
    by_path = {c.path: c for c in receiver.calls}
    assert sorted(by_path) == ["/services/on-call", "/team"]
    on_call = by_path["/services/on-call"]
    assert on_call.headers["Authorization"] == "Bearer t0k"
    assert on_call.body["channel"] == "on-call"
    assert by_path["/team"].body["severity"] == "error"
    assert "AlertProvider broken.test: secret no-address does not contain an address" in caplog.text
    assert "AlertProvider ghost.test not found" in caplog.text
    assert "t0k" not in caplog.text


def test_resolver_applies_secret_proxy_and_discord_suffix(kube: KubeClients) -> None:
    _setup_kube(kube)
    _secret(
        kube,
        "discord",
        NAMESPACE,
        {"address": "https://discord.com/api/webhooks/1/x", "proxy": "http://p:3128"},
    )
    _alert_provider(kube, "qa", NAMESPACE, {"type": "discord", "proxy": "http://ignored:1", "secretRef": {"name": "discord"}})  # fmt: skip
    resolved = KubeProviderResolver(kube)(ProviderRef(name="qa"), NAMESPACE)
    assert resolved.address == "https://discord.com/api/webhooks/1/x/slack"
    assert resolved.proxy == "http://p:3128"
    assert (resolved.channel, resolved.username, resolved.token) == ("general", "canary", None)
    assert "webhooks" not in repr(resolved)
