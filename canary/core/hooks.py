"""Webhooks as the core sees them: answers to questions it asked, never calls of its own.

Flagger's hook points (``docs/gitbook/usage/webhooks.md``), and what an answer means here:

==========================  ==========================================  ==================================
type                        asked                                       a non-2xx answer (or no answer)
==========================  ==========================================  ==================================
confirm-rollout             a new revision, before the target scales up  holds in ``Waiting``
pre-rollout                 the first step, before traffic is routed    one failed check
rollout (or no type)        every later step, with the metric checks    one failed check
confirm-traffic-increase    before each weight increase                 holds at the current weight
confirm-promotion           analysis passed, before the template copy   holds in ``WaitingPromotion``
rollback                    every analysing step                        nothing (a 2xx rolls back)
post-rollout                after Succeeded or Failed (an action)       a Warning Event, nothing else
event                       every Event (an action of the edge)         logged
==========================  ==========================================  ==================================

Gates fail closed: a timeout or a refused connection holds the release exactly like a 403.
``maxWait`` (ours) bounds how long one gate may hold before the release fails.

The core asks by raising :class:`NeedAnswers` from :func:`answers`; :func:`~canary.core.machine.decide`
turns that into a :class:`~canary.core.machine.Decision` with ``asks``; the operator calls those
hooks and decides again with the answers in :attr:`Observation.hooks`. So the calls happen in
Flagger's order and only when the decision depends on them, and ``decide`` stays pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from canary.api.models import CanarySpec, CanaryWebhook, Phase, WebhookType

__all__ = [
    "GATE_TYPES",
    "HookOutcome",
    "NeedAnswers",
    "answers",
    "hooks_of",
    "payload_phase",
]

#: Types whose closed answer holds the release in place (no failed check, no rollback).
GATE_TYPES: frozenset[WebhookType] = frozenset(
    {WebhookType.CONFIRM_ROLLOUT, WebhookType.CONFIRM_TRAFFIC_INCREASE, WebhookType.CONFIRM_PROMOTION}
)


@dataclass(frozen=True)
class HookOutcome:
    """One webhook's answer this tick: ``ok`` for a 2xx, else ``message`` says what came back."""

    name: str
    type: WebhookType
    ok: bool
    message: str = ""


class NeedAnswers(Exception):
    """Raised inside ``decide`` when it needs hook answers it was not given (caught there)."""

    def __init__(self, type_: WebhookType) -> None:
        super().__init__(type_.value)
        self.type = type_


def hooks_of(spec: CanarySpec, type_: WebhookType) -> tuple[CanaryWebhook, ...]:
    """The Canary's webhooks of one type, in spec order (an empty type is ``rollout``)."""
    return tuple(hook for hook in spec.analysis.webhooks or () if hook.effective_type is type_)


def answers(
    spec: CanarySpec, given: Mapping[WebhookType, tuple[HookOutcome, ...]], type_: WebhookType
) -> tuple[HookOutcome, ...]:
    """The answers of every hook of ``type_``; raises :class:`NeedAnswers` when not asked yet.

    A Canary without hooks of that type needs no call: the answer is empty (nothing objects).
    """
    if not hooks_of(spec, type_):
        return ()
    if type_ not in given:
        raise NeedAnswers(type_)
    return given[type_]


def payload_phase(type_: WebhookType, phase: Phase | None) -> Phase:
    """The ``phase`` Flagger puts in a hook's payload: the Canary's own for confirm-rollout,
    rollback and event hooks, ``Progressing`` for the analysis hooks (post-rollout hooks carry
    the outcome, see :class:`~canary.core.actions.CallWebhooks`)."""
    if type_ in (WebhookType.CONFIRM_ROLLOUT, WebhookType.ROLLBACK, WebhookType.EVENT):
        return phase or Phase.INITIALIZING
    return Phase.PROGRESSING
