"""--log-format and --log-level: JSON lines a log pipeline can parse, text lines a person can read."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import kopf
import pytest

from canary.operator.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """configure_logging replaces the root handlers; later tests must not write to this test's stderr."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_message_severity_and_the_canary(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    body = kopf.Body({"apiVersion": "canary.dev/v1alpha1", "kind": "Canary",
                      "metadata": {"name": "podinfo", "namespace": "test", "uid": "u1"}})  # fmt: skip
    object_logger = kopf.ObjectLogger(body=body, settings=kopf.OperatorSettings())
    object_logger.info("Advance podinfo.test canary weight 20")
    logging.getLogger("canary.test").debug("not at info level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    assert lines[0]["message"] == "Advance podinfo.test canary weight 20"
    assert lines[0]["severity"] == "info"
    assert lines[0]["object"]["name"] == "podinfo" and lines[0]["object"]["namespace"] == "test"


def test_text_lines_are_prefixed_with_the_canary_and_debug_shows(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("text", "debug")
    logging.getLogger("canary.test").debug("details")
    err = capsys.readouterr().err
    assert "DEBUG   canary.test: details" in err
