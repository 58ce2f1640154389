"""The MCP server through the SDK's in-memory client: every tool, resource and prompt, and their errors."""

from __future__ import annotations

import datetime as dt
import json
import os

import anyio
import pyarrow as pa
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from brain.facade import Brain
from brain.ingest import ingest_table
from brain.settings import Settings
from mcp_server import build_server

pytestmark = pytest.mark.anyio


@pytest.fixture
async def writer(brain):
    async with Client(build_server(brain, allow_writes=True)) as c:
        yield c


# -- listing ---------------------------------------------------------------------------------


async def test_read_only_tools_are_annotated_and_writes_are_absent(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {
        "search_notes", "get_node", "list_agents", "dependencies", "dependents", "owner_of", "impact",
        "agent_costs", "cost_leaderboard", "unattributed_usage", "quarantined_usage", "anomalies", "explain_anomaly",
        "inventory_gaps", "graph_stats", "read_note", "alerts", "budgets",
    }  # fmt: skip
    for t in tools.values():
        assert t.annotations.read_only_hint is True
        assert t.output_schema is not None
        assert t.description and len(t.description) > 30


async def test_write_tools_appear_only_with_allow_writes(writer):
    tools = {t.name: t for t in (await writer.list_tools()).tools}
    assert tools["record_change"].annotations.read_only_hint is False
    assert tools["set_owner"].annotations.read_only_hint is False


async def test_writes_are_refused_without_allow_writes(client, vault, fail):
    before = (vault / "Agents" / "Support Agent.md").read_bytes()
    msg = await fail(client, "set_owner", name="Support Agent", owner="Alan Turing")
    assert "set_owner" in msg
    await fail(client, "record_change", agent="Support Agent", kind="deploy", summary="x")
    assert (vault / "Agents" / "Support Agent.md").read_bytes() == before
    assert not (vault / "Changes").exists()


# -- graph tools -----------------------------------------------------------------------------


async def test_search_notes_ranks_names_first_and_filters_by_type(client, call):
    out = await call(client, "search_notes", query="support")
    assert out["results"][0]["name"] == "Support Agent"
    out = await call(client, "search_notes", query="search", type="integration")
    assert [r["id"] for r in out["results"]] == ["Integrations/Search"]
    out = await call(client, "search_notes", query="help")
    assert {r["name"] for r in out["results"]} == {"Support Agent", "Vector Store"}
    assert out["results"][0]["snippet"]


async def test_search_notes_caps_results_with_a_note(client, call):
    out = await call(client, "search_notes", query="a", limit=2)
    assert len(out["results"]) == 2 and "raise limit" in out["note"]


async def test_search_notes_reports_the_real_total_when_it_truncates(client, call):
    every = await call(client, "search_notes", query="a", limit=100)
    assert every["note"] is None and every["total"] == len(every["results"]) > 3
    out = await call(client, "search_notes", query="a", limit=2)
    assert out["total"] == every["total"]
    assert f"showing the first 2 of {every['total']} matches" in out["note"]


async def test_search_notes_errors(client, fail):
    assert "needs a query" in await fail(client, "search_notes", query="  ")
    assert "argument 'type' of search_notes must be one of 'agent'," in await fail(client, "search_notes", query="x", type="spaceship")


async def test_get_node_returns_properties_links_and_owner(client, call):
    out = await call(client, "get_node", name="support bot")
    assert out["id"] == "Agents/Support Agent"
    assert out["type"] == "agent" and out["agent_id"] == "support-agent"
    assert out["owner"]["person"] == "Ada Lovelace" and out["owner"]["team"] == "Platform"
    assert {e["name"] for e in out["links"]["out"]} >= {"Vector Store", "CRM", "Ada Lovelace"}
    assert out["properties"]["status"] == "active"


async def test_get_node_misspelt_name_suggests_the_right_one(client, fail):
    msg = await fail(client, "get_node", name="supprot agent")
    assert msg.endswith("no note named 'supprot agent'; did you mean 'Support Agent'?")


async def test_get_node_ambiguous_name_lists_every_candidate(client, call, fail):
    msg = await fail(client, "get_node", name="Search")
    assert "Integrations/Search" in msg and "Tools/Search" in msg
    assert (await call(client, "get_node", name="Tools/Search"))["type"] == "tool"


async def test_list_agents_filters_sorts_and_paginates(client, call):
    out = await call(client, "list_agents", limit=2)
    assert [a["name"] for a in out["items"]] == ["Meeting Notes Bot", "Orphan Agent"]
    assert out["total"] == 3 and out["next_cursor"] and "cursor" in out["note"]
    out2 = await call(client, "list_agents", limit=2, cursor=out["next_cursor"])
    assert [a["name"] for a in out2["items"]] == ["Support Agent"] and out2["next_cursor"] is None
    out = await call(client, "list_agents", team="Platform")
    assert {a["name"] for a in out["items"]} == {"Support Agent", "Meeting Notes Bot"}
    out = await call(client, "list_agents", owner="Ada Lovelace")
    assert [a["name"] for a in out["items"]] == ["Support Agent"]


async def test_list_agents_errors(client, call, fail):
    first = await call(client, "list_agents", limit=1)
    msg = await fail(client, "list_agents", limit=1, cursor=first["next_cursor"], owner="Platform")
    assert "different listing" in msg
    assert "invalid cursor" in await fail(client, "list_agents", cursor="garbage!")
    assert "did you mean 'Platform'" in await fail(client, "list_agents", team="Platfrom")
    assert "argument 'sort_by' of list_agents must be one of 'name'," in await fail(client, "list_agents", sort_by="vibes")
    assert "argument 'limit' of list_agents must be a whole number from 1 to 200; got 0." in await fail(client, "list_agents", limit=0)


async def test_dependencies_dependents_and_impact(client, call):
    deps = await call(client, "dependencies", name="Support Agent", depth=2)
    assert {d["name"] for d in deps["dependencies"]} == {"Vector Store", "CRM"}
    out = await call(client, "dependents", name="CRM")
    assert {d["name"] for d in out["dependents"]} == {"Support Agent", "Vector Store"}
    out = await call(client, "dependents", name="CRM", depth=2)
    assert {d["name"] for d in out["dependents"]} == {"Support Agent", "Vector Store", "Meeting Notes Bot"}
    out = await call(client, "impact", name="CRM")
    assert {a["name"] for a in out["agents"]} == {"Support Agent", "Meeting Notes Bot"}
    assert out["count"] == 2


async def test_walk_errors(client, fail):
    assert "did you mean 'CRM'" in await fail(client, "dependents", name="CRN")
    assert "argument 'depth' of dependents must be a whole number from 1 to 10; got 0." in await fail(client, "dependents", name="CRM", depth=0)
    assert "no note named 'nothing like it'" in await fail(client, "dependencies", name="nothing like it")
    assert "no note named" in await fail(client, "impact", name="Vectr Store")


async def test_owner_of_follows_person_to_team(client, call, fail):
    out = await call(client, "owner_of", name="Support Agent")
    assert (out["person"], out["team"]) == ("Ada Lovelace", "Platform")
    assert "did you mean" in await fail(client, "owner_of", name="Suport Agent")


async def test_inventory_gaps_and_graph_stats(client, call):
    gaps = await call(client, "inventory_gaps")
    assert any(g["kind"] == "agent_without_owner" and g["node"] == "Agents/Orphan Agent" for g in gaps["items"])
    assert gaps["errors"] >= 1
    assert gaps["items"] == [{"kind": "agent_without_owner", "severity": "error", "node": "Agents/Orphan Agent",
                              "message": "agent 'Orphan Agent' has no owner", "line": None}]
    assert (gaps["total"], gaps["errors"], gaps["warnings"], gaps["next_cursor"]) == (1, 1, 0, None)
    stats = await call(client, "graph_stats")
    assert stats["by_type"]["agent"] == 3 and stats["notes"] == 11


async def test_inventory_gaps_paginates(vault, tmp_path, call):
    # a second gap, so that there is a second page (the company alone has one gap)
    (vault / "Agents" / "Stray Agent.md").write_text("---\ntype: agent\n---\n", encoding="utf-8")
    brain = Brain.open(Settings(vault=vault, store=tmp_path / "usage.duckdb"))
    try:
        async with Client(build_server(brain)) as client:
            page = await call(client, "inventory_gaps", limit=1)
            assert len(page["items"]) == 1
            if page["total"] > 1:
                assert page["next_cursor"]
            assert page["total"] == 2 and page["next_cursor"] and "cursor" in page["note"]
            rest = await call(client, "inventory_gaps", limit=1, cursor=page["next_cursor"])
    finally:
        brain.close()
    assert rest["next_cursor"] is None and len(rest["items"]) == 1
    assert {g["node"] for g in page["items"] + rest["items"]} == {"Agents/Orphan Agent", "Agents/Stray Agent"}


# -- read_note and safety --------------------------------------------------------------------


async def test_read_note_returns_markdown(client, vault, call):
    out = await call(client, "read_note", path="Agents/Support Agent.md")
    assert out["text"] == (vault / "Agents" / "Support Agent.md").read_text()
    assert out["truncated"] is False


async def test_read_note_pages_long_notes(client, vault, call):
    (vault / "Long.md").write_text("x" * 45_000, encoding="utf-8")
    first = await call(client, "read_note", path="Long")
    assert first["truncated"] and "offset=20000" in first["note"]
    last = await call(client, "read_note", path="Long", offset=40_000)
    assert len(last["text"]) == 5_000 and not last["truncated"]


@pytest.mark.parametrize(
    "path", ["../outside.md", "/etc/passwd", "%2e%2e%2foutside.md", "..%252Foutside.md", ".obsidian/hidden.md", "Agents/../../outside.md"]
)
async def test_read_note_refuses_paths_outside_the_vault(client, path, fail):
    assert "refused note path" in await fail(client, "read_note", path=path)


async def test_read_note_refuses_symlink_escape(client, vault, tmp_path, fail):
    (tmp_path / "secret.md").write_text("secret", encoding="utf-8")
    (vault / "Escape.md").symlink_to(tmp_path / "secret.md")
    msg = await fail(client, "read_note", path="Escape.md")
    assert "outside the vault" in msg and "secret" not in msg.split("refused")[0]


async def test_read_note_missing_suggests(client, fail):
    assert "did you mean 'Agents/Support Agent.md'" in await fail(client, "read_note", path="Agents/Suport Agent.md")


# -- resources -------------------------------------------------------------------------------


async def read_text(client, uri: str) -> str:
    result = await client.read_resource(uri)
    return result.contents[0].text


async def test_resources_are_listed(client):
    assert {str(r.uri) for r in (await client.list_resources()).resources} == {"brain://agents", "brain://leaderboard", "brain://anomalies", "brain://alerts", "brain://budgets"}
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert templates == {"brain://agent/{name}", "vault://note/{+path}"}


async def test_agents_resource_matches_list_agents(client, call):
    data = json.loads(await read_text(client, "brain://agents"))
    assert data["count"] == 3
    tool = await call(client, "list_agents")
    assert [a["id"] for a in data["agents"]] == [a["id"] for a in tool["items"]]


async def test_agent_resource_by_name_and_alias(client):
    data = json.loads(await read_text(client, "brain://agent/Support%20Agent"))
    assert data["id"] == "Agents/Support Agent"
    data = json.loads(await read_text(client, "brain://agent/support-agent"))
    assert data["name"] == "Support Agent"


async def test_agent_resource_errors(client):
    with pytest.raises(MCPError, match="did you mean 'Support Agent'"):
        await client.read_resource("brain://agent/Suport%20Agent")
    with pytest.raises(MCPError, match="not an agent"):
        await client.read_resource("brain://agent/CRM")


async def test_note_resource_reads_markdown(client, vault):
    text = await read_text(client, "vault://note/Agents/Support%20Agent.md")
    assert text == (vault / "Agents" / "Support Agent.md").read_text()


@pytest.mark.parametrize(
    "uri",
    [
        "vault://note/../outside.md",
        "vault://note/%2E%2E/outside.md",
        "vault://note/Agents/%2E%2E/%2E%2E/outside.md",
        "vault://note/%2Fetc%2Fpasswd",
        "vault://note/.obsidian/hidden.md",
        "vault://note/%252e%252e%252foutside.md",
    ],
)
async def test_note_resource_refuses_paths_outside_the_vault(client, uri, tmp_path):
    (tmp_path / "outside.md").write_text("outside", encoding="utf-8")
    with pytest.raises(MCPError, match="Unknown resource|refused note path") as info:
        await client.read_resource(uri)
    assert info.value.error.code == INVALID_PARAMS  # refused, not an internal error


async def test_note_resource_refuses_symlink_escape(client, vault, tmp_path):
    (tmp_path / "secret.md").write_text("secret", encoding="utf-8")
    (vault / "Escape.md").symlink_to(tmp_path / "secret.md")
    with pytest.raises(MCPError, match="outside the vault"):
        await client.read_resource("vault://note/Escape.md")


# -- prompts ---------------------------------------------------------------------------------


async def test_prompts_are_listed_with_arguments(client):
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"monthly_cost_review", "investigate_anomaly", "agent_brief"}
    assert [a.name for a in prompts["investigate_anomaly"].arguments] == ["id"]
    assert [a.name for a in prompts["agent_brief"].arguments] == ["name"]


