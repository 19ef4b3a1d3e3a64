"""Smoke test for ``python -m bench``: it runs and names every figure (timings are never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``bench`` is not installed; it lives at the repository root
    sys.path.insert(0, str(ROOT))

import bench.apiserver  # noqa: E402
import bench.core  # noqa: E402


def test_quick_run_prints_and_writes_every_figure(tmp_path: Path) -> None:
    """``--quick --json`` exits 0, prints each figure name once, and writes them all as JSON."""
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    names = (*bench.core.NAMES, *bench.apiserver.NAMES)
    for name in names:
        assert name in result.stdout
    assert "make bench" in result.stdout
    document = json.loads(out.read_text())
    assert [figure["name"] for figure in document["figures"]] == list(names)
    for figure in document["figures"]:
        assert set(figure) >= {"area", "name", "value", "unit", "samples", "note"}
