"""The reference docs are generated from the code (docs/reference.py, through cog): docs/cli.md
from the argument parser, docs/mcp.md and the README's MCP counts from a live server's listings,
the layout table in docs/internals.md from the packages' docstrings. Stale docs fail here and in
`python3 run.py test` (cog --check), instead of regex checks of hand-written text."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATED = ("docs/cli.md", "docs/mcp.md", "docs/internals.md", "README.md")


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


def test_every_generated_doc_is_checked_by_the_test_command():
    """A file with a cog block that `python3 run.py test` does not check would go stale unseen."""
    run_py = (REPO / "run.py").read_text(encoding="utf-8")
    checked = set(re.findall(r'"([^"]+\.md)"', run_py.split("REFERENCE_DOCS =", 1)[1].split("\n", 1)[0]))
    with_cog = {p.relative_to(REPO).as_posix() for p in [*REPO.glob("*.md"), *REPO.glob("docs/*.md")]
                if "[[[cog" in p.read_text(encoding="utf-8")}
    assert with_cog == checked == set(GENERATED)


def test_every_relative_link_in_the_docs_resolves_and_the_readme_links_every_doc():
    pages = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        text = re.sub(r"```.*?```|`[^`\n]*`", "", page.read_text(encoding="utf-8"), flags=re.S)  # code is no link
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            assert (page.parent / target.split("#", 1)[0]).exists(), f"{page.name} links to {target}, which does not exist"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for doc in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{doc.name})" in readme, f"the README does not link docs/{doc.name}"


def test_the_readme_picture_is_a_small_png():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (picture,) = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    data = (REPO / picture).read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) < 150_000


def test_the_canonical_row_and_field_table_match_the_schema():
    from brain.ingest.conform import CANONICAL_SCHEMA

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    row = json.loads(re.search(r'^(\{"timestamp".*\})$', readme, re.M).group(1))
    assert list(row) == CANONICAL_SCHEMA.names
    usage = (REPO / "docs" / "usage.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| `(\w+)` \|", usage, re.M) == CANONICAL_SCHEMA.names


def test_benchmark_history_lives_in_the_changelog():
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8").lower()
        for phrase in ("this round", "last round", "rounds ago", "previous round", "earlier run"):
            assert phrase not in text, f"{page.name} says {phrase!r}: history goes to CHANGELOG.md"
