"""A terminal view of one Canary: phase, weight bar, checks and recent events.

Reads only the Canary's status and its Events, so it shows exactly what `kubectl` users can see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

PHASE_STYLES = {
    "Succeeded": "bold green",
    "Initialized": "green",
    "Failed": "bold red",
    "Progressing": "yellow",
    "Promoting": "cyan",
    "Finalising": "cyan",
    "Waiting": "magenta",
    "WaitingPromotion": "magenta",
}
VERDICT_STYLES = {"Successful": "green", "Failed": "red", "Inconclusive": "yellow", "Error": "red"}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _threshold(check: Mapping[str, Any]) -> str:
    low, high = check.get("thresholdMin"), check.get("thresholdMax")
    if low is not None and high is not None:
        return f"{_fmt(low)}..{_fmt(high)}"
    if low is not None:
        return f">= {_fmt(low)}"
    if high is not None:
        return f"<= {_fmt(high)}"
    return "-"


def _window(check: Mapping[str, Any]) -> str:
    """``30s`` for a built-in check; ``30s (query)`` when the query's scope cannot be vouched for."""
    window = check.get("window")
    if not window:
        return "-"
    return f"{window} (query)" if check.get("scope") == "Query" else str(window)


def _samples(check: Mapping[str, Any]) -> str:
    """``12/50`` with minSamples, the count alone otherwise."""
    samples, minimum = check.get("samples"), check.get("minSamples")
    if samples is None:
        return "-"
    return f"{samples:.0f}/{minimum}" if minimum else f"{samples:.0f}"


def render_canary(body: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> RenderableType:
    """Render one Canary (a raw API object) and its newest Events."""
    meta = body.get("metadata", {})
    spec = body.get("spec", {})
    status = body.get("status") or {}
    analysis = spec.get("analysis", {})
    phase = status.get("phase") or "Pending"
    weight = int(status.get("canaryWeight") or 0)
    max_weight = int(analysis.get("maxWeight") or 100)

    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("Canary", f"{meta.get('namespace')}/{meta.get('name')}")
    head.add_row("Phase", Text(phase, style=PHASE_STYLES.get(phase, "")))
    revision = status.get("revision") or {}
    if revision:
        head.add_row("Revision", f"{revision.get('image', '-')}  ({str(revision.get('hash', ''))[:10]})")
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(max_weight, 1), completed=weight, width=30), f"{weight}% / {max_weight}%"
    )
    head.add_row("Weight", bar)
    head.add_row(
        "Failed checks", f"{status.get('failedChecks', 0)} / threshold {analysis.get('threshold', '-')}"
    )
    gate = status.get("gate") or {}
    if gate:
        answer = f": {gate['message']}" if gate.get("message") else ""
        head.add_row(
            "Gate",
            Text(
                f"{gate.get('name')} ({gate.get('type')}) closed since {gate.get('since')}{answer}", "magenta"
            ),
        )
    judge = status.get("judge") or {}
    if judge.get("message"):
        verdict = str(judge.get("verdict") or "Undecided")
        style = {"Regression": "red", "NoRegression": "green"}.get(verdict, "")
        head.add_row("Judge", Text(f"{verdict}: {judge['message']}", style))
    if status.get("message"):
        head.add_row("Message", str(status["message"]))

    checks = Table(title="Checks", expand=True, title_justify="left")
    for column in ("metric", "canary", "primary", "threshold", "window", "samples", "verdict"):
        checks.add_column(column)
    for check in status.get("checks") or []:
        verdict = str(check.get("verdict", "-"))
        checks.add_row(
            str(check.get("name")),
            _fmt(check.get("value")),
            _fmt(check.get("primaryValue")),
            _threshold(check),
            _window(check),
            _samples(check),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
        )

    recent = Table(title="Events", expand=True, title_justify="left", show_header=False)
    recent.add_column("type", width=8)
    recent.add_column("message")
    for event in list(events)[-6:]:
        kind = str(event.get("type", "Normal"))
        recent.add_row(Text(kind, style="red" if kind == "Warning" else "dim"), str(event.get("message", "")))
    return Panel(Group(head, checks, recent), title="canary", border_style=PHASE_STYLES.get(phase, "blue"))
