"""The reference docs are generated from the code (docs/reference.py, through cog): docs/cli.md
from the argument parser, docs/mcp.md and the README's MCP counts from a live server's listings,
the README's layout table from the packages' docstrings. Stale docs fail here and in
`python3 run.py test` (cog --check), instead of regex checks of hand-written text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATED = ("docs/cli.md", "docs/mcp.md", "README.md")


@pytest.mark.e2e
def test_docs_list_every_tool_with_its_arguments():
    done = subprocess.run([sys.executable, "-m", "cogapp", "--check", *GENERATED], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.e2e
def test_a_stale_reference_doc_fails_the_check(tmp_path):
    stale = tmp_path / "cli.md"
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    stale.write_text(text.replace("### `brain graph`", "### `brain graaph`", 1), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "cogapp", "--check", str(stale)], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "changed" in (done.stdout + done.stderr).lower()
