"""The webhook client: one POST per hook (with bounded retries), answered as a HookOutcome."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from canary.api.models import Canary, CanaryWebhook, Phase, WebhookType
from canary.core.hooks import HookOutcome, hooks_of
from canary.metrics.addresses import AddressPolicy, parse_address

__all__ = ["WEBHOOK_ALLOW_ENV_VAR", "WebhookCaller", "checksum", "event_payload", "payload"]

#: Environment variable read by ``canary operator`` when no ``--webhook-url-allow`` is given.
WEBHOOK_ALLOW_ENV_VAR = "CANARY_WEBHOOK_URL_ALLOW"
#: Longest pause between two attempts of one call.
MAX_BACKOFF_SECONDS = 2.0


def checksum(canary: Canary, revision: str | None) -> str:
    """Flagger's payload checksum: a hash of the tracked configs and the revision under analysis.

    It changes with every revision, so a receiver can tell one release's approval from the next.
    """
    status = canary.current_status
    fields = {"trackedConfigs": status.tracked_configs or {}, "lastAppliedSpec": revision or ""}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def payload(
    canary: Canary, phase: Phase, revision: str | None, metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """Flagger's ``CanaryWebhookPayload``."""
    body: dict[str, Any] = {
        "name": canary.name,
        "namespace": canary.namespace,
        "phase": phase.value,
        "checksum": checksum(canary, revision),
    }
    if metadata:
        body["metadata"] = dict(metadata)
    return body


def event_payload(
    canary: Canary,
    phase: Phase,
    revision: str | None,
    hook: CanaryWebhook,
    *,
    message: str,
    event_type: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Flagger's event-hook payload: the Event in ``metadata`` (the hook's own keys never override it)."""
    metadata = {
        "eventMessage": message,
        "eventType": event_type,
        "timestamp": str(int((time.time() if now is None else now) * 1000)),
    }
    for key, value in (hook.metadata or {}).items():
        metadata.setdefault(key, value)
    return payload(canary, phase, revision, metadata)


class _Retryable(Exception):
    """A 5xx answer: worth another attempt, like retryablehttp's default policy."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}".rstrip())


class WebhookCaller:
    """Calls a Canary's webhooks; holds only the operator-wide allow-list."""

    def __init__(self, allow: tuple[str, ...] = ()) -> None:
        self.policy = AddressPolicy.of(allow, option="--webhook-url-allow", noun="url")

    async def ask(
        self, canary: Canary, type_: WebhookType, phase: Phase, revision: str | None
    ) -> tuple[HookOutcome, ...]:
        """Every hook of ``type_`` at once, answers in spec order."""
        hooks = hooks_of(canary.spec, type_)
        calls = [self.call(hook, type_, payload(canary, phase, revision, hook.metadata)) for hook in hooks]
        return tuple(await asyncio.gather(*calls))

    async def call(self, hook: CanaryWebhook, type_: WebhookType, body: Mapping[str, Any]) -> HookOutcome:
        """POST ``body`` to the hook; never raises (every failure is an answer that is not 2xx)."""
        refusal = self._refusal(hook.url)
        if refusal is not None:
            return HookOutcome(hook.name, type_, ok=False, message=refusal)
        timeout = hook.timeout_seconds
        try:
            status = await self._post_with_retries(hook, body, timeout)
        except TimeoutError:
            return HookOutcome(
                hook.name, type_, ok=False, message=f"no answer within {hook.timeout or '10s'}"
            )
        except _Retryable as exc:
            return HookOutcome(hook.name, type_, ok=False, message=str(exc))
        except aiohttp.ClientError as exc:
            return HookOutcome(hook.name, type_, ok=False, message=f"request failed: {_short(exc)}")
        if 200 <= status[0] < 300:
            return HookOutcome(hook.name, type_, ok=True, message=f"HTTP {status[0]}")
        note = " (redirects are not followed)" if 300 <= status[0] < 400 else ""
        return HookOutcome(
            hook.name, type_, ok=False, message=f"HTTP {status[0]} {status[1]}".rstrip() + note
        )

    def _refusal(self, url: str) -> str | None:
        """Why the operator will not send a request to ``url`` (allow-list), else None."""
        if not self.policy.entries:
            return None
        try:
            parse_address(url)
        except ValueError:
            return "url not allowed by the operator's --webhook-url-allow (it cannot be checked)"
        return self.policy.refusal(url)

    async def _post_with_retries(
        self, hook: CanaryWebhook, body: Mapping[str, Any], timeout: float
    ) -> tuple[int, str]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt((hook.retries or 0) + 1),
            wait=wait_exponential(multiplier=0.25, max=MAX_BACKOFF_SECONDS),
            retry=retry_if_exception_type((_Retryable, aiohttp.ClientConnectionError, TimeoutError)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._post_once(hook, body, timeout)
        raise AssertionError("unreachable: tenacity reraises the last failure")

    @staticmethod
    async def _post_once(hook: CanaryWebhook, body: Mapping[str, Any], timeout: float) -> tuple[int, str]:
        ssl = not hook.disable_tls  # True: verify certificates (aiohttp's default)
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), trust_env=True) as session,
            session.post(hook.url, json=dict(body), allow_redirects=False, ssl=ssl) as response,
        ):
            await response.read()  # drained, never shown
            if response.status >= 500:
                raise _Retryable(response.status, response.reason or "")
            return response.status, response.reason or ""


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