async def test_agent_brief_prompt_embeds_the_node_and_note(client):
    result = await client.get_prompt("agent_brief", {"name": "Support Bot"})
    text = result.messages[0].content.text
    assert "Support Agent" in text and "Answers customer questions" in text and "Ada Lovelace" in text


async def test_agent_brief_prompt_errors(client):
    with pytest.raises(MCPError, match="did you mean 'Support Agent'"):
        await client.get_prompt("agent_brief", {"name": "Suport Agent"})
    with pytest.raises(MCPError, match="not an agent"):
        await client.get_prompt("agent_brief", {"name": "CRM"})
    with pytest.raises(MCPError, match="needs the argument 'name'"):
        await client.get_prompt("agent_brief", {})


async def test_monthly_cost_review_prompt_asks_for_the_review(client):
    result = await client.get_prompt("monthly_cost_review", {})
    text = result.messages[0].content.text
    assert "cost_leaderboard" in text and "three concrete actions" in text


# -- writes ----------------------------------------------------------------------------------


async def test_set_owner_changes_only_the_owner_bytes(writer, vault, call):
    path = vault / "Agents" / "Support Agent.md"
    before = path.read_bytes()
    out = await call(writer, "set_owner", name="Support Bot", owner="alan turing")
    assert out["path"] == "Agents/Support Agent.md"
    assert path.read_bytes() == before.replace(b'owner: "[[Ada Lovelace]]"', b'owner: "[[Alan Turing]]"')
    owner = await call(writer, "owner_of", name="Support Agent")
    assert owner["person"] == "Alan Turing"


