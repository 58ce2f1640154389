"""Reading a real vault folder: skips, ignore filters, frontmatter, tags and bad files."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from brain.errors import VaultError
from brain.graph.company import CompanyGraph
from brain.vault.reader import (
    fast_frontmatter,
    normalise_value,
    parse_note,
    read_note_file,
    read_vault,
    walk_vault,
)
from brain.vault.yaml12 import load_yaml


def test_skips_dot_folders_and_user_ignore_filters(make_vault):
    root = make_vault(
        {
            "Keep.md": "x",
            ".obsidian/app.json": json.dumps({"userIgnoreFilters": ["Archive/", "/^Drafts/.*secret/"]}),
            ".obsidian/Hidden.md": "no",
            ".brain/Gen.md": "no",
            ".trash/Old.md": "no",
            ".git/Also.md": "no",
            "Archive/Old.md": "no",
            "Drafts/top secret.md": "no",
            "Drafts/fine.md": "yes",
        }
    )
    assert sorted(read_vault(root).notes) == ["Drafts/fine", "Keep"]


def test_links_to_excluded_files_resolve_without_nodes_like_attachments(make_vault):
    root = make_vault(
        {
            ".obsidian/app.json": json.dumps({"userIgnoreFilters": ["Archive/", "/secret/"]}),
            "Archive/Old.md": "[[src]]",
            "Archive/Deep/Older.md": "x",
            "Archive/scan.pdf": b"%PDF",
            "Drafts/top secret.md": "x",
            "src.md": "[[Old]] [[Archive/Old#Heading]] [[Older]] ![[scan.pdf]] [[top secret]] [o](Archive/Old.md) [[Nope]]",
        }
    )
    vault = read_vault(root)
    assert sorted(vault.notes) == ["src"]
    g = CompanyGraph.from_vault(vault)
    assert [v for _, v in g.g.out_edges("src")] == ["Nope"]
    assert [(gap.kind, gap.message) for gap in g.inventory_gaps()] == [
        ("broken_link", "link to 'Nope' in 'src' does not resolve")
    ]
    assert "Archive/Old" not in g.resolver and "Archive/Old" not in g.g
    g.remove_file("Archive/Old.md")  # gone from disk: links to it break
    assert sorted(v for _, v in g.g.out_edges("src")) == ["Archive/Old", "Archive/Old", "Nope", "Old"]
    g.add_file("Archive/Old.md")
    assert [v for _, v in g.g.out_edges("src")] == ["Nope"] and g.nodes_of_type("ghost") == ["Nope"]


def test_frontmatter_is_normalised(make_vault):
    root = make_vault(
        {
            "Agents/Bot.md": """
            ---
            date: 2024-03-05
            when: 2024-03-05T10:20:00Z
            owner: [[Ada]]
            aliases: [Botty, "The Bot"]
            tags: [Cost/High, "#ops"]
            ---
            Body #Inline/Nested #2024 #x2024 text
            ## Costs
            para ^blk-1
            """
        }
    )
    note = read_vault(root).notes["Agents/Bot"]
    assert note.properties["date"] == "2024-03-05"
    assert note.properties["when"].startswith("2024-03-05T10:20:00")
    assert note.properties["owner"] == "[[Ada]]"
    assert note.aliases == ("Botty", "The Bot")
    assert note.tags == ("cost/high", "ops", "inline/nested", "x2024")
    assert note.headings == ("Costs",)
    assert note.block_ids == ("blk-1",)
    assert note.type == "agent"


def test_tag_and_alias_keys_match_in_any_case_like_obsidian():
    note = parse_note("A", "---\nTags: [Ops]\nTAG: cost/High\nAliases: [Botty]\nalias: The Bot\nTagline: no\n---\n#inline\n")
    assert note.tags == ("ops", "cost/high", "inline")
    assert note.aliases == ("Botty", "The Bot")
    note = parse_note("B", "---\nALIASES:\n  - Bee\nTAGS: x, y\naliased: nope\n---\n")
    assert (note.aliases, note.tags) == (("Bee",), ("x", "y"))


def test_type_from_property_folder_or_note():
    assert parse_note("Agents/A", "x").type == "agent"
    assert parse_note("Misc/A", "---\ntype: Person\n---\n").type == "person"
    assert parse_note("Agents/A", "---\ntype: recipe\n---\n").type == "note"
    assert parse_note("A", "x").type == "note"


@pytest.mark.e2e
def test_bad_files_are_reported_and_the_rest_loads(make_vault, tmp_path):
    root = make_vault(
        {
            "Good.md": "[[Broken YAML]] [[Latin1]]",
            "Broken YAML.md": "---\nowner: [unclosed\nteam: x\n---\nbody [[Good]]\n",
            "Latin1.md": "caf\xe9 [[Good]]".encode("latin-1"),
            "Empty.md": "",
            "Binary.md": b"\x00\x01\x02binary",
            "Big.md": "word [[Good]] " * 400_000,
            "Ünïcode and spaces 🚀.md": "---\ntype: tool\n---\n[[Good]]",
            "List FM.md": "---\n- a\n- b\n---\n",
        }
    )
    vault = read_vault(root)
    assert {"Good", "Broken YAML", "Latin1", "Empty", "Big", "Ünïcode and spaces 🚀", "List FM"} <= set(vault.notes)
    assert "Binary" not in vault.notes
    issues = {i.path: i for i in vault.issues}
    assert issues["Broken YAML.md"].line == 3 and "broken YAML" in issues["Broken YAML.md"].message
    assert "UTF-8" in issues["Latin1.md"].message
    assert "binary" in issues["Binary.md"].message
    assert "not a mapping" in issues["List FM.md"].message
    assert vault.notes["Big"].size > 5 * 2**20 and len(vault.notes["Big"].links) == 400_000  # read in full
    assert (issues["Big.md"].severity, issues["Big.md"].kind) == ("warning", "huge_note")
    assert "huge note (5.3 MB, over 5 MB)" in issues["Big.md"].message
    g = CompanyGraph.from_vault(vault)
    broken = g.node("Broken YAML")
    assert broken["error"] and broken["type"] == "note"
    assert g.node("Ünïcode and spaces 🚀")["type"] == "tool"
    kinds = {(gap.kind, gap.node) for gap in g.inventory_gaps()}
    assert ("broken_yaml", "Broken YAML.md") in kinds
    assert [(gap.kind, gap.severity) for gap in g.inventory_gaps() if gap.node == "Big.md"] == [("huge_note", "warning")]


def test_pathological_long_lines_parse_in_linear_time():
    # 100 KB lines: instant when linear; a quadratic pattern takes ~30 s on each (the old heading
    # and Dataview patterns), visibly slow without running for hours. The results show they were
    # parsed in full.
    mb = 100_000
    note = parse_note("x", "# " + "#" * mb + " x\n# a" + " " * mb + "b ##\n")
    assert note.headings == ("#" * mb + " x", "a" + " " * mb + "b")
    note = parse_note("x", "\n".join(["-" * mb + "x", "> k:: [[A]]", "> " * (mb // 2) + "[[B]]"]))
    assert [(lk.target, lk.property) for lk in note.links] == [("A", "k"), ("B", None)]


def test_symlink_to_a_folder_inside_the_vault_is_not_followed(make_vault):
    root = make_vault({"Agents/Bot.md": '---\nowner: "[[Ada]]"\n---\n', "People/Ada.md": "x"})
    (root / "AAA").symlink_to("Agents")  # sorts before the real folder
    (root / "People" / "Again").symlink_to("../Agents")
    (root / "Ada link.md").symlink_to("People/Ada.md")
    vault = read_vault(root)
    assert sorted(vault.notes) == ["Agents/Bot", "People/Ada"]
    assert vault.notes["Agents/Bot"].type == "agent"
    assert vault.issues == [] and vault.files == []
    g = CompanyGraph.from_vault(vault)
    assert [(u, v, d["relation"]) for u, v, d in g.g.edges(data=True)] == [("Agents/Bot", "People/Ada", "owned_by")]
    # The watcher reads single paths and walks touched folders: the same symlinks are skipped.
    assert read_note_file(root, "AAA/Bot.md") == (None, None)
    assert read_note_file(root, "Ada link.md") == (None, None)
    assert list(walk_vault(root / "AAA", (), [], vault_root=root)) == []
    assert list(walk_vault(root / "People", (), [], vault_root=root)) == ["Ada.md"]


def test_symlink_to_the_vault_or_a_folder_around_it_is_not_followed(tmp_path):
    (tmp_path / "Outside.md").write_text("not part of the vault")
    root = tmp_path / "vault"
    (root / "Notes").mkdir(parents=True)
    (root / "Notes" / "A.md").write_text("a")
    (root / "parent").symlink_to("..")
    (root / "Notes" / "self").symlink_to("..")
    (root / "Notes" / "here").symlink_to(".")
    (root / "top").symlink_to("/")
    vault = read_vault(root)
    assert sorted(vault.notes) == ["Notes/A"]
    assert vault.issues == [] and vault.files == []


def test_symlink_to_a_folder_outside_is_followed_once(tmp_path):
    outside = tmp_path / "shared"
    (outside / "sub").mkdir(parents=True)
    (outside / "Shared.md").write_text("[[A]]")
    (outside / "sub" / "Deep.md").write_text("d")
    (outside / "sub" / "up").symlink_to("..")  # a loop outside the vault
    root = tmp_path / "vault"
    root.mkdir()
    (root / "A.md").write_text("[[Shared]]")
    (root / "Linked").symlink_to(outside)
    (root / "Lfile.md").symlink_to(outside / "Shared.md")
    vault = read_vault(root)
    assert sorted(vault.notes) == ["A", "Lfile", "Linked/Shared", "Linked/sub/Deep"]
    assert [(i.path, "symlink loop" in i.message) for i in vault.issues] == [("Linked/sub/up", True)]


def test_missing_vault_is_a_clear_error(tmp_path):
    with pytest.raises(VaultError, match="does not exist"):
        read_vault(tmp_path / "nope")


def test_frontmatter_is_yaml_1_2_like_obsidian(make_vault):
    root = make_vault(
        {
            "Agents/Bot.md": """
            ---
            agent_id: 0755
            api_keys: [0123, key_x]
            start: 12:30
            duration: 190:20:30
            enabled: no
            shout: NO
            on: y
            flag: TRUE
            other: False
            octal: 0o17
            hex: 0x1F
            leading_zero: 012
            exponent: 1e3
            underscore: 1_000
            nothing: ~
            impossible: 2024-13-45
            date: 2024-03-05
            quoted: "0755"
            owner: "[[Ada]]"
            ---
            """,
            "People/Ada.md": "x",
        }
    )
    vault = read_vault(root)
    p = vault.notes["Agents/Bot"].properties
    assert vault.issues == []
    assert (p["start"], p["duration"], p["underscore"], p["impossible"]) == ("12:30", "190:20:30", "1_000", "2024-13-45")
    assert (p["enabled"], p["shout"], p["on"]) == ("no", "NO", "y")
    assert (p["flag"], p["other"], p["nothing"]) == (True, False, None)
    assert (p["octal"], p["hex"], p["leading_zero"], p["exponent"]) == (15, 31, 12, 1000.0)
    assert (p["date"], p["quoted"]) == ("2024-03-05", "0755")
    # Identifiers are compared as text, so they keep the text as written.
    assert (p["agent_id"], p["api_keys"]) == ("0755", ["0123", "key_x"])
    node = CompanyGraph.from_vault(vault).node("Agents/Bot")
    assert (node["agent_id"], node["api_keys"]) == ("0755", ["0123", "key_x"])


def test_fast_path_keeps_identifiers_as_text_too():
    fm = "agent_id: 42\napi_keys: [7, key_a]\nruns: 3"
    assert fast_frontmatter(fm) == load_yaml(fm) == {"agent_id": "42", "api_keys": ["7", "key_a"], "runs": 3}


_values = st.one_of(
    st.from_regex(r'"[^"\\\n]{0,12}"', fullmatch=True),
    st.from_regex(r"[A-Za-z][A-Za-z0-9 _./@+\-:#',\[\]]{0,12}", fullmatch=True),
    st.from_regex(
        r"-?[0-9]{1,6}|0x1F|0o17|012|1_000|1e3|12:30|2024-0[1-9]-[0-3][0-9]|yes|No|ON|TRUE|False|null|~",
        fullmatch=True,
    ),
)
_lines = st.tuples(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,6}|on|y|true|agent_id|api_keys", fullmatch=True),
    st.one_of(_values, st.lists(_values, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")),
)


@pytest.mark.e2e
@settings(max_examples=400, deadline=None)
@given(st.lists(_lines, min_size=1, max_size=6))
def test_fast_frontmatter_agrees_with_yaml(lines):
    fm = "\n".join(f"{k}: {v}" for k, v in lines)
    fast = fast_frontmatter(fm)
    if fast is None:
        return
    try:
        data = load_yaml(fm)
    except yaml.YAMLError:
        raise AssertionError(f"fast path accepted what YAML rejects: {fm!r}") from None
    assert fast == {str(k): normalise_value(v) for k, v in data.items()}
