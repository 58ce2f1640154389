"""The vault load cache: a cached load gives exactly what a fresh read_vault + from_vault gives."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brain.facade import Brain
from brain.graph.cache import CACHE_FILE, cache_dir_for, load_vault_graph
from brain.graph.company import CompanyGraph
from brain.settings import Settings
from brain.vault.reader import read_vault

COMPANY = {
    "Agents/Support Agent.md": """
    ---
    type: agent
    owner: "[[Ada Lovelace]]"
    uses: ["[[Vector Store]]", "[[CRM]]"]
    ---
    Answers tickets. See [[Missing Thing]] and [[missing thing#Part]].
    """,
    "Agents/Research Assistant.md": """
    ---
    agent_id: research
    owner: "[[Platform]]"
    depends_on: ["[[Search API]]"]
    ---
    Uses ![[diagram.png]] and [[Support Agent#Nope]].
    """,
    "People/Ada Lovelace.md": "---\ntype: person\nteam: \"[[Platform]]\"\n---\n",
    "Teams/Platform.md": "---\ntype: team\n---\n# Platform\n",
    "Tools/Vector Store.md": "---\ntype: tool\nowner: [[Ada Lovelace]]\n---\n",
    "Tools/Search API.md": "---\ntype: tool\nbroken: [unclosed\n---\n",
    "Templates/Agent.md": "---\ntype: agent\nowner: \"[[{{owner}}]]\"\n---\n",
    "Archive/Old Bot.md": "---\ntype: agent\n---\n",
    "diagram.png": b"\x89PNG",
    "Notes/binary.md": b"\x00\x01binary",
}


def fresh(root: Path) -> tuple:
    vault = read_vault(root)
    return vault, CompanyGraph.from_vault(vault)


def snapshot(vault, graph: CompanyGraph) -> dict:
    """Everything a load gives, in order: the vault, nodes, edges (keys, attributes), in-edges, answers."""
    g = graph.g
    r = graph.resolver
    return {
        "vault": (list(vault.notes.items()), vault.files, vault.issues, vault.ignore_filters, vault.templates, vault.root),
        "nodes": list(g.nodes(data=True)),
        "edges": list(g.edges(keys=True, data=True)),
        "in": [(n, list(g.in_edges(n, keys=True))) for n in g],
        "notes": list(graph.notes.items()),
        "issues": list(graph.issues.items()),
        "config": (graph.root, graph.ignore_filters, graph.templates),
        "resolver": (r._notes.by_path, {k: sorted(v) for k, v in r._notes.by_name.items()}, r._excluded,
                     r._files.by_path, {k: sorted(v) for k, v in r._files.by_name.items()}),
        "sources": {k: v for k, v in graph._sources_by_key.items() if v},
        "ghosts": sorted(graph._ghost_by_fold.items()),
        "gaps": graph.inventory_gaps(),
        "links": [graph.links_of(n) for n in g],
        "stats": graph.stats(),
        "identities": graph.agent_identities(),
    }


def assert_same_as_fresh(root: Path, cache: Path, share: float = 1.0):
    vault, graph, report = load_vault_graph(root, cache, max_changed_share=share)
    assert snapshot(vault, graph) == snapshot(*fresh(root))
    return report


class Clock:
    """File times one second apart, an hour ago: out of the racy window, and never the same twice."""

    def __init__(self) -> None:
        self.t = time.time_ns() - 3600 * 10**9

    def stamp(self, path: Path) -> None:
        self.t += 10**9
        os.utime(path, ns=(self.t, self.t))

    def age(self, root: Path) -> None:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                self.stamp(p)


@pytest.fixture
def company(tmp_path, write_vault):
    root = write_vault(tmp_path / "vault", COMPANY)
    clock = Clock()
    clock.age(root)
    return root, tmp_path / "cache", clock


def test_unchanged_vault_is_served_from_the_cache(company):
    root, cache, _ = company
    first = assert_same_as_fresh(root, cache)
    assert (first.mode, first.saved) == ("fresh", True)
    second = assert_same_as_fresh(root, cache)
    assert (second.mode, second.reread, second.saved) == ("cached", 0, False)
    assert not any(p.name for p in root.rglob("*.pickle"))  # never inside the vault


def test_an_edited_note_is_re_read_and_applied_incrementally(company):
    root, cache, clock = company
    assert_same_as_fresh(root, cache)
    p = root / "Agents/Support Agent.md"
    p.write_text(p.read_text().replace("[[Ada Lovelace]]", "[[Grace Hopper]]").replace("[[CRM]]", "[[Search API]]"))
    clock.stamp(p)
    report = assert_same_as_fresh(root, cache)
    assert (report.mode, report.reread, report.saved) == ("updated", 1, True)
    assert assert_same_as_fresh(root, cache).mode == "cached"


def test_added_note_resolves_a_ghost_and_a_deleted_one_becomes_one(company, write_vault):
    root, cache, clock = company
    assert_same_as_fresh(root, cache)
    write_vault(root, {"Tools/CRM.md": "---\ntype: tool\n---\nLinks [[Missing Thing]]\n"})
    clock.stamp(root / "Tools/CRM.md")
    assert assert_same_as_fresh(root, cache).mode == "updated"
    (root / "People/Ada Lovelace.md").unlink()
    report = assert_same_as_fresh(root, cache)
    assert (report.mode, report.removed) == ("updated", 1)


def test_renamed_and_moved_notes_and_attachments(company):
    root, cache, clock = company
    assert_same_as_fresh(root, cache)
    (root / "Tools/Vector Store.md").rename(root / "Tools/Vectors.md")
    (root / "Archive").rename(root / "Agents/Archive")
    (root / "diagram.png").rename(root / "Teams/diagram.png")
    assert assert_same_as_fresh(root, cache).mode == "updated"
    (root / "Teams/diagram.png").unlink()
    assert assert_same_as_fresh(root, cache).mode == "updated"


def test_a_same_size_edit_in_the_racy_window_with_its_mtime_restored_is_seen(tmp_path, write_vault):
    root = write_vault(tmp_path / "vault", COMPANY)  # written just now: within the racy window
    cache = tmp_path / "cache"
    assert_same_as_fresh(root, cache)
    p = root / "Teams/Platform.md"
    before = p.stat()
    p.write_text(p.read_text().replace("Platform", "Platfxrm"))
    os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = p.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert_same_as_fresh(root, cache)
    assert "Teams/Platfxrm" not in read_vault(root).notes  # the heading changed, not the path
    assert load_vault_graph(root, cache)[0].notes["Teams/Platform"].headings == ("Platfxrm",)


def test_obsidian_config_changes_mean_a_fresh_load(company, write_vault):
    root, cache, _ = company
    assert_same_as_fresh(root, cache)
    write_vault(root, {".obsidian/app.json": json.dumps({"userIgnoreFilters": ["Archive/"]})})
    report = assert_same_as_fresh(root, cache)
    assert (report.mode, report.reason) == ("fresh", "config changed")
    write_vault(root, {".obsidian/templates.json": json.dumps({"folder": "Templates"})})
    assert assert_same_as_fresh(root, cache).reason == "config changed"
    assert load_vault_graph(root, cache)[0].notes["Templates/Agent"].type == "template"
    assert assert_same_as_fresh(root, cache).mode == "cached"


@pytest.mark.parametrize("damage", [b"", b"garbage", "truncate"])
def test_a_corrupt_cache_file_means_a_fresh_load(company, damage):
    root, cache, _ = company
    assert_same_as_fresh(root, cache)
    f = next(cache.rglob(CACHE_FILE))
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2] if damage == "truncate" else damage)
    report = assert_same_as_fresh(root, cache)
    assert report.mode == "fresh" and report.saved
    assert assert_same_as_fresh(root, cache).mode == "cached"


def test_an_unwritable_cache_dir_only_costs_speed(company):
    root, tmp, _ = company
    blocker = tmp.parent / "a-file"
    blocker.write_text("not a folder")
    report = assert_same_as_fresh(root, blocker / "cache")
    assert (report.mode, report.saved) == ("fresh", False)


def test_too_many_changes_mean_a_fresh_graph(company):
    root, cache, clock = company
    assert_same_as_fresh(root, cache, share=0.2)
    for p in sorted(root.glob("*/*.md"))[:4]:
        p.write_text(p.read_text() + "\nmore\n")
        clock.stamp(p)
    report = assert_same_as_fresh(root, cache, share=0.2)
    assert report.mode == "fresh" and "20%" in report.reason


def test_cache_location_and_switch(tmp_path, monkeypatch, write_vault):
    root = write_vault(tmp_path / "vault", COMPANY)
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert cache_dir_for(root, env).parent == tmp_path / "xdg" / "company-brain"
    assert cache_dir_for(root, {**env, "BRAIN_CACHE_DIR": str(tmp_path / "c")}).parent == tmp_path / "c"
    assert cache_dir_for(root, {**env, "BRAIN_NO_CACHE": "1"}) is None
    assert cache_dir_for(root, env) != cache_dir_for(tmp_path, env)
    monkeypatch.setenv("BRAIN_CACHE_DIR", str(tmp_path / "c"))
    Brain(Settings(vault=root)).graph  # noqa: B018 - loading is the point
    assert list((tmp_path / "c").rglob(CACHE_FILE))
    assert list((tmp_path / "c").rglob(CACHE_FILE)) == [cache_dir_for(root, {"BRAIN_CACHE_DIR": str(tmp_path / "c")}) / CACHE_FILE]
    monkeypatch.setenv("BRAIN_CACHE_DIR", str(tmp_path / "off"))
    monkeypatch.setenv("BRAIN_NO_CACHE", "1")
    assert Brain(Settings(vault=root)).graph.find("Platform") == "Teams/Platform"
    assert not (tmp_path / "off").exists()


# -- random edits ----------------------------------------------------------------------------------

NAMES = ["Agents/Bot", "Agents/bot2", "Tools/Bot", "Tools/Store", "People/Ada", "Teams/Core", "Core", "Notes/Sub/Deep"]
TARGETS = ["Bot", "bot", "BOT", "Store", "Tools/Bot", "Ada", "Core", "core", "Ghost", "ghost", "Deep",
           "Sub/Deep", "pic.png", "Nope#Head", "Ada#^blk", "Bot.md"]
FILES = ["pic.png", "Tools/pic.png", "doc.pdf"]


def _note_text(links: list[str], owner: str | None, flavour: int) -> str:
    fm = f"---\nowner: \"[[{owner}]]\"\n---\n" if owner else ""
    fm = "---\nbroken: [x\n---\n" if flavour == 3 else fm
    body = " ".join(f"[[{t}]]" if i % 3 else f"depends_on:: [[{t}]]\n" for i, t in enumerate(links))
    return fm + body + ("\n# Head\n^blk\n" if flavour == 1 else "\n")


edit = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.lists(st.sampled_from(TARGETS), max_size=4),
              st.none() | st.sampled_from(TARGETS), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("move"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("file"), st.sampled_from(FILES)),
    st.tuples(st.just("unfile"), st.sampled_from(FILES)),
)


def _apply(root: Path, op: tuple, clock: Clock) -> None:
    kind = op[0]
    if kind == "write":
        p = root / f"{op[1]}.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_note_text(op[2], op[3], op[4]))
        clock.stamp(p)
    elif kind == "delete":
        (root / f"{op[1]}.md").unlink(missing_ok=True)
    elif kind == "move" and (root / f"{op[1]}.md").exists() and not (root / f"{op[2]}.md").exists():
        (root / f"{op[2]}.md").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{op[1]}.md").rename(root / f"{op[2]}.md")
    elif kind == "file":
        (root / op[1]).parent.mkdir(parents=True, exist_ok=True)
        (root / op[1]).write_bytes(b"x")
        clock.stamp(root / op[1])
    elif kind == "unfile":
        (root / op[1]).unlink(missing_ok=True)


@pytest.mark.e2e
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.lists(edit, min_size=3, max_size=10), rounds=st.lists(st.lists(edit, min_size=1, max_size=3), min_size=1, max_size=4))
def test_random_edit_sequences_load_as_fresh(tmp_path_factory, start, rounds):
    base = tmp_path_factory.mktemp("random")
    root, cache, clock = base / "vault", base / "cache", Clock()
    root.mkdir()
    for op in start:
        _apply(root, op, clock)
    assert_same_as_fresh(root, cache)
    for ops in rounds:
        for op in ops:
            _apply(root, op, clock)
        assert_same_as_fresh(root, cache)


def test_a_ghost_keeps_the_name_a_fresh_load_gives_it(tmp_path, write_vault):
    """A fresh load names a broken link's ghost after the first link to it (in vault order); an
    incremental update that would keep another spelling builds the graph afresh instead."""
    clock = Clock()
    root = write_vault(tmp_path / "vault", {"B.md": "[[Ghost]]\n", "C.md": "x\n", "D.md": "y\n"})
    clock.age(root)
    cache = tmp_path / "cache"
    assert_same_as_fresh(root, cache)
    write_vault(root, {"A.md": "[[ghost]]\n"})
    clock.stamp(root / "A.md")
    vault, graph, report = load_vault_graph(root, cache, max_changed_share=1.0)
    assert "ghost" in graph.g and "Ghost" not in graph.g
    assert snapshot(vault, graph) == snapshot(*fresh(root))
    (root / "A.md").unlink()
    assert_same_as_fresh(root, cache)
    assert "Ghost" in load_vault_graph(root, cache)[1].g


def test_a_note_made_unreadable_by_chmod_is_re_read_not_served(company):
    """QA live2 #6: chmod 000 changes neither size, mtime nor inode; the cache must not serve the note."""
    root, cache, _ = company
    assert_same_as_fresh(root, cache)
    note = root / "Agents/Research Assistant.md"
    mtime = note.stat().st_mtime_ns
    note.chmod(0o000)
    try:
        assert note.stat().st_mtime_ns == mtime
        report = assert_same_as_fresh(root, cache)  # as root the file stays readable: same note, re-read
        assert report.reread == 1
        if not os.access(note, os.R_OK):  # without root: gone from the graph, reported as unreadable
            vault, graph, _ = load_vault_graph(root, cache)
            assert "Agents/Research Assistant" not in graph.notes
            assert "Agents/Research Assistant.md" in {i.path for i in vault.issues}
    finally:
        note.chmod(0o644)
    assert assert_same_as_fresh(root, cache).reread == 1  # the mode changed back: read again