async def test_set_owner_accepts_a_team_and_rejects_unknown_owners(writer, vault, call, fail):
    await call(writer, "set_owner", name="Orphan Agent", owner="Platform")
    assert (await call(writer, "owner_of", name="Orphan Agent"))["team"] == "Platform"
    before = (vault / "Agents" / "Orphan Agent.md").read_bytes()
    msg = await fail(writer, "set_owner", name="Orphan Agent", owner="Ada Lovelance")
    assert "no person or team named 'Ada Lovelance'; did you mean 'Ada Lovelace'?" in msg
    assert "did you mean 'Support Agent'" in await fail(writer, "set_owner", name="Suport Agent", owner="Platform")
    assert (vault / "Agents" / "Orphan Agent.md").read_bytes() == before


async def test_set_owner_refuses_a_note_edited_on_disk_since_the_brain_read_it(writer, vault, brain, call, fail):
    path = vault / "Agents" / "Support Agent.md"
    brain.graph  # noqa: B018 - the brain has read the note
    edited = path.read_text() + "\nEdited in Obsidian meanwhile.\n"
    path.write_text(edited, encoding="utf-8")
    stamp = brain.graph.notes["Agents/Support Agent"].mtime_ns
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    msg = await fail(writer, "set_owner", name="Support Agent", owner="Alan Turing")
    assert "changed on disk since the brain read it" in msg
    assert path.read_text() == edited
    await call(writer, "set_owner", name="Support Agent", owner="Alan Turing")  # re-read: retry applies
    assert path.read_text() == edited.replace("[[Ada Lovelace]]", "[[Alan Turing]]")


