# PYTHON_ARGCOMPLETE_OK  (argcomplete finds the brain command's completions here)
"""The `brain` command's entry: the parser (each command module registers its subcommands) and
`main`, which turns every domain error into one `Error:` line and an exit code. No logic lives here."""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import sys
from typing import NoReturn

import duckdb

from brain.errors import BrainError

# Each module defines `register(subparsers)`; commands set `func(args) -> int`.
_COMMAND_MODULES = [
    "brain.cli.vault_cmds",
    "brain.cli.usage_cmds",
    "brain.cli.anomaly_cmds",
    "brain.cli.finance_cmds",
    "brain.cli.demo_cmds",
    "brain.cli.live_cmds",
    "brain.cli.publish_cmds",
    "brain.cli.alert_cmds",
    "brain.cli.lake_cmds",
]


# One example per command, shown under its --help (a command without one fails tests/cli).
EXAMPLES = {
    "graph": "brain graph --vault demo-vault",
    "show": 'brain show "Support Agent" --vault demo-vault',
    "check": "brain check --vault demo-vault --json",
    "ingest": "brain ingest usage.jsonl exports/ --vault my-vault",
    "quarantine": "brain quarantine --vault my-vault --reason unknown_model",
    "spend": "brain spend --by team --days 7 --vault demo-vault",
    "agent": 'brain agent "Research Assistant" --vault demo-vault',
    "anomalies": "brain anomalies --min-severity warn --vault demo-vault   (then: brain anomalies ack ID)",
    "alerts": "brain alerts --dry-run --vault demo-vault   (then: brain alerts test CHANNEL)",
    "reconcile": "brain reconcile --days 30 --vault demo-vault",
    "export": "brain export --days 30 --out focus.parquet --vault demo-vault",
    "init": "brain init my-vault",
    "demo": "brain demo demo-vault --seed 7",
    "serve": "brain serve --vault demo-vault   (stdio; --http --port 8765 for streamable HTTP)",
    "collect": "brain collect --vault my-vault --port 4318",
    "publish": "brain publish --vault demo-vault",
    "lake": "brain lake write s3://acme-usage/lake usage/2026-12-07/   (then: brain rollup --lake ... --out ...)",
    "rollup": "brain rollup --lake lake/ --out rollups/ --engine spark   (then: brain spend --rollups rollups/)",
}


class UsageError(Exception):
    """A command line argparse refused; `main` prints it as one `Error: ...` line."""

    def __init__(self, prog: str, message: str):
        self.prog = prog
        super().__init__(message)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one `Error:` line and exit 1, as every other error."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting 2 (subcommand parsers are of this class too)."""
        raise UsageError(self.prog, re.sub(r"^argument ([^:]+): ", r"\1: ", message))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand registered."""
    import importlib

    parser = _Parser(
        prog="brain",
        description="Company Brain: your Obsidian vault of agents joined with what they cost.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    parser.add_argument("--version", action="version", version=f"brain (company-brain) {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for action in sub._choices_actions:  # each command's help opens with what it does and an example
        command = sub.choices[action.dest]
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        summary = action.help or ""
        command.description = command.description or (summary[:1].upper() + summary[1:] + ("" if summary.endswith(".") else "."))
        if action.dest in EXAMPLES:
            command.epilog = f"example:\n  {EXAMPLES[action.dest]}"
    return parser


def _version() -> str:
    """The installed package's version (the source tree's when run from a checkout without one)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("company-brain")
    except PackageNotFoundError:
        return "unknown (not installed)"


def os_error_line(exc: OSError) -> str:
    """An OS error as one line naming the path and the system's reason."""
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
    path = exc.filename
    if path is None:
        return str(exc) if not exc.errno else reason
    other = f" -> {exc.filename2}" if exc.filename2 else ""
    return f"{path}{other}: {reason}"


class _DropWhenGone(io.RawIOBase):
    """Standard output once its reader may go away (`brain check | head -1`): what the reader no
    longer takes is dropped, so the command still runs to its end and exits with its own code."""

    def __init__(self, fd: int):
        super().__init__()
        self._fd = fd
        self.gone = False

    def writable(self) -> bool:
        """Always: this is an output."""
        return True

    def fileno(self) -> int:
        """The wrapped descriptor."""
        return self._fd

    def write(self, data) -> int:
        """Write to the descriptor, or nothing once the reader has gone."""
        if not self.gone:
            try:
                return os.write(self._fd, data)
            except BrokenPipeError:
                self.gone = True
        return len(data)


def _pipe_safe_stdout() -> io.TextIOWrapper | None:
    """A stdout that drops output after the reader leaves, when stdout is the process's own."""
    out = sys.stdout
    if out is not sys.__stdout__ or not isinstance(out, io.TextIOWrapper):
        return None  # captured (tests) or replaced: leave it alone
    try:
        fd = out.fileno()
    except (OSError, ValueError):
        return None
    out.flush()
    return io.TextIOWrapper(
        io.BufferedWriter(_DropWhenGone(fd)),
        encoding=out.encoding,
        errors=out.errors,
        line_buffering=out.line_buffering,
        write_through=out.write_through,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `brain` console script; returns the exit code."""
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asking for completions (docs/commands.md): answer, exit
        import argcomplete

        argcomplete.autocomplete(parser)
    if not (sys.argv[1:] if argv is None else argv):  # a bare `brain`: what it can do, not an error
        parser.print_help()
        return 0
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named after the subcommand they were given to, not after `brain`
            words = ["brain", args.command, *([args.action] if getattr(args, "action", None) else [])]
            raise UsageError(" ".join(words), f"unrecognized arguments: {' '.join(extra)}")
    except UsageError as exc:
        print(f"Error: {exc}; see `{exc.prog} --help`", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # `brain serve` speaks MCP on stdout: there a reader that goes away must end it, not be ignored.
    safe = None if getattr(args, "command", None) == "serve" else _pipe_safe_stdout()
    real_stdout = sys.stdout
    if safe is not None:
        sys.stdout = safe
    try:
        return int(args.func(args) or 0)
    except BrainError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file or folder the system refuses: its path and the reason, no traceback
        print(f"Error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    except duckdb.Error as exc:  # the usage store failing under a read (a corrupt block): no traceback
        print(f"Error: the usage store failed: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    finally:
        if safe is not None:
            safe.flush()
            sys.stdout = real_stdout


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
