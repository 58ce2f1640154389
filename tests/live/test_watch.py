"""A real watchdog watcher on a tmp vault keeps the graph current (waits on events, never sleeps)."""

from __future__ import annotations

import os
import shutil

import pytest

from brain.graph.company import CompanyGraph
from brain.live.watch import VaultWatcher
from brain.vault.reader import read_vault

pytestmark = pytest.mark.e2e

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


def _cold_edges(root):
    return _edges(CompanyGraph.from_vault(read_vault(root)))


def test_note_moved_to_trash_or_a_dot_folder_is_gone_as_in_a_cold_load(live):
    """QA live2 #1: `.trash/` and dot-folders are not read at all, so links to notes moved there break."""
    root, graph, w, _ = live
    _write(root / "Tools/Index.md", "see [[Trash Me]] and [[Ada]]")
    _write(root / "Tools/Trash Me.md", "x")
    assert w.wait_for(lambda: "Tools/Index" in graph.notes and "Tools/Trash Me" in graph.notes, 5)
    (root / ".trash").mkdir()
    os.rename(root / "Tools/Trash Me.md", root / ".trash/Trash Me.md")  # Obsidian's "move to .trash"
    assert w.wait_for(lambda: "Tools/Trash Me" not in graph.notes, 5)
    assert w.wait_for(lambda: _edges(graph) == _cold_edges(root), 5)
    assert graph.node("Trash Me")["type"] == "ghost"
    assert not graph.resolver.has_file(".trash/Trash Me.md")
    os.rename(root / "People", root / ".People")  # a hidden folder
    assert w.wait_for(lambda: "People/Ada" not in graph.notes, 5)
    assert w.wait_for(lambda: _edges(graph) == _cold_edges(root), 5)
    assert graph.node("Ada")["type"] == "ghost"
    assert graph.owner_of("Bot")["person"] is None


def test_a_known_note_that_becomes_unreadable_keeps_its_gap(live):
    """QA live2 #4: the unreadable_file issue outlives the note's removal."""
    root, graph, w, _ = live
    (root / "Agents/Bot.md").write_bytes(b"\x00\x01binary now")
    assert w.wait_for(lambda: "Agents/Bot" not in graph.notes and "Agents/Bot.md" in graph.issues, 5)
    assert "binary" in graph.issues["Agents/Bot.md"].message
    _write(root / "Agents/Bot.md", "---\nowner: '[[Ada]]'\n---\n")  # readable again: the gap goes
    assert w.wait_for(lambda: "Agents/Bot" in graph.notes and "Agents/Bot.md" not in graph.issues, 5)


def test_templates_folder_changed_while_watching_retypes_notes(make_vault):
    """QA live2 #5: a new templates folder in .obsidian/templates.json is applied, as a cold load does."""
    root = make_vault({
        **BASE,
        ".obsidian/templates.json": '{"folder": "Templates"}',
        "Templates/Agent.md": "---\ntype: agent\n---\n",
        "Drafts/Change.md": "---\ntype: change\nagent: '[[Bot]]'\n---\n",
    })
    graph = CompanyGraph.from_vault(read_vault(root))
    assert graph.notes["Templates/Agent"].type == "template"
    with VaultWatcher(graph, root, debounce_s=0.03) as w:
        assert w.wait_for(lambda: w.generation >= 1, 5)
        tmp = root / ".obsidian/templates.json.tmp"
        tmp.write_text('{"folder": "Drafts/"}', encoding="utf-8")
        os.replace(tmp, root / ".obsidian/templates.json")
        assert w.wait_for(lambda: graph.notes["Drafts/Change"].type == "template", 5)
        assert graph.notes["Templates/Agent"].type == "agent"
        assert graph.templates == "Drafts"
        assert _edges(graph) == _cold_edges(root)


def test_vault_folder_deleted_and_restored_is_rescanned(live, tmp_path):
    """QA live2 #2: rm -rf + restore (a re-clone, a backup) at the same path: watched anew, rescanned."""
    root, graph, w, _ = live
    backup = shutil.copytree(root, tmp_path / "backup")
    shutil.rmtree(root)
    assert w.wait_for(lambda: w.root_lost, 10)
    assert "People/Ada" in graph.notes  # the last graph is served meanwhile
    shutil.copytree(backup, root)
    _write(root / "Tools/After Restore.md", "x")
    assert w.wait_for(lambda: "Tools/After Restore" in graph.notes and "Agents/Bot" in graph.notes, 10)
    _write(root / "Tools/Later.md", "[[Vector Store]]")  # and it is watched again
    assert w.wait_for(lambda: "Tools/Later" in graph.notes, 5)
    assert w.wait_for(lambda: _edges(graph) == _cold_edges(root), 5)


