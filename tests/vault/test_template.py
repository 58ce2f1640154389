"""The starter vault: it loads cleanly, its templates stay out of the company, Obsidian can open it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brain.graph.company import CompanyGraph
from brain.vault.reader import read_vault
from brain.vault.template import template_path

TEMPLATE = template_path()
NOTE_TYPES = ("agent", "tool", "integration", "person", "team", "change", "price")


@pytest.fixture(scope="module")
def graph() -> CompanyGraph:
    return CompanyGraph.from_vault(read_vault(TEMPLATE))


def test_every_note_loads_without_yaml_errors(graph):
    vault = read_vault(TEMPLATE)
    assert vault.issues == []
    assert [n.id for n in vault.notes.values() if n.error] == []


def test_no_inventory_gaps_and_no_ghost_nodes(graph):
    assert [g.as_dict() for g in graph.inventory_gaps()] == []
    assert graph.nodes_of_type("ghost") == []


def test_there_is_an_example_of_every_note_type(graph):
    for note_type in NOTE_TYPES:
        assert graph.nodes_of_type(note_type), note_type


def test_templates_are_not_agents_and_link_nowhere(graph):
    templates = {f"Templates/{t.capitalize()}" for t in NOTE_TYPES}
    assert templates <= set(graph.notes)
    for tid in templates:
        assert graph.node(tid)["type"] == "template"
        assert graph.node(tid)["properties"]["type"] == tid.split("/")[1].lower()
        assert list(graph.g.out_edges(tid)) == []
    assert not templates & {i.node_id for i in graph.agent_identities()}


def test_agent_template_carries_the_fields_to_fill_in(graph):
    props = graph.node("Templates/Agent")["properties"]
    for key in ("agent_id", "owner", "model", "provider", "api_keys", "service_names", "depends_on", "status"):
        assert key in props, key
    change = graph.node("Templates/Change")["properties"]
    assert change["expected_cost_change"] is False
    assert {"agent", "date", "kind", "summary"} <= set(change)


def test_example_links_become_typed_relations(graph):
    relations = {(u, v, d["relation"]) for u, v, d in graph.g.edges(data=True)}
    assert ("Agents/Support Agent", "People/Ada Lovelace", "owned_by") in relations
    assert ("Agents/Support Agent", "Tools/Vector Store", "depends_on") in relations
    assert ("Agents/Meeting Notes Bot", "Tools/Vector Store", "depends_on") in relations  # Dataview field
    assert ("People/Ada Lovelace", "Teams/Platform", "member_of") in relations
    assert ("Changes/2025-01-15 Support Agent prompt v2", "Agents/Support Agent", "changes") in relations
    assert graph.owner_of("Support Agent")["team"] == "Platform"
    assert {a["name"] for a in graph.impact("Vector Store")} == {"Meeting Notes Bot", "Support Agent"}


def test_obsidian_config_is_valid_and_points_at_the_templates():
    obsidian = TEMPLATE / ".obsidian"
    config = {p.name: json.loads(p.read_text()) for p in obsidian.glob("*.json")}
    assert {"app.json", "templates.json", "core-plugins.json", "graph.json"} <= set(config)
    assert config["app.json"]["userIgnoreFilters"] == []
    assert config["templates.json"]["folder"] == "Templates"
    assert config["core-plugins.json"]["templates"] is True
    queries = {g["query"] for g in config["graph.json"]["colorGroups"]}
    assert {"path:Agents", "path:Tools", "path:Integrations", "path:People", "path:Teams", "path:Changes"} <= queries


def test_gitignore_keeps_the_store_and_workspace_out():
    ignored = (TEMPLATE / ".gitignore").read_text().split()
    for entry in (".brain/", ".obsidian/workspace.json", ".obsidian/workspace-mobile.json", ".trash/"):
        assert entry in ignored


def test_the_package_data_patterns_ship_every_starter_vault_file():
    # `pip install .` (not editable) ships only what pyproject's package-data lists; setuptools
    # expands those patterns like glob, where `*` skips dot-files: each must be listed.
    import glob
    import os
    import tomllib

    pyproject = tomllib.loads((TEMPLATE.parent / "pyproject.toml").read_text())
    shipped = {
        Path(p).relative_to(TEMPLATE).as_posix()
        for pattern in pyproject["tool"]["setuptools"]["package-data"]["brain.vault_template"]
        for p in glob.glob(str(TEMPLATE / pattern))
        if Path(p).is_file()
    }
    tree = {
        (Path(d) / f).relative_to(TEMPLATE).as_posix()
        for d, _, files in os.walk(TEMPLATE)
        for f in files
    }
    assert len(tree) > 20 and shipped == tree


# -- `brain init` -----------------------------------------------------------------------------


def test_init_copies_the_starter_vault(tmp_path):
    from brain.cli import main

    assert main(["init", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "Home.md").is_file()
    assert (tmp_path / "v" / ".obsidian" / "templates.json").is_file()
    assert (tmp_path / "v" / ".gitignore").is_file()

    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(tmp_path / "v") == files(TEMPLATE)  # every starter file, byte for byte, dot-files too


def test_init_refuses_a_non_empty_folder_unless_forced(tmp_path, capsys):
    from brain.cli import main

    (tmp_path / "mine.md").write_text("my notes\n")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "not empty" in err and err.count("\n") == 1
    assert not (tmp_path / "Home.md").exists()
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "Home.md").is_file()
    assert (tmp_path / "mine.md").read_text() == "my notes\n"


def test_init_force_keeps_the_users_files_byte_for_byte(tmp_path, capsys):
    from brain.cli import main

    home = b"# My own home\r\nmy notes, not the starter's \xe2\x9c\x93\n"
    app = b'{"userIgnoreFilters": ["Private/"], "vimMode": true}'
    (tmp_path / ".obsidian").mkdir()
    (tmp_path / "Home.md").write_bytes(home)
    (tmp_path / ".obsidian" / "app.json").write_bytes(app)
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "Home.md").read_bytes() == home
    assert (tmp_path / ".obsidian" / "app.json").read_bytes() == app
    assert (tmp_path / "Agents" / "Support Agent.md").read_bytes() == (TEMPLATE / "Agents" / "Support Agent.md").read_bytes()
    assert (tmp_path / ".obsidian" / "templates.json").is_file()
    assert "Kept 2 existing files as they were" in capsys.readouterr().out


def test_init_twice_with_force_copies_nothing_and_keeps_everything(tmp_path):
    from brain.vault.template import init_vault

    first = init_vault(tmp_path / "v")
    assert first.kept == () and first.copied > 20
    (first.path / "Home.md").write_text("edited\n")
    again = init_vault(tmp_path / "v", force=True)
    assert again.copied == 0 and len(again.kept) == first.copied and "Home.md" in again.kept
    assert (first.path / "Home.md").read_text() == "edited\n"


def test_init_where_it_cannot_write_is_one_error_line(tmp_path, capsys):
    from brain.cli import main

    (tmp_path / "afile").write_text("x")
    assert main(["init", str(tmp_path / "afile" / "vault")]) == 1  # like /proc/nope: no folder can be made
    err = capsys.readouterr().err
    assert err.startswith("Error: cannot create the starter vault in ") and err.count("\n") == 1
    assert err.rstrip().endswith("Not a directory")
