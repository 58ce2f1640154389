"""Shared fixtures: vaults built in tmp_path from dedented notes."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
from mcp.client import stdio as mcp_stdio

# Brain's vault load cache (brain.vault_cache) goes to a folder of this test run, not ~/.cache;
# CLI subprocesses inherit it, and so do servers the MCP stdio client starts (it passes on only
# the variables in this list).
os.environ["BRAIN_CACHE_DIR"] = tempfile.mkdtemp(prefix="brain-test-cache-")
atexit.register(shutil.rmtree, os.environ["BRAIN_CACHE_DIR"], ignore_errors=True)
mcp_stdio.DEFAULT_INHERITED_ENV_VARS.append("BRAIN_CACHE_DIR")


def write_vault(root: Path, notes: dict[str, str]) -> Path:
    """Write {relative path: text} into root (text dedented); returns root."""
    for rel, text in notes.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_vault(tmp_path):
    """Factory: make_vault({path: text}) -> vault root folder."""

    def _make(notes: dict[str, str], name: str = "vault") -> Path:
        return write_vault(tmp_path / name, notes)

    return _make


@pytest.fixture
def anyio_backend():
    """Async tests (pytest.mark.anyio) run on asyncio."""
    return "asyncio"
