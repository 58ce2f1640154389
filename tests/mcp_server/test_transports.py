"""`brain serve` as a real process, driven by the real mcp client over stdio and streamable HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
BRAIN = str(Path(sys.executable).parent / "brain")
TOKEN = "s3cret-test-token"


def wait_for_http(proc: subprocess.Popen, url: str, deadline_s: float = 20.0) -> None:
    """Poll until the server answers HTTP (any status) or fail with its stderr; no fixed sleeps."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stderr.read().decode(errors='replace')}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.TransportError:
            time.sleep(0.02)  # poll interval, bounded by the deadline
    raise AssertionError(f"server did not answer on {url} within {deadline_s}s")


@pytest.fixture
def http_server(vault, tmp_path, free_port):
    """Factory: start `brain serve --http` with extra env; yields its /mcp URL; stops it afterwards."""
    procs = []

    def start(env_extra: dict | None = None) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "BRAIN_MCP_TOKEN"} | (env_extra or {})
        cmd = [BRAIN, "serve", "--vault", str(vault), "--store", str(tmp_path / "usage.duckdb"), "--http", "--port", str(port)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}/mcp"
        wait_for_http(proc, url)
        return url

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def exercise(client: Client) -> None:
    """List tools, call three, read a resource: what a desktop client does first."""
    tools = {t.name for t in (await client.list_tools()).tools}
    assert {"get_node", "dependents", "search_notes", "read_note"} <= tools
    node = await client.call_tool("get_node", {"name": "Support Bot"})
    assert not node.is_error and node.structured_content["id"] == "Agents/Support Agent"
    deps = await client.call_tool("dependents", {"name": "CRM", "depth": 2})
    assert {d["name"] for d in deps.structured_content["dependents"]} == {"Support Agent", "Vector Store", "Meeting Notes Bot"}
    miss = await client.call_tool("get_node", {"name": "supprot agent"})
    assert miss.is_error and "did you mean 'Support Agent'" in miss.content[0].text
    res = await client.read_resource("vault://note/Agents/Support%20Agent.md")
    assert "Answers customer questions" in res.contents[0].text


async def test_brain_serve_over_stdio(vault, tmp_path):
    params = StdioServerParameters(
        command=BRAIN, args=["serve", "--vault", str(vault), "--store", str(tmp_path / "usage.duckdb")]
    )
    async with Client(params) as client:
        await exercise(client)
        assert client.server_info is not None and client.server_info.version not in ("", None)


async def test_python_m_mcp_server_over_stdio(vault, tmp_path):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server", "--vault", str(vault), "--store", str(tmp_path / "u.duckdb")]
    )
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "record_change" not in tools
        assert {"get_node", "dependents", "search_notes", "read_note", "graph_stats"} <= tools  # the read-only ones are served
        stats = await client.call_tool("graph_stats", {})
        assert not stats.is_error and stats.structured_content["by_type"]["agent"] == 3


async def test_brain_serve_over_http(http_server):
    url = http_server()
    async with Client(url) as client:
        await exercise(client)


async def test_http_bearer_token_is_required_when_set(http_server):
    url = http_server({"BRAIN_MCP_TOKEN": TOKEN})
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert httpx.post(url, json=body, timeout=5).status_code == 401
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http, Client(streamable_http_client(url, http_client=http)) as client:
        await exercise(client)


def test_bad_vault_is_one_line_error(tmp_path):
    out = subprocess.run([BRAIN, "serve", "--vault", str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr.strip().startswith("Error: vault folder") and "\n" not in out.stderr.strip()


async def test_both_transports_advertise_the_resource_list_changes_they_send(vault, tmp_path, http_server):
    """resources/list_changed is sent on vault edits, so initialize says listChanged on stdio and HTTP alike."""
    stdio = StdioServerParameters(command=BRAIN, args=["serve", "--vault", str(vault), "--store", str(tmp_path / "u.duckdb")])
    async with Client(stdio, mode="legacy") as client:
        assert client.server_capabilities.resources.list_changed is True
    async with Client(http_server(), mode="legacy") as client:
        assert client.server_capabilities.resources.list_changed is True


async def test_python_m_mcp_server_honours_no_watch_publish_and_otlp(vault, tmp_path, free_port, post_otlp_when_up):
    """`python -m mcp_server` takes brain serve's options through the same code path: none is dropped."""
    from mcp.client.stdio import stdio_client

    port = free_port()
    args = ["-m", "mcp_server", "--vault", str(vault), "--store", str(tmp_path / "u.duckdb"), "-v",
            "--no-watch", "--publish", "--otlp", "--otlp-port", str(port)]  # fmt: skip
    log = tmp_path / "server.log"
    span = {"traceId": "1" * 32, "spanId": "1" * 16, "name": "chat", "startTimeUnixNano": str(int(time.time() - 3600) * 10**9),
            "attributes": [{"key": k, "value": v} for k, v in {
                "gen_ai.agent.name": {"stringValue": "support-agent"}, "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
                "gen_ai.provider.name": {"stringValue": "openai"}, "gen_ai.usage.input_tokens": {"intValue": "1000"},
                "gen_ai.usage.output_tokens": {"intValue": "100"}}.items()]}  # fmt: skip
    doc = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": [span]}]}]}
    with log.open("w") as errlog:
        async with Client(stdio_client(StdioServerParameters(command=sys.executable, args=args), errlog=errlog)) as client:
            deadline = time.monotonic() + 60
            await post_otlp_when_up(port, doc, "OTLP receiver did not come up: --otlp was dropped")
            while not (vault / "Brain" / "Cost Dashboard.md").exists():  # --publish
                assert time.monotonic() < deadline, "nothing published into Brain/: --publish was dropped"
                await anyio.sleep(0.1)
            assert (await client.call_tool("graph_stats", {})).structured_content["notes"] > 0
    assert "not watching the vault" in log.read_text()  # --no-watch
