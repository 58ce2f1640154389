"""Shared fixtures: vaults built in tmp_path from dedented notes, the test company, free ports.

Helpers several test packages use are fixtures that return the helper (`write_vault`,
`make_company`, `free_port`, `post_otlp_when_up`): test modules import nothing from each other
or from a conftest. The plain functions behind them are here for the benchmark scripts."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import anyio
import pytest
from mcp.client import stdio as mcp_stdio

REPO = Path(__file__).resolve().parents[1]

# Brain's vault load cache (brain.graph.cache) goes to a folder of this test run, not ~/.cache;
# CLI subprocesses inherit it, and so do servers the MCP stdio client starts (it passes on only
# the variables in this list).
os.environ["BRAIN_CACHE_DIR"] = tempfile.mkdtemp(prefix="brain-test-cache-")
atexit.register(shutil.rmtree, os.environ["BRAIN_CACHE_DIR"], ignore_errors=True)
mcp_stdio.DEFAULT_INHERITED_ENV_VARS.append("BRAIN_CACHE_DIR")


def write_notes(root: Path, notes: dict[str, str | bytes]) -> Path:
    """Write {relative path: text} into root (text dedented, bytes as they are); returns root."""
    for rel, text in notes.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def write_vault():
    """write_vault(root, {path: text}) -> root: notes written into any folder."""
    return write_notes


@pytest.fixture
def make_vault(tmp_path):
    """Factory: make_vault({path: text}) -> vault root folder."""

    def _make(notes: dict[str, str], name: str = "vault") -> Path:
        return write_notes(tmp_path / name, notes)

    return _make


# -- the test company: the vault the MCP server and the live servers are tested on --------------

COMPANY_NOTES = {
    "Agents/Support Agent.md": """\
        ---
        type: agent
        agent_id: support-agent
        aliases: [Support Bot]
        owner: "[[Ada Lovelace]]"
        api_keys: [key_support_01]
        depends_on: ["[[Vector Store]]", "[[CRM]]"]
        status: active
        ---
        # Support Agent

        Answers customer questions from the help centre.
        """,
    "Agents/Meeting Notes Bot.md": """\
        ---
        type: agent
        owner: "[[Platform]]"
        uses: ["[[Vector Store]]"]
        ---
        # Meeting Notes Bot

        Summarises meetings.
        """,
    "Agents/Orphan Agent.md": """\
        ---
        type: agent
        ---
        Nobody owns this one.
        """,
    "Tools/Vector Store.md": """\
        ---
        type: tool
        owner: "[[Platform]]"
        depends_on: ["[[CRM]]"]
        ---
        Embeddings of help-centre articles.
        """,
    "Tools/Search.md": "---\ntype: tool\n---\nSearch tool.\n",
    "Integrations/Search.md": "---\ntype: integration\n---\nSearch integration.\n",
    "Integrations/CRM.md": "---\ntype: integration\nowner: \"[[Alan Turing]]\"\n---\nThe CRM.\n",
    "People/Ada Lovelace.md": "---\ntype: person\nteam: \"[[Platform]]\"\n---\n",
    "People/Alan Turing.md": "---\ntype: person\n---\n",
    "Teams/Platform.md": "---\ntype: team\n---\n",
    ".obsidian/hidden.md": "not part of the vault\n",
}


def build_company(root: Path) -> Path:
    """The test company vault, with the starter vault's change template."""
    write_notes(root, COMPANY_NOTES)
    (root / "Templates").mkdir(exist_ok=True)
    shutil.copy(REPO / "vault_template" / "Templates" / "Change.md", root / "Templates" / "Change.md")
    return root


@pytest.fixture(scope="session")
def make_company():
    """make_company(root) -> root: the test company written there (three agents, tools, people, a team)."""
    return build_company


# -- servers: ports and an OTLP receiver coming up --------------------------------------------


def find_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def free_port():
    """free_port() -> a loopback port nothing listens on right now."""
    return find_free_port


async def post_otlp(port: int, doc: dict, failure: str, timeout_s: float = 60.0) -> None:
    """POST an OTLP/JSON document to a receiver that starts with a server, retrying until it answers."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=json.dumps(doc).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status == 200
            return
        except OSError:
            assert time.monotonic() < deadline, failure
            await anyio.sleep(0.1)


@pytest.fixture(scope="session")
def post_otlp_when_up():
    """await post_otlp_when_up(port, doc, failure): the document accepted, or the test failed with `failure`."""
    return post_otlp


@pytest.fixture
def anyio_backend():
    """Async tests (pytest.mark.anyio) run on asyncio."""
    return "asyncio"
