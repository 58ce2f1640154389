"""The typed company graph: relations, queries, name lookup, inventory gaps, incremental updates."""

from __future__ import annotations

import pytest

from brain.errors import AmbiguousName, NotFound
from brain.graph.company import CompanyGraph
from brain.vault.reader import read_note_file, read_vault

COMPANY = {
    "Agents/Support Agent.md": """
    ---
    type: agent
    owner: "[[Ada Lovelace]]"
    aliases: [Supporter]
    api_keys: [key_support1]
    service_names: [support-svc]
    uses: ["[[Vector Store]]", "[[CRM]]"]
    ---
    Answers tickets.
    """,
    "Agents/Research Assistant.md": """
    ---
    agent_id: research
    owner: "[[Platform]]"
    depends_on: ["[[Search API]]"]
    ---
    """,
    "Agents/Weekend Script.md": "---\napi_keys: [key_dup]\n---\nno owner, secret sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789\n",
    "Agents/Copilot.md": "---\nowner: '[[Ghost Person]]'\napi_keys: [key_dup]\nagent_id: research\n---\n",
    "Tools/Vector Store.md": "---\ndepends_on: '[[Search API]]'\n---\n",
    "Tools/Search API.md": "",
    "Integrations/CRM.md": "",
    "People/Ada Lovelace.md": "---\nteam: '[[Platform]]'\n---\n",
    "Teams/Platform.md": "",
    "Changes/2024-05-01 prompt.md": "---\nagent: '[[Research Assistant]]'\ndate: 2024-05-01\n---\n",
    "Notes/Dup.md": "x",
    "Other/Dup.md": "y",
}


@pytest.fixture
def graph(make_vault):
    return CompanyGraph.from_vault(read_vault(make_vault(COMPANY)))


def test_relations_are_normalised(graph):
    rel = {(u, v): d["relation"] for u, v, d in graph.g.edges(data=True)}
    assert rel[("Agents/Support Agent", "People/Ada Lovelace")] == "owned_by"
    assert rel[("People/Ada Lovelace", "Teams/Platform")] == "member_of"
    assert rel[("Agents/Support Agent", "Integrations/CRM")] == "depends_on"
    assert rel[("Changes/2024-05-01 prompt", "Agents/Research Assistant")] == "changes"
    assert graph.node("Changes/2024-05-01 prompt")["type"] == "change"


def test_dependencies_dependents_and_impact(graph):
    deps = {d["name"]: d["depth"] for d in graph.dependencies("Support Agent", depth=2)}
    assert deps == {"Vector Store": 1, "CRM": 1, "Search API": 2}
    assert {d["name"] for d in graph.dependents("Search API")} == {"Vector Store", "Research Assistant"}
    assert {d["name"] for d in graph.impact("Search API")} == {"Support Agent", "Research Assistant"}


def test_owner_of_follows_person_to_team(graph):
    own = graph.owner_of("support agent")
    assert (own["person"], own["team"]) == ("Ada Lovelace", "Platform")
    own = graph.owner_of("Research Assistant")
    assert (own["person"], own["team"]) == (None, "Platform")


def test_find_by_name_path_alias_agent_id_any_case(graph):
    assert graph.find("SUPPORT AGENT") == "Agents/Support Agent"
    assert graph.find("Agents/Support Agent.md") == "Agents/Support Agent"
    assert graph.find("supporter") == "Agents/Support Agent"
    assert graph.find("support-agent") == "Agents/Support Agent"


def test_find_matches_names_in_either_unicode_normal_form(make_vault):
    nfc, nfd = "Jos\u00e9", "Jose\u0301"
    g = CompanyGraph.from_vault(read_vault(make_vault({f"People/{nfd}.md": f"---\naliases: [{nfd} Q]\n---\n"})))
    assert g.find(nfc) == g.find(nfd) == g.find(f"people/{nfc.upper()}.md") == f"People/{nfd}"
    assert g.find(f"{nfc} q") == f"People/{nfd}"
    assert g.suggest(f"{nfc}x") == [nfd]


def test_ambiguous_name_lists_every_candidate(graph):
    with pytest.raises(AmbiguousName) as exc:
        graph.find("Dup")
    assert exc.value.candidates == ["Notes/Dup", "Other/Dup"]


def test_unknown_name_suggests(graph):
    with pytest.raises(NotFound, match="did you mean 'Support Agent'"):
        graph.find("Suport Agent")