async def test_record_change_creates_a_change_note_linked_to_the_agent(writer, vault, call):
    out = await call(writer, "record_change", agent="support-agent", kind="prompt", summary="Prompt v3", when="2025-03-01T12:00:00Z")
    assert out == {"path": "Changes/2025-03-01 Support Agent prompt.md", "created": True, "summary": out["summary"]}
    text = (vault / out["path"]).read_text()
    assert "type: change" in text and 'agent: "[[Support Agent]]"' in text and "Prompt v3" in text
    node = await call(writer, "get_node", name="2025-03-01 Support Agent prompt")
    assert node["type"] == "change"
    assert any(e["relation"] == "changes" and e["name"] == "Support Agent" for e in node["links"]["out"])


async def test_record_change_errors(writer, fail):
    assert "did you mean 'Support Agent'" in await fail(writer, "record_change", agent="Suport Agent", kind="deploy", summary="x")
    assert "argument 'kind' of record_change must be one of 'deploy'," in await fail(writer, "record_change", agent="Support Agent", kind="rewrite", summary="x")
    assert "ISO 8601" in await fail(writer, "record_change", agent="Support Agent", kind="deploy", summary="x", when="soon")
    assert "summary" in await fail(writer, "record_change", agent="Support Agent", kind="deploy", summary=" ")
    assert "no agent named 'CRM'" in await fail(writer, "record_change", agent="CRM", kind="deploy", summary="x")


