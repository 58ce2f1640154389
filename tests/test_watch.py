"""A real watchdog watcher on a tmp vault keeps the graph current (waits on events, never sleeps)."""

from __future__ import annotations

import os
import shutil

import pytest

from brain.graph import CompanyGraph
from brain.vault import read_vault
from brain.watch import VaultWatcher

BASE = {
    "Agents/Bot.md": "---\nowner: '[[Ada]]'\nuses: ['[[Vector Store]]']\n---\nbody [[Planner]]\n",
    "People/Ada.md": "---\ntype: person\nteam: '[[Platform]]'\n---\n",
    "People/Grace.md": "---\nteam: '[[Research]]'\n---\n",
    "Teams/Platform.md": "",
    "Teams/Research.md": "",
    "Tools/Vector Store.md": "",
}


@pytest.fixture
def live(make_vault):
    root = make_vault(BASE)
    graph = CompanyGraph.from_vault(read_vault(root))
    changes = []
    w = VaultWatcher(graph, root, on_change=changes.append, debounce_s=0.03)
    w.start()
    assert w.wait_for(lambda: w.generation >= 1, 5)  # the start-up resync
    yield root, graph, w, changes
    w.stop()


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_hand_edit_of_owner_is_seen(live):
    root, graph, w, changes = live
    _write(root / "Agents/Bot.md", "---\nowner: '[[Grace]]'\n---\n")
    assert w.wait_for(lambda: graph.owner_of("Bot")["person"] == "Grace", 5)
    assert graph.owner_of("Bot")["team"] == "Research"
    assert any("Agents/Bot" in c.modified for c in changes)


def test_atomic_save_write_temp_then_rename(live):
    root, graph, w, _ = live
    tmp = root / "Agents/.Bot.md.tmp-123"
    tmp.write_text("---\nowner: '[[Grace]]'\n---\natomic\n", encoding="utf-8")
    os.replace(tmp, root / "Agents/Bot.md")
    assert w.wait_for(lambda: graph.owner_of("Bot")["person"] == "Grace", 5)
    assert ".Bot.md.tmp-123" not in str(list(graph.notes))


def test_new_note_resolves_a_ghost(live):
    root, graph, w, changes = live
    assert graph.node("Planner")["type"] == "ghost"
    _write(root / "Tools/Planner.md", "---\ntype: tool\n---\n")
    assert w.wait_for(lambda: "Tools/Planner" in graph.notes and "Planner" not in graph.g, 5)
    assert ("Agents/Bot", "Tools/Planner") in {(u, v) for u, v in graph.g.edges()}
    assert any("Tools/Planner" in c.added for c in changes)


def test_rename_and_delete(live):
    root, graph, w, _ = live
    os.rename(root / "People/Ada.md", root / "People/Ada King.md")
    assert w.wait_for(lambda: "People/Ada King" in graph.notes and "People/Ada" not in graph.notes, 5)
    assert graph.node("Ada")["type"] == "ghost"  # the old link no longer resolves
    (root / "Tools/Vector Store.md").unlink()
    assert w.wait_for(lambda: "Tools/Vector Store" not in graph.notes, 5)
    assert graph.node("Vector Store")["type"] == "ghost"


def test_folder_move_and_new_folder(live):
    root, graph, w, _ = live
    shutil.move(root / "People", root / "Staff")
    assert w.wait_for(lambda: "Staff/Ada" in graph.notes and "People/Ada" not in graph.notes, 5)
    assert graph.owner_of("Bot")["person"] == "Ada"
    (root / "Integrations/Deep").mkdir(parents=True)
    _write(root / "Integrations/Deep/CRM.md", "crm")
    assert w.wait_for(lambda: "Integrations/Deep/CRM" in graph.notes, 5)


def test_burst_of_1000_files_is_applied(live):
    root, graph, w, _ = live
    folder = root / "Changes"
    folder.mkdir()
    for i in range(1000):
        (folder / f"Change {i:04d}.md").write_text(f"---\nagent: '[[Bot]]'\ndate: 2026-01-01\n---\n{i}\n", encoding="utf-8")
    assert w.wait_for(lambda: sum(1 for n in graph.notes if n.startswith("Changes/")) == 1000, 15)
    assert len([1 for u, v, d in graph.g.in_edges("Agents/Bot", data=True) if d["relation"] == "changes"]) == 1000


def test_dead_observer_is_restarted(live):
    root, graph, w, _ = live
    w._observer.stop()
    w._observer.join(2)
    assert w.wait_for(lambda: w.restarts >= 1 and w._observer.is_alive(), 10)
    _write(root / "Tools/After Restart.md", "x")
    assert w.wait_for(lambda: "Tools/After Restart" in graph.notes, 5)


def test_ignored_and_dot_folders_are_not_read(live):
    root, graph, w, _ = live
    _write(root / ".brain/Costs.md", "generated")
    _write(root / "Tools/Seen.md", "x")
    assert w.wait_for(lambda: "Tools/Seen" in graph.notes, 5)
    assert ".brain/Costs" not in graph.notes


def _edges(graph):
    return sorted((u, v, d["relation"]) for u, v, d in graph.g.edges(data=True))


def test_excluded_notes_stay_link_targets_as_in_a_cold_load(live):
    """Notes in Excluded files are not nodes, yet links to them resolve: live as on a cold load,
    when they appear, go, or become excluded."""
    root, graph, w, _ = live
    _write(root / ".obsidian/app.json", '{"userIgnoreFilters": ["Archive/"]}')
    _write(root / "Tools/Index.md", "see [[Old Bot]] and [[Vector Store]]")
    _write(root / "Archive/Old Bot.md", "---\ntype: agent\n---\n")
    assert w.wait_for(lambda: "Tools/Index" in graph.notes and graph.resolver.has_file("Archive/Old Bot.md"), 5)
    cold = CompanyGraph.from_vault(read_vault(root))
    assert "Archive/Old Bot" not in graph.notes and "Old Bot" not in graph.g
    assert _edges(graph) == _edges(cold)
    shutil.move(root / "Tools/Vector Store.md", root / "Archive/Vector Store.md")  # moved out of sight
    assert w.wait_for(lambda: "Tools/Vector Store" not in graph.notes, 5)
    assert w.wait_for(lambda: _edges(graph) == _edges(CompanyGraph.from_vault(read_vault(root))), 5)
    assert "Vector Store" not in graph.g  # resolves to the excluded note: no ghost
    (root / "Archive/Old Bot.md").unlink()
    assert w.wait_for(lambda: "Old Bot" in graph.g, 5)  # gone: a ghost now, as on a cold load
