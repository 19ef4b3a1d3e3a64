"""Deleting a Canary whose spec became invalid still finalizes with what deletion needs."""

from __future__ import annotations

from typing import Any

from edges_helpers import canary_body

from canary.operator.reconciler import _salvage_for_deletion


def test_invalid_analysis_is_replaced_and_the_rest_kept() -> None:
    body = canary_body(revertOnDeletion=True, analysis={"interval": "0s", "stepWeights": [0]})
    canary = _salvage_for_deletion(body)
    assert canary is not None
    assert canary.spec.revert_on_deletion is True
    assert canary.spec.target_ref.name == body["spec"]["targetRef"]["name"]
    assert canary.spec.service is not None and canary.spec.service.port == 9898
    assert str(canary.spec.provider) == "gatewayapi:v1"


def test_a_cross_field_rule_drops_the_least_needed_field() -> None:
    service: dict[str, Any] = {"port": 9898}  # a Gateway API provider without gatewayRefs
    canary = _salvage_for_deletion(canary_body(revertOnDeletion=True, service=service))
    assert canary is not None
    assert canary.spec.provider is None and canary.spec.service is not None


def test_unusable_target_ref_gives_up() -> None:
    assert _salvage_for_deletion(canary_body(targetRef={"kind": "Deployment", "name": ""})) is None
