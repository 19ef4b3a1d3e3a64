"""The webhook edge against a real local HTTP receiver: payload, answers, retries, limits."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from canary.api.models import Canary, CanaryWebhook, Phase, WebhookType
from canary.sandbox.serving import serve
from canary.webhooks import WebhookCaller, event_payload, payload


@dataclass
class Receiver:
    """Records every request; ``answers`` maps a path to a status code (or a callable)."""

    url: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answers: dict[str, int | Callable[[], int]] = field(default_factory=dict)
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else {}
        self.calls.append((request.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.answers.get(request.path, 200)
        status = answer() if callable(answer) else answer
        if 300 <= status < 400:
            raise web.HTTPFound(location="/elsewhere")
        return web.Response(status=status, text="secret internal page")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    rec.url = f"http://127.0.0.1:{await serve(runner, 0)}"
    yield rec
    await runner.cleanup()


def a_canary(*hooks: dict[str, Any]) -> Canary:
    return Canary.from_body(
        {
            "apiVersion": "canary.dev/v1alpha1",
            "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                "service": {"port": 9898},
                "analysis": {"interval": "1m", "stepWeight": 10, "webhooks": list(hooks)},
            },
        }
    )


def hook(url: str, **fields: Any) -> CanaryWebhook:
    return CanaryWebhook.model_validate({"name": "h", "url": url, **fields})


async def test_every_hook_of_a_type_gets_flaggers_payload(receiver: Receiver) -> None:
    canary = a_canary(
        {"name": "a", "type": "confirm-promotion", "url": f"{receiver.url}/gate/a", "metadata": {"k": "v"}},
        {"name": "b", "type": "confirm-promotion", "url": f"{receiver.url}/gate/b"},
        {"name": "load", "url": f"{receiver.url}/"},
    )
    receiver.answers["/gate/b"] = 403
    outcomes = await WebhookCaller().ask(canary, WebhookType.CONFIRM_PROMOTION, Phase.PROGRESSING, "rev1")
    assert [(o.name, o.ok, o.message) for o in outcomes] == [
        ("a", True, "HTTP 200"),
        ("b", False, "HTTP 403 Forbidden"),
    ]
    bodies = dict(receiver.calls)
    assert bodies["/gate/a"] == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": payload(canary, Phase.PROGRESSING, "rev1", None)["checksum"],
        "metadata": {"k": "v"},
    }
    assert "metadata" not in bodies["/gate/b"]
    assert "/" not in bodies, "hooks of other types are not called"
    assert payload(canary, Phase.PROGRESSING, "rev2", None)["checksum"] != bodies["/gate/a"]["checksum"]


async def test_a_failure_message_never_reflects_the_response_body(receiver: Receiver) -> None:
    receiver.answers["/x"] = 400
    outcome = await WebhookCaller().call(hook(f"{receiver.url}/x"), WebhookType.PRE_ROLLOUT, {})
    assert not outcome.ok and outcome.message == "HTTP 400 Bad Request"
    assert "secret" not in outcome.message


async def test_5xx_is_retried_up_to_retries_then_fails(receiver: Receiver) -> None:
    receiver.answers["/flaky"] = 503
    outcome = await WebhookCaller().call(hook(f"{receiver.url}/flaky", retries=2), WebhookType.ROLLOUT, {})
    assert not outcome.ok and outcome.message == "HTTP 503 Service Unavailable"
    assert len(receiver.calls) == 3
    answers = iter([503, 200])
    receiver.answers["/recovers"] = lambda: next(answers)
    recovered = await WebhookCaller().call(
        hook(f"{receiver.url}/recovers", retries=1), WebhookType.ROLLOUT, {}
    )
    assert recovered.ok


async def test_4xx_is_not_retried(receiver: Receiver) -> None:
    receiver.answers["/closed"] = 403
    await WebhookCaller().call(hook(f"{receiver.url}/closed", retries=3), WebhookType.CONFIRM_ROLLOUT, {})
    assert len(receiver.calls) == 1


async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.answers["/moved"] = 302
    outcome = await WebhookCaller().call(hook(f"{receiver.url}/moved"), WebhookType.CONFIRM_ROLLOUT, {})
    assert not outcome.ok and "redirects are not followed" in outcome.message
    assert [path for path, _ in receiver.calls] == ["/moved"]


async def test_a_slow_hook_times_out_as_a_closed_gate(receiver: Receiver) -> None:
    receiver.delay = 2.0
    outcome = await WebhookCaller().call(
        hook(f"{receiver.url}/slow", timeout="200ms"), WebhookType.CONFIRM_ROLLOUT, {}
    )
    assert not outcome.ok and outcome.message == "no answer within 200ms"


async def test_an_unreachable_hook_is_a_closed_gate() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = await WebhookCaller().call(
        hook(f"http://127.0.0.1:{port}/gate"), WebhookType.CONFIRM_PROMOTION, {}
    )
    assert not outcome.ok and outcome.message.startswith("request failed: ")


async def test_the_allow_list_keeps_requests_from_leaving(receiver: Receiver) -> None:
    caller = WebhookCaller(allow=("http://flagger-loadtester.test",))
    outcome = await caller.call(hook(f"{receiver.url}/gate"), WebhookType.CONFIRM_ROLLOUT, {})
    assert not outcome.ok and "--webhook-url-allow" in outcome.message
    assert receiver.calls == []
    allowed = WebhookCaller(allow=(receiver.url,))
    assert (await allowed.call(hook(f"{receiver.url}/gate"), WebhookType.CONFIRM_ROLLOUT, {})).ok
    query = await caller.call(
        hook("http://flagger-loadtester.test/gate?x=1"), WebhookType.CONFIRM_ROLLOUT, {}
    )
    assert not query.ok and "cannot be checked" in query.message


def test_event_payload_carries_the_event_and_keeps_its_keys() -> None:
    canary = a_canary()
    event_hook = hook("http://x/", type="event", metadata={"eventMessage": "mine", "team": "a"})
    body = event_payload(
        canary, Phase.PROGRESSING, "rev", event_hook, message="Advance", event_type="Normal", now=1.5
    )
    assert body["metadata"] == {
        "eventMessage": "Advance",
        "eventType": "Normal",
        "timestamp": "1500",
        "team": "a",
    }