async def test_writes_notify_listening_clients(brain, call):
    server = build_server(brain, allow_writes=True)
    uri = "vault://note/Agents/Support%20Agent.md"
    seen = set()
    async with Client(server) as c, c.listen(resource_subscriptions=[uri, "brain://agents"]) as sub:
        await call(c, "set_owner", name="Support Agent", owner="Alan Turing")
        with anyio.fail_after(5):
            async for event in sub:
                seen.add(event.uri)
                if seen == {uri, "brain://agents"}:
                    break
    assert seen == {uri, "brain://agents"}  # both arrived (the stream did not merely end)


async def test_notification_hook_publishes_from_outside_a_request(brain):
    server = build_server(brain)
    async with Client(server) as c, c.listen(resources_list_changed=True) as sub:
        await server.brain_events.resources_changed()
        with anyio.fail_after(5):
            event = await sub.__anext__()
    assert type(event).__name__ == "ResourcesListChanged"


async def test_handshake_era_clients_get_resource_updated_after_subscribing(brain, call):
    import warnings

    server = build_server(brain, allow_writes=True)
    got: list = []
    arrived = anyio.Event()

    async def on_message(message) -> None:
        got.append(message)
        if type(message).__name__ == "ResourceUpdatedNotification":
            arrived.set()

    uri = "vault://note/Agents/Support%20Agent.md"
    async with Client(server, mode="legacy", message_handler=on_message) as c:
        assert c.server_capabilities.resources.subscribe is True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await c.subscribe_resource(uri)
        await call(c, "set_owner", name="Support Agent", owner="Alan Turing")
        with anyio.fail_after(5):
            await arrived.wait()
    assert [m.params.uri for m in got if type(m).__name__ == "ResourceUpdatedNotification"] == [uri]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_server_info_version_is_the_installed_package_version(brain, mode):
    """QA round 2, bug 3: serverInfo.version was "" on both protocol eras."""
    import importlib.metadata

    async with Client(build_server(brain), mode=mode) as c:
        assert c.server_info is not None
        assert c.server_info.version == importlib.metadata.version("company-brain") != ""


# -- costs and anomalies (real DuckDB store, canonical events ingested: the `costed` brain) -------


@pytest.fixture
async def cclient(costed):
    async with Client(build_server(costed)) as c:
        yield c


