"""The `brain` command: parses arguments, calls the core, formats output. No logic lives here."""

from __future__ import annotations

import argparse
import logging
import sys

from brain.errors import BrainError

# Each module defines `register(subparsers)`; commands set `func(args) -> int`.
_COMMAND_MODULES = [
    "brain.cli.vault_cmds",
    "brain.cli.usage_cmds",
    "brain.cli.anomaly_cmds",
    "brain.cli.realworld_cmds",
    "brain.cli.demo_cmds",
    "brain.cli.serve_cmds",
    "brain.cli.publish_cmds",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="brain",
        description="Company Brain: your Obsidian vault of agents joined with what they cost.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `brain` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except BrainError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