def test_inventory_gaps(graph):
    gaps = graph.inventory_gaps()
    kinds = {(g.kind, g.node) for g in gaps}
    assert ("agent_without_owner", "Agents/Weekend Script") in kinds
    assert ("owner_unresolved", "Agents/Copilot") in kinds
    assert any(k == "duplicate_agent_id" for k, _ in kinds)
    assert any(k == "duplicate_api_key" for k, _ in kinds)
    secret = [g for g in gaps if g.kind == "secret_in_note"]
    assert secret and "abcdefghijklmnopqrstuvwxyz" not in secret[0].message and "sk-ant" in secret[0].message
    assert ("broken_link", "Agents/Copilot") in kinds
    assert kinds == {
        ("owner_unresolved", "Agents/Copilot"), ("agent_without_owner", "Agents/Weekend Script"),
        ("duplicate_agent_id", "Agents/Copilot"), ("duplicate_api_key", "Agents/Copilot"),
        ("secret_in_note", "Agents/Weekend Script"), ("broken_link", "Agents/Copilot"),
    }
    messages = {g.kind: g.message for g in gaps}
    assert messages["duplicate_agent_id"] == "agent_id 'research' is claimed by Agents/Copilot, Agents/Research Assistant"
    assert messages["duplicate_api_key"] == "api key 'key_dup' is claimed by Agents/Copilot, Agents/Weekend Script"


def test_agent_identities(graph):
    ids = {i.name: i for i in graph.agent_identities()}
    sup = ids["Support Agent"]
    assert sup.agent_id == "support-agent" and sup.api_keys == ("key_support1",)
    assert sup.service_names == ("support-svc",) and sup.aliases == ("Supporter",)
    assert (sup.owner, sup.team) == ("Ada Lovelace", "Platform")
    assert ids["Research Assistant"].agent_id == "research"


def _rewrite(root, rel, text):
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")
    note, issue = read_note_file(root, rel)
    return note, issue


def test_incremental_edit_new_note_resolves_ghost_and_delete(make_vault):
    root = make_vault(COMPANY)
    g = CompanyGraph.from_vault(read_vault(root))
    assert g.node("Ghost Person")["type"] == "ghost"
    note, issue = _rewrite(root, "People/Ghost Person.md", "---\nteam: '[[Platform]]'\n---\n")
    g.upsert_note(note, issue)
    assert g.owner_of("Copilot")["person"] == "Ghost Person"
    assert g.node("People/Ghost Person")["type"] == "person"
    assert "Ghost Person" not in g.g  # the ghost node is gone
    # edit the owner by hand
    note, issue = _rewrite(root, "Agents/Support Agent.md", "---\nowner: '[[Ghost Person]]'\n---\n")
    g.upsert_note(note, issue)
    assert g.owner_of("Support Agent")["person"] == "Ghost Person"
    # delete: links to it become ghosts again
    g.remove_note("People/Ghost Person")
    assert g.node("Ghost Person")["type"] == "ghost"
    fresh = CompanyGraph.from_vault(read_vault(root.parent / root.name))
    (root / "People/Ghost Person.md").unlink()
    fresh = CompanyGraph.from_vault(read_vault(root))
    assert sorted(fresh.edges(), key=str) == sorted(g.edges(), key=str)


def test_nfc_and_nfd_spellings_are_one_ghost_and_one_identity(make_vault):
    # macOS writes names in NFD; typed text is NFC. Obsidian treats them as the same name.
    nfc, nfd = "Caf\u00e9 Bot", "Cafe\u0301 Bot"
    root = make_vault({
        "Agents/A.md": f"---\nowner: '[[Ada]]'\nagent_id: {nfc}\napi_keys: [k\u00e9y]\n---\n[[{nfc}]]\n",
        "Agents/B.md": f"---\nowner: '[[Ada]]'\nagent_id: {nfd}\napi_keys: [ke\u0301y]\n---\n[[{nfd}]]\n",
        "People/Ada.md": "",
    })
    g = CompanyGraph.from_vault(read_vault(root))
    ghosts = [n for n, d in g.g.nodes(data=True) if d["type"] == "ghost"]
    assert len(ghosts) == 1
    kinds = {gap.kind for gap in g.inventory_gaps()}
    assert {"duplicate_agent_id", "duplicate_api_key"} <= kinds
    claimed = {gap.kind: gap.message for gap in g.inventory_gaps() if gap.kind.startswith("duplicate_")}
    assert all(m.endswith("is claimed by Agents/A, Agents/B") for m in claimed.values()), claimed


def test_check_flags_an_alias_that_names_another_agent(make_vault):
    root = make_vault({
        "Agents/Alpha.md": "---\ntype: agent\naliases: [beta, Helper]\n---\n",
        "Agents/Beta.md": "---\ntype: agent\n---\n",
        "Agents/Gamma.md": "---\ntype: agent\nagent_id: g-bot\naliases: [G-BOT, Gamma]\n---\n",
    })
    gaps = [g for g in CompanyGraph.from_vault(read_vault(root)).inventory_gaps() if g.kind == "alias_names_other_agent"]
    assert [(g.node, g.severity) for g in gaps] == [("Agents/Alpha", "warning")]
    assert "Agents/Beta" in gaps[0].message