@pytest.mark.e2e
async def test_agent_nodes_carry_cost_fields_and_open_anomalies(cclient, call):
    node = await call(cclient, "get_node", name="Support Agent")
    costs = node["costs"]
    assert costs["spend_usd"] > 100 and costs["run_rate_usd_per_day"] > 0 and costs["projected_30d_usd"] > 0
    assert costs["cost_per_request_usd"] > 0 and costs["cost_per_1k_runs_usd"] > 0
    assert [a["severity"] for a in costs["anomalies"]] == ["critical"]
    agents = await call(cclient, "list_agents", sort_by="spend_usd")
    assert [a["name"] for a in agents["items"]] == ["Support Agent", "Meeting Notes Bot", "Orphan Agent"]
    assert agents["items"][2]["spend_usd"] == 0.0


async def test_agent_costs_card(cclient, call):
    card = await call(cclient, "agent_costs", name="support bot", days=30)
    assert card["name"] == "Support Agent" and card["owner"] == "Ada Lovelace"
    assert card["spend_by_token_type_usd"]["input"] > card["spend_by_token_type_usd"]["output"] > 0
    assert len(card["daily"]) == 30 and sum(d["requests"] for d in card["daily"]) == card["requests"]
    for key in ("run_rate_usd_per_day", "cost_per_request_usd", "cost_per_run_usd", "cost_per_1k_runs_usd", "projected_30d_usd"):
        assert card[key] > 0


async def test_agent_costs_errors(cclient, fail):
    assert "no agent named 'Suport Agent'; did you mean 'Support Agent'?" in await fail(cclient, "agent_costs", name="Suport Agent")
    assert "no agent named 'CRM'" in await fail(cclient, "agent_costs", name="CRM")
    assert "argument 'days' of agent_costs must be a whole number from 1 to 366; got 0." in await fail(cclient, "agent_costs", name="Support Agent", days=0)


@pytest.mark.e2e
async def test_cost_leaderboard_groupings(cclient, call, fail):
    board = await call(cclient, "cost_leaderboard", days=30)
    assert board["rows"][0]["group"] == "Support Agent"
    assert board["total_usd"] == pytest.approx(sum(r["spend_usd"] for r in board["rows"]), rel=1e-6)
    teams = await call(cclient, "cost_leaderboard", group_by="team")
    assert {r["group"] for r in teams["rows"]} == {"Platform", "unattributed"}
    top = await call(cclient, "cost_leaderboard", group_by="model", limit=1)
    assert [r["group"] for r in top["rows"]] == ["gpt-4o"] and "raise limit" in top["note"]
    assert "argument 'group_by' of cost_leaderboard must be one of 'agent'," in await fail(cclient, "cost_leaderboard", group_by="weather")


async def test_unattributed_usage_names_the_key_to_claim(cclient, call):
    out = await call(cclient, "unattributed_usage", days=30)
    assert out["unattributed_usd"] > 0
    assert [r["seen_as"] for r in out["rows"]] == ["key_mystery_99"]
    assert "api_keys" in out["rows"][0]["how_to_claim"]


@pytest.mark.e2e
async def test_quarantined_usage_counts_and_lists_rows_left_out(cclient, costed, tmp_path, call, fail):
    assert await call(cclient, "quarantined_usage") == {"total": 0, "by_reason": [], "superseded": 0, "rows": []}
    bad = tmp_path / "late.jsonl"
    bad.write_text('{"timestamp": "tomorrow-ish", "model": "gpt-4o"}\n{"timestamp": "2025-01-01T00:00:00Z"}\n')
    from brain.ingest import ingest_files

    ingest_files(costed.store, [bad])
    out = await call(cclient, "quarantined_usage", file="late.jsonl")
    assert out["total"] == 2 and {r["reason"] for r in out["by_reason"]} == {"unparseable timestamp", "missing model"}
    assert out["rows"][0]["raw"] == '{"timestamp": "tomorrow-ish", "model": "gpt-4o"}'
    assert (await call(cclient, "quarantined_usage", reason="model", limit=0)) == {
        "total": 1, "by_reason": [{"source_file": str(bad), "reason": "missing model", "rows": 1}],
        "superseded": 0, "rows": []}
    assert "argument 'limit' of quarantined_usage must be a whole number from 0 to 500; got -1." in await fail(cclient, "quarantined_usage", limit=-1)


