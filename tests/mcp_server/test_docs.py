"""docs/mcp.md and the README's MCP section state what the server offers: every tool with its
arguments (optional ones marked `?`), every resource and prompt, and the counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp import Client

from mcp_server import build_server

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "mcp.md").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")
CALL = re.compile(r"`([a-z_]+)\(([^)`]*)\)`")


def signature(name: str, schema: dict) -> str:
    """`name(a, b?)` from an input schema: required arguments plain, optional ones with `?`."""
    required = set(schema.get("required") or ())
    args = [a if a in required else f"{a}?" for a in schema.get("properties") or {}]
    return f"{name}({', '.join(args)})"


def documented(text: str) -> dict[str, str]:
    """Every `name(args)` written in `text`, by name."""
    return {m[1]: f"{m[1]}({m[2]})" for m in CALL.finditer(text)}


def section(start: str, end: str) -> str:
    """The part of docs/mcp.md from the line starting with `start` to the next one starting with `end`."""
    i = DOC.index("\n" + start) + 1
    return DOC[i : DOC.index("\n" + end, i)]


async def test_docs_list_every_tool_with_its_arguments(brain):
    async with Client(build_server(brain, allow_writes=True)) as c:
        tools = (await c.list_tools()).tools
        prompts = (await c.list_prompts()).prompts
        resources = [str(r.uri) for r in (await c.list_resources()).resources]
        templates = [t.uri_template for t in (await c.list_resource_templates()).resource_templates]
    read_only = {t.name: signature(t.name, t.input_schema) for t in tools if t.annotations.read_only_hint}
    writes = {t.name: signature(t.name, t.input_schema) for t in tools if not t.annotations.read_only_hint}
    assert documented(section("| Tools (read-only)", "With `--allow-writes`")) == read_only
    assert documented(section("With `--allow-writes`", "Resources:")) == writes
    listed = section("Resources:", "## Ask it")
    for uri in resources + templates:  # as the server names them: vault://note/{+path}
        assert f"`{uri}`" in listed
    for p in prompts:
        args = ", ".join(a.name for a in p.arguments or [])
        assert (f"`{p.name}({args})`" if args else f"`{p.name}`") in listed

    counts = re.search(r"(\d+) read-only tools, (\d+) write tools behind `--allow-writes`,\s+(\d+) resources[^\n]*\n?[^\n]*?(\d+) prompts", README)
    assert counts, "README's MCP section no longer states the counts"
    assert [int(n) for n in counts.groups()] == [len(read_only), len(writes), len(resources) + len(templates), len(prompts)]
