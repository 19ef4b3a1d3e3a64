"""``python -m bench [--quick] [--json PATH]``: run every area and print one aligned table.

Then the judgment suite (:mod:`bench.judgment`) prints its per-scenario table and ratio line;
``python -m bench judgment [--seeds N] [--quick] [--json]`` runs that suite alone.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import Figure
from . import apiserver as apiserver_bench
from . import core as core_bench
from . import judgment as judgment_bench

#: Areas in run order: (label, run function).
AREAS: tuple[tuple[str, Callable[[bool], list[Figure]]], ...] = (
    ("core", core_bench.run),
    ("apiserver", apiserver_bench.run),
)
REPRODUCE = "make bench"


def format_value(value: float | None) -> str:
    """A readable number: thousands separators for large values, 3 significant digits otherwise."""
    if value is None:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.001 else f"{value:.2e}"


def render(rows: Sequence[tuple[str, Figure]]) -> str:
    """Plain-text table, columns aligned; numbers right-aligned."""
    header = ("area", "figure", "value", "unit", "samples", "note")
    cells = [(area, f.name, format_value(f.value), f.unit, str(f.samples), f.note) for area, f in rows]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    right = {2, 4}

    def line(row: Sequence[str]) -> str:
        parts = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in cells)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the table, optionally write JSON."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["judgment"]:
        return judgment_bench.main(arguments[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test), a few seconds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(arguments)

    started = time.perf_counter()
    rows: list[tuple[str, Figure]] = []
    for area, run in AREAS:
        rows.extend((area, figure) for figure in run(args.quick))
    judgment = judgment_bench.suite(judgment_bench.QUICK_SEEDS if args.quick else judgment_bench.FULL_SEEDS)
    elapsed = time.perf_counter() - started

    mode = "quick" if args.quick else "full"
    print(
        f"canary bench ({mode}) on {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}; took {elapsed:.1f} s; medians of repeated samples"
    )
    print(render(rows))
    print(f"reproduce: {REPRODUCE}" + (" (or: .venv/bin/python -m bench --quick)" if args.quick else ""))
    print()
    print(judgment_bench.render(judgment))

    if args.json is not None:
        document = {
            "mode": mode,
            "python": platform.python_version(),
            "elapsed_s": elapsed,
            "reproduce": REPRODUCE,
            "figures": [{"area": area, **figure.to_dict()} for area, figure in rows],
            "judgment": judgment.to_dict(),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
