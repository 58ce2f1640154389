"""Folders the vault links in are part of it, as in Obsidian: what the graph serves from them,
read_note and vault:// serve too. A path a client sends still never leaves the vault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from brain.facade import Brain
from brain.settings import Settings
from mcp_server import build_server

pytestmark = pytest.mark.anyio

OUTSIDE_AGENT = "---\ntype: agent\nowner: \"[[Ada Lovelace]]\"\n---\n# Linked Agent\n\nKept in a shared folder outside the vault.\n"


@pytest.fixture
def linked_vault(tmp_path, make_company) -> Path:
    """The test company, with a folder linked in from outside and a link out of an ignored folder."""
    vault = make_company(tmp_path / "vault")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "Linked Agent.md").write_text(OUTSIDE_AGENT, encoding="utf-8")
    (vault / "Agents" / "Shared").symlink_to(shared, target_is_directory=True)
    (tmp_path / "secret.md").write_text("secret", encoding="utf-8")
    (vault / ".obsidian" / "app.json").write_text(json.dumps({"userIgnoreFilters": ["Private/"]}), encoding="utf-8")
    (vault / "Private").mkdir()
    (vault / "Private" / "Secret.md").symlink_to(tmp_path / "secret.md")  # not in the graph: ignored folder
    return vault


@pytest.fixture
async def client(linked_vault, tmp_path):
    brain = Brain.open(Settings(vault=linked_vault, store=tmp_path / "u.duckdb"))
    async with Client(build_server(brain)) as c:
        yield c
    brain.close()


async def test_a_note_in_a_linked_folder_is_served_and_readable_by_its_vault_path(client, call):
    found = await call(client, "search_notes", query="shared folder outside")
    assert [r["path"] for r in found["results"]] == ["Agents/Shared/Linked Agent.md"]
    node = await call(client, "get_node", name="Linked Agent")
    assert node["path"] == "Agents/Shared/Linked Agent.md" and node["owner"]["person"] == "Ada Lovelace"
    note = await call(client, "read_note", path="Agents/Shared/Linked Agent.md")
    assert note["text"] == OUTSIDE_AGENT
    res = await client.read_resource("vault://note/Agents/Shared/Linked%20Agent.md")
    assert res.contents[0].text == OUTSIDE_AGENT
    brief = await client.get_prompt("agent_brief", {"name": "Linked Agent"})
    assert "Kept in a shared folder outside the vault." in brief.messages[0].content.text


async def test_a_link_out_of_the_vault_the_graph_does_not_hold_is_refused(client, fail):
    assert "no note named 'Secret'" in await fail(client, "get_node", name="Secret")
    msg = await fail(client, "read_note", path="Private/Secret.md")
    assert "outside the vault" in msg and "secret" not in msg.split("refused")[0]
    with pytest.raises(MCPError, match="outside the vault"):
        await client.read_resource("vault://note/Private/Secret.md")


@pytest.mark.parametrize("path", ["Agents/Shared/../../../secret.md", "Agents/Shared/%2e%2e/%2e%2e/secret.md", "/etc/passwd"])
async def test_a_client_path_through_a_linked_folder_still_cannot_leave_the_vault(client, path, fail):
    assert "refused note path" in await fail(client, "read_note", path=path)
