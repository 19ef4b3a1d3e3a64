"""The `canary` command: one subcommand per job (operator, sandbox, demo, status, wait, get, validate, ...).

Each subcommand lives in its own module exposing `add_parser(subparsers)` and `run(args) -> int`;
imports are lazy so `canary operator` never loads the sandbox and vice versa.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand name -> module providing add_parser() and run()
SUBCOMMANDS: dict[str, str] = {
    "operator": "canary.operator.cli",
    "sandbox": "canary.sandbox.cli",
    "demo": "canary.demo.cli",
    "status": "canary.cli.status",
    "wait": "canary.cli.wait",
    "get": "canary.cli.get",
    "validate": "canary.cli.validate",
    "simulate": "canary.cli.simulate",
    "promote": "canary.cli.control",
    "abort": "canary.cli.control",
    "retry": "canary.cli.control",
    "pause": "canary.cli.control",
    "resume": "canary.cli.control",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canary",
        description="Progressive delivery for Kubernetes: canary releases judged by Prometheus.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in dict.fromkeys(SUBCOMMANDS.values()):  # a module may add several verbs
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command])
    code: int = module.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
