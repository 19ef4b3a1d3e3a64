"""Go-style durations: parse, format, and agree with the CRD pattern."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canary.api.duration import DURATION_PATTERN, duration_seconds, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15),
        ("1m", 60),
        ("1m30s", 90),
        ("500ms", 0.5),
        ("1h", 3600),
        ("1h1m1s", 3661),
        ("1.5s", 1.5),
        ("2m0s", 120),
        ("0s", 0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (90, "1m30s"),
        (0, "0s"),
        (3600, "1h"),
        (0.5, "500ms"),
        (3661.25, "1h1m1s250ms"),
        (timedelta(minutes=2), "2m"),
    ],
)
def test_format(seconds: float | timedelta, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", ["5 minutes", "", "1", "1d", "-1s", "1m 30s", "s", "1.s", "1M"])
def test_bad_durations_raise_clear_errors(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)
    assert not re.fullmatch(DURATION_PATTERN, bad)


def test_negative_format_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(-1)


@given(st.integers(min_value=0, max_value=10**10))
def test_format_parse_round_trip_millis(millis: int) -> None:
    text = format_duration(millis / 1000)
    assert re.fullmatch(DURATION_PATTERN, text)
    assert round(duration_seconds(text) * 1000) == millis


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from(["ms", "s", "m", "h"])),
        min_size=1,
        max_size=4,
    )
)
def test_parse_format_parse_is_stable(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert re.fullmatch(DURATION_PATTERN, text)
    seconds = duration_seconds(text)
    assert duration_seconds(format_duration(seconds)) == pytest.approx(seconds, abs=1e-3)