@pytest.mark.e2e
async def test_anomalies_and_explain(cclient, call, fail):
    found = await call(cclient, "anomalies", days=7)
    assert found["count"] == 1
    a = found["anomalies"][0]
    assert (a["agent"], a["severity"], a["cause"]) == ("Support Agent", "critical", "volume")
    assert (await call(cclient, "anomalies", min_severity="critical"))["count"] == 1
    full = await call(cclient, "explain_anomaly", id=a["id"])
    assert full["decomposition"]["volume"] > 0 and full["owner"] == "Ada Lovelace"
    msg = await fail(cclient, "explain_anomaly", id=a["id"][:-1] + "x")
    assert f"did you mean '{a['id']}'" in msg
    assert "argument 'min_severity' of anomalies must be one of 'info', 'warn', 'critical'" in await fail(cclient, "anomalies", min_severity="apocalyptic")


@pytest.mark.e2e
async def test_acknowledged_anomalies_leave_the_listing_unless_asked_for(costed, call):
    async with Client(build_server(costed)) as c:
        a = (await call(c, "anomalies"))["anomalies"][0]
        costed.acknowledge(a["id"], note="expected: launch week")
        found = await call(c, "anomalies")
        assert (found["count"], found["closed_not_shown"], found["anomalies"]) == (0, 1, [])
        assert json.loads(await read_text(c, "brain://anomalies"))["count"] == 0
        everything = await call(c, "anomalies", include_acknowledged=True)
        assert [(x["id"], x["status"]) for x in everything["anomalies"]] == [(a["id"], "acknowledged")]


@pytest.mark.e2e
async def test_cost_resources(cclient):
    board = json.loads(await read_text(cclient, "brain://leaderboard"))
    assert board["rows"][0]["group"] == "Support Agent"
    found = json.loads(await read_text(cclient, "brain://anomalies"))
    assert found["count"] == 1
    agent = json.loads(await read_text(cclient, "brain://agent/Support%20Agent"))
    assert agent["cost_card"]["spend_usd"] > 100 and len(agent["cost_card"]["daily"]) == 30


@pytest.mark.e2e
async def test_investigate_anomaly_prompt(cclient, call):
    a = (await call(cclient, "anomalies"))["anomalies"][0]
    text = (await cclient.get_prompt("investigate_anomaly", {"id": a["id"]})).messages[0].content.text
    assert a["id"] in text and "decomposition" in text and "Ada Lovelace" in text
    with pytest.raises(MCPError, match="no anomaly named"):
        await cclient.get_prompt("investigate_anomaly", {"id": "000000000000"})


@pytest.mark.e2e
async def test_monthly_cost_review_prompt_embeds_the_numbers(cclient):
    text = (await cclient.get_prompt("monthly_cost_review", {})).messages[0].content.text
    assert "Support Agent" in text and "key_mystery_99" in text and "critical" in text


@pytest.mark.e2e
async def test_cost_tools_on_a_store_without_usage_say_so(client, brain, call):
    # What a served vault gets before anything was ingested: an empty store, figures of 0.
    board = await call(client, "cost_leaderboard")
    assert board["total_usd"] == 0 and "brain ingest" in board["note"]
    card = await call(client, "agent_costs", name="Support Agent")
    assert card["spend_usd"] == 0 and "no usage has been ingested" in card["usage_note"]
    assert "brain ingest" in (await call(client, "unattributed_usage"))["note"]
    ingest_table(brain.store, pa.Table.from_pylist([
        {"timestamp": dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), "agent": "support-agent", "model": "gpt-4o",
         "provider": "openai", "input_tokens": 100, "output_tokens": 10}]), "t")
    assert (await call(client, "cost_leaderboard"))["note"] is None
    assert "usage_note" not in await call(client, "agent_costs", name="Support Agent")


async def test_cost_tools_without_a_store_say_how_to_get_one(vault, tmp_path, call, fail):
    brain = Brain.open(Settings(vault=vault, store=tmp_path / "missing.duckdb"), read_only=True)
    async with Client(build_server(brain)) as c:
        assert "ingest usage first" in await fail(c, "cost_leaderboard")
        node = await call(c, "get_node", name="Support Agent")
        assert node["costs"] is None and "ingest usage first" in node["costs_note"]
