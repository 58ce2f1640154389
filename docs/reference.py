"""Writes the reference parts of docs/cli.md, docs/mcp.md, docs/internals.md (the layout table) and
the README (the MCP counts) from the code, through cog: `cog -r docs/cli.md docs/mcp.md
docs/internals.md README.md` rewrites them, `cog --check` (run by `python3 run.py test`) fails when
they are stale. Run from the repository root."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def _options(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
        if action.option_strings and action.nargs != 0:
            names += f" `{action.metavar or action.dest.upper()}`"
        if action.choices and action.option_strings:
            names += " (" + " / ".join(str(c) for c in action.choices) + ")"
        rows.append(f"| {names} | {(action.help or '').replace('|', '/')} |")
    return rows


def _command(lines: list[str], name: str, parser: argparse.ArgumentParser, level: int) -> None:
    lines += [f"{'#' * level} `{name}`", ""]
    if parser.description:
        lines += [parser.description, ""]
    lines += ["```", parser.format_usage().strip().replace("usage: ", ""), "```", ""]
    rows = _options(parser)
    if rows:
        lines += ["| argument | what it does |", "|---|---|", *rows, ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for sub_name, sub in action.choices.items():
                if helps.get(sub_name) and not sub.description:
                    sub.description = helps[sub_name]
                _command(lines, f"{name} {sub_name}", sub, level + 1)


def cli() -> str:
    """Every `brain` command with its usage line and options, from the argparse parser."""
    import os

    from brain.cli import build_parser

    os.environ["COLUMNS"] = "100"  # usage lines wrap the same on every terminal
    parser = build_parser()
    parser.formatter_class = argparse.HelpFormatter
    lines: list[str] = []
    _command(lines, "brain", parser, 2)
    return "\n".join(lines).rstrip() + "\n"


def mcp() -> str:
    """Every MCP tool (read-only, then write), resource, template and prompt a server offers."""
    import anyio
    from mcp import Client

    from brain.facade import Brain
    from brain.settings import Settings
    from mcp_server import build_server

    async def listing(brain):
        async with Client(build_server(brain, allow_writes=True)) as c:
            return ((await c.list_tools()).tools, (await c.list_resources()).resources,
                    (await c.list_resource_templates()).resource_templates, (await c.list_prompts()).prompts)

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ".obsidian").mkdir()
        brain = Brain.open(Settings.from_env(tmp, str(Path(tmp) / "usage.duckdb")), read_only=True)
        try:
            tools, resources, templates, prompts = anyio.run(listing, brain)
        finally:
            brain.close()

    def signature(tool) -> str:
        required = set(tool.input_schema.get("required") or ())
        args = [a if a in required else f"{a}?" for a in tool.input_schema.get("properties") or {}]
        return f"`{tool.name}({', '.join(args)})`"

    def first_line(text: str | None) -> str:
        return " ".join((text or "").strip().split("\n\n")[0].split()).replace("|", "/")

    read_only = [t for t in tools if t.annotations and t.annotations.read_only_hint]
    writes = [t for t in tools if t not in read_only]
    lines = [f"{len(read_only)} read-only tools, {len(writes)} write tools behind `--allow-writes`, "
             f"{len(resources) + len(templates)} resources and {len(prompts)} prompts.", ""]
    lines += ["| Tools (read-only) | what it answers |", "|---|---|"]
    lines += [f"| {signature(t)} | {first_line(t.description)} |" for t in read_only]
    lines += ["", "With `--allow-writes`:", "", "| Write tool | what it does |", "|---|---|"]
    lines += [f"| {signature(t)} | {first_line(t.description)} |" for t in writes]
    lines += ["", "Resources:", "", "| Resource | what it holds |", "|---|---|"]
    lines += [f"| `{r.uri}` | {first_line(r.description)} |" for r in resources]
    lines += [f"| `{t.uri_template}` | {first_line(t.description)} |" for t in templates]
    lines += ["", "Prompts:", "", "| Prompt | what it asks |", "|---|---|"]
    for p in prompts:
        args = ", ".join(a.name for a in p.arguments or [])
        lines.append(f"| `{p.name}({args})` | {first_line(p.description)} |" if args else f"| `{p.name}` | {first_line(p.description)} |")
    return "\n".join(lines) + "\n"


def layout() -> str:
    """Every entry of brain/ (packages, then modules) with the first line of its docstring, so the
    layout table in docs/internals.md is `ls brain/` by construction."""
    import ast

    root = Path("brain")

    def first_line(path: Path) -> str:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        return " ".join(doc.split("\n\n")[0].split())

    rows = [("brain/", first_line(root / "__init__.py"))]
    packages = sorted(p for p in root.iterdir() if (p / "__init__.py").is_file())
    modules = sorted(p for p in root.glob("*.py") if p.name != "__init__.py")
    rows += [(f"  {p.name}/", first_line(p / "__init__.py")) for p in packages]
    rows += [(f"  {p.name}", first_line(p)) for p in modules]
    rows += [("mcp_server/", first_line(Path("mcp_server/__init__.py"))),
             ("vault_template/", "the starter vault `brain init` copies (installed as the package data brain.vault_template)"),
             ("tests/", "tests mirroring brain/ (`-m 'not e2e'`: the fast subset); benchmarks/ on demand"),
             ("docs/", "the reference beyond the README: cli.md and mcp.md (generated), vault, usage, anomalies, "
                      "live, demo, commands and benchmarks; internals.md (layout, layers, paths, decisions)")]
    return "\n".join(f"| `{name.strip()}` | {text} |" if not name.startswith("  ") else f"| &nbsp;&nbsp;`{name.strip()}` | {text} |"
                     for name, text in rows) + "\n"
