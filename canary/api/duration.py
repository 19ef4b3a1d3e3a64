"""Go-style durations (``15s``, ``1m30s``, ``500ms``, ``1h``) as used by Flagger manifests.

Kubernetes users write intervals the way Go's ``time.ParseDuration`` reads them, so the
CRD accepts the same spelling (restricted to the units that make sense for analysis
pacing: ``ms``, ``s``, ``m``, ``h``) and the operator converts them here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

__all__ = [
    "DURATION_PATTERN",
    "MAX_DURATION_SECONDS",
    "bounded_pattern",
    "duration_seconds",
    "format_duration",
    "human_duration",
    "parse_duration",
]

#: Anchored pattern put in the CRD; the API server rejects anything else before we see it.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"

#: Go's ``time.Duration`` is int64 nanoseconds: ``2562047h47m16.854775807s`` is the longest one
#: ``time.ParseDuration`` (and CEL's ``duration()``) accepts; anything longer is an error there.
MAX_DURATION_SECONDS = Decimal("9223372036.854775807")

_FULL = re.compile(DURATION_PATTERN)
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}


def _total(text: str) -> Decimal:
    """Sum the parts exactly (Decimal) so ``0.1s`` round-trips without float noise."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string like '1m30s', got {type(text).__name__}")
    if not _FULL.fullmatch(text):
        raise ValueError(
            f"invalid duration {text!r}: expected a Go-style duration such as "
            "'500ms', '15s', '1m', '1m30s' or '1h' (units ms, s, m, h; no spaces)"
        )
    total = sum(
        (Decimal(num) * _UNIT_SECONDS[unit] for num, unit in _PART.findall(text)),
        Decimal(0),
    )
    if total > MAX_DURATION_SECONDS:
        # Go refuses it too; a timedelta would raise OverflowError (not a ValueError) further on.
        raise ValueError(f"invalid duration {text!r}: longer than the maximum of 2562047h47m16s")
    return total


def bounded_pattern(max_seconds: int) -> str:
    """Anchored regex of durations whose every part is short enough to stay near ``max_seconds``.

    Each ``<number><unit>`` part may have only as many integer digits as ``max_seconds`` needs in
    that unit (``24h`` -> ``99h``, ``9999m``, ``99999s``, ``99999999ms``), so a string that also
    respects a small ``maxLength`` can never overflow Go's ``time.Duration`` and CEL's
    ``duration()`` can be called on it safely. Written without backslashes so it embeds in a CEL
    string literal as is.
    """
    parts = []
    for unit in ("h", "m", "s", "ms"):
        digits = len(str(int(Decimal(max_seconds) / _UNIT_SECONDS[unit])))
        parts.append(f"[0-9]{{1,{digits}}}([.][0-9]+)?{unit}")
    return "^(" + "|".join(f"({p})" for p in parts) + ")+$"


def duration_seconds(text: str) -> float:
    """Parse a Go-style duration into seconds; raises ValueError on bad input."""
    return float(_total(text))


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration into a timedelta; raises ValueError on bad input."""
    return timedelta(seconds=float(_total(text)))


def format_duration(value: float | int | timedelta) -> str:
    """Format seconds (or a timedelta) the way Go prints durations: ``90`` -> ``1m30s``.

    Sub-second remainders are printed in whole milliseconds (``1.5`` -> ``1s500ms``) so the
    output always matches :data:`DURATION_PATTERN` and parses back to the same value at
    millisecond precision.
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ValueError(f"negative durations are not allowed: {seconds}")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs:
        out += f"{secs}s"
    if millis:
        out += f"{millis}ms"
    return out


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: the AGE format kubectl prints (``45s``, ``3m2s``, ``5d``)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = divmod(hours // 24, 365)
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // (24 * 365)}y"