def test_vault_folder_moved_away_and_back_is_rescanned(live, tmp_path):
    """QA live2 #2: `mv vault away; ...; mv away vault` leaves no stale graph."""
    root, graph, w, _ = live
    away = tmp_path / "away"
    os.rename(root, away)
    assert w.wait_for(lambda: w.root_lost, 10)
    _write(away / "Tools/Made Away.md", "x")
    (away / "People/Grace.md").unlink()
    os.rename(away, root)
    assert w.wait_for(lambda: "Tools/Made Away" in graph.notes and "People/Grace" not in graph.notes, 10)
    assert not w.root_lost
    _write(root / "Tools/Later.md", "x")
    assert w.wait_for(lambda: "Tools/Later" in graph.notes, 5)


def _vault_with_links(make_vault, tmp_path):
    root = make_vault(BASE)
    ext = tmp_path / "external"
    _write(ext / "Linked Bot.md", "---\ntype: agent\n---\nv1\n")
    _write(tmp_path / "ext-tool.md", "---\ntype: tool\n---\n")
    os.symlink(ext, root / "Linked")
    os.symlink(tmp_path / "ext-tool.md", root / "Tools/Ext.md")
    return root, ext


def test_changes_inside_a_symlinked_folder_and_note_are_seen(make_vault, tmp_path):
    """QA live2 #3: a folder or note linked in from elsewhere is watched through its target."""
    root, ext = _vault_with_links(make_vault, tmp_path)
    graph = CompanyGraph.from_vault(read_vault(root))
    with VaultWatcher(graph, root, debounce_s=0.03) as w:
        assert w.wait_for(lambda: w.generation >= 1, 5)
        _write(ext / "Linked Bot 2.md", "---\ntype: agent\n---\n")  # through the real path
        (root / "Linked/Linked Bot.md").write_text("---\ntype: agent\nowner: '[[Platform]]'\n---\nv2\n")  # through the link
        _write(ext / "Deeper/Inner.md", "x")
        assert w.wait_for(lambda: "Linked/Linked Bot 2" in graph.notes and "Linked/Deeper/Inner" in graph.notes, 5)
        assert w.wait_for(lambda: (graph.owner_of("Linked/Linked Bot") or {}).get("team") == "Platform", 5)
        assert graph.notes["Tools/Ext"].type == "tool"
        tmp = tmp_path / "ext-tool.md.tmp"
        tmp.write_text("---\ntype: agent\n---\n", encoding="utf-8")
        os.replace(tmp, tmp_path / "ext-tool.md")  # the linked note's target saved atomically
        assert w.wait_for(lambda: graph.notes["Tools/Ext"].type == "agent", 5)
        (ext / "Linked Bot 2.md").unlink()
        assert w.wait_for(lambda: "Linked/Linked Bot 2" not in graph.notes, 5)
        assert _edges(graph) == _cold_edges(root)


def test_symlinks_added_and_removed_while_watching_are_watched_and_dropped(live, tmp_path):
    root, graph, w, _ = live
    ext = tmp_path / "later-external"
    _write(ext / "A.md", "a")
    os.symlink(ext, root / "Later")
    assert w.wait_for(lambda: "Later/A" in graph.notes and "Later" in w.links, 5)
    _write(ext / "B.md", "b")
    assert w.wait_for(lambda: "Later/B" in graph.notes, 5)
    (root / "Later").unlink()
    assert w.wait_for(lambda: "Later/A" not in graph.notes and "Later" not in w.links, 5)
    _write(ext / "C.md", "c")  # no longer in the vault
    _write(root / "Tools/Marker.md", "m")
    assert w.wait_for(lambda: "Tools/Marker" in graph.notes, 5)
    assert not any(n.startswith("Later/") for n in graph.notes)


def test_a_vault_watch_stopped_by_its_folder_going_is_restarted(live):
    """A deleted folder stops its emitter though the observer thread lives on; the health check restarts it."""
    root, graph, w, _ = live
    emitter = next(e for e in list(w._observer.emitters) if e.watch == w._root_watch)
    emitter.stop()
    emitter.join(2)
    assert w.wait_for(lambda: w.restarts >= 1, 10)
    _write(root / "Tools/After Restart.md", "x")
    assert w.wait_for(lambda: "Tools/After Restart" in graph.notes, 5)
