# PYTHON_ARGCOMPLETE_OK
"""The `brain` command: parses arguments, calls the core, formats output.

main (the parser and the entry point) · common (options, tables, JSON) · one module of commands
per area: vault_cmds, usage_cmds, anomaly_cmds, finance_cmds, publish_cmds, demo_cmds, live_cmds.
"""

from brain.cli.main import build_parser, main, os_error_line

__all__ = ["build_parser", "main", "os_error_line"]
