"""The status view shows what holds a release: the closed gate, its answer and since when."""

from __future__ import annotations

from rich.console import Console

from canary.cli.view import render_canary


def rendered(status: dict[str, object]) -> str:
    body = {
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {"analysis": {"maxWeight": 50, "threshold": 5}},
        "status": status,
    }
    console = Console(width=160, record=True, color_system=None)
    console.print(render_canary(body))
    return console.export_text()


def test_a_held_gate_is_shown_with_its_answer() -> None:
    text = rendered(
        {
            "phase": "WaitingPromotion",
            "canaryWeight": 50,
            "gate": {
                "name": "approve",
                "type": "confirm-promotion",
                "since": "2026-12-03T10:00:00Z",
                "message": "HTTP 403 Forbidden",
            },
        }
    )
    assert "WaitingPromotion" in text
    assert "approve (confirm-promotion) closed since 2026-12-03T10:00:00Z: HTTP 403 Forbidden" in text


def test_no_gate_row_when_nothing_holds() -> None:
    assert "Gate" not in rendered({"phase": "Progressing", "canaryWeight": 10})
