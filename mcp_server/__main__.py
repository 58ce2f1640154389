"""`python -m mcp_server --vault X`: the same server as `brain serve`, through the same code path."""

from __future__ import annotations

import argparse
import logging
import sys

from brain.cli.serve_cmds import add_serve_args, cmd_serve
from brain.errors import BrainError


def main(argv: list[str] | None = None) -> int:
    """Parse the serve options and run `brain serve` with them; errors are one line on stderr."""
    parser = argparse.ArgumentParser(prog="python -m mcp_server", description="Company Brain MCP server.")
    add_serve_args(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        return cmd_serve(args)  # one code path from parsed options to the server: nothing is dropped
    except BrainError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
