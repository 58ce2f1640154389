"""Errors a model can act on: bad tool arguments, unknown tools and prompts, missing prompt arguments.

Each is one sentence naming the tool or prompt, the argument and what it takes; none is an
internal error, and none puts a traceback on stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

from mcp_server import build_server

pytestmark = pytest.mark.anyio
BRAIN = str(Path(sys.executable).parent / "brain")


def _plain(msg: str) -> None:
    """No pydantic dump in a message meant for a model."""
    assert "pydantic" not in msg and "validation error" not in msg and "type=" not in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("get_node", {}, "get_node needs the argument 'name': Note name, vault path, alias or agent id"),
        ("dependents", {"name": "CRM", "depth": 0}, "argument 'depth' of dependents must be a whole number from 1 to 10; got 0."),
        ("list_agents", {"sort_by": "vibes"}, "argument 'sort_by' of list_agents must be one of 'name', 'spend_usd',"),
        ("search_notes", {"query": "x", "type": "spaceship"}, "argument 'type' of search_notes must be one of 'agent', 'tool',"),
        ("cost_leaderboard", {"limit": "many"}, "argument 'limit' of cost_leaderboard must be a whole number from 1 to 200; got 'many'."),
        ("read_note", {"path": "x", "offset": -1}, "argument 'offset' of read_note must be a whole number of 0 or more; got -1."),
        ("get_node", {"name": 5}, "argument 'name' of get_node must be text; got 5."),
    ],
)
async def test_tool_argument_errors_are_one_sentence_naming_the_argument(client, caplog, tool, args, expected, fail):
    with caplog.at_level(logging.INFO):
        msg = await fail(client, tool, **args)
    assert msg.startswith(expected), msg
    _plain(msg)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_an_unknown_tool_suggests_the_close_one(client, fail):
    assert (await fail(client, "get_nodes", name="CRM")).startswith("no tool named 'get_nodes'; did you mean 'get_node'")
    assert "this server's tools are 'agent_costs'," in await fail(client, "weather")


async def _prompt_error(client, name: str, args: dict) -> str:
    with pytest.raises(MCPError) as info:
        await client.get_prompt(name, args)
    assert info.value.error.code == INVALID_PARAMS
    return info.value.error.message


async def test_prompt_errors_are_invalid_params_naming_the_prompt_and_argument(client, caplog):
    with caplog.at_level(logging.INFO):
        assert await _prompt_error(client, "agent_brief", {}) == (
            "the prompt agent_brief needs the argument 'name': Agent note name, alias or agent id, e.g. 'Support Agent'.")
        assert await _prompt_error(client, "investigate_anomaly", {"idx": "1"}) == (
            "the prompt investigate_anomaly needs the argument 'id': Anomaly id as listed by the anomalies tool.")
        assert await _prompt_error(client, "agent_brief", {"name": "Support Agent", "tone": "dry"}) == (
            "the prompt agent_brief has no argument 'tone'; it takes 'name'.")
        assert await _prompt_error(client, "agent_brif", {}) == "no prompt named 'agent_brif'; did you mean 'agent_brief'?"
        assert await _prompt_error(client, "haiku", {}) == (
            "no prompt named 'haiku'; this server's prompts are 'agent_brief', 'investigate_anomaly', 'monthly_cost_review'.")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.e2e
async def test_prompt_errors_over_stdio_leave_no_traceback_on_stderr(vault, tmp_path, fail):
    params = StdioServerParameters(command=BRAIN, args=["serve", "--vault", str(vault), "--store", str(tmp_path / "u.duckdb")])
    log = tmp_path / "stderr.log"
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            assert "needs the argument 'name'" in await _prompt_error(client, "agent_brief", {})
            assert "no prompt named" in await _prompt_error(client, "nope", {})
            assert "needs the argument 'name'" in await fail(client, "get_node")
    assert "Traceback" not in log.read_text()


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_resource_reads_a_client_got_wrong_are_invalid_params_not_internal_errors(brain, mode, caplog):
    """QA round 2, bug 4: these came back as -32603 Internal error, and suggested a URI with a raw space."""
    async with Client(build_server(brain), mode=mode) as c:
        with caplog.at_level(logging.INFO):
            for uri, expected in [
                ("brain://agent/Vector%20Store", "'Vector Store' is a tool, not an agent; read it with vault://note/Tools/Vector%20Store.md"),
                ("vault://note/.obsidian/hidden.md", ".obsidian"),
                ("vault://note/.brain/server.json", ".brain"),
                ("brain://agent/Suport%20Agent", "did you mean 'Support Agent'"),
            ]:
                with pytest.raises(MCPError) as info:
                    await c.read_resource(uri)
                assert info.value.error.code == INVALID_PARAMS, (uri, info.value.error)
                assert expected in info.value.error.message
        assert (await c.read_resource("vault://note/Tools/Vector%20Store.md")).contents  # the suggested URI reads
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
