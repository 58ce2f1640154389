"""The MCP server's fixtures: the test company's brain, in-memory clients, the tool-call helpers,
a costed store, and subscribing on either protocol era."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pyarrow as pa
import pytest
from mcp import Client
from mcp.server.subscriptions import ResourceUpdated

from brain.facade import Brain
from brain.ingest import ingest_table
from brain.settings import Settings
from mcp_server import build_server


@pytest.fixture
def vault(tmp_path, make_company) -> Path:
    return make_company(tmp_path / "vault")


@pytest.fixture
def brain(vault, tmp_path):
    b = Brain.open(Settings(vault=vault, store=tmp_path / "usage.duckdb"))
    yield b
    b.close()


@pytest.fixture
async def client(brain):
    async with Client(build_server(brain)) as c:
        yield c


async def _call(client, tool: str, **args) -> dict:
    """Call a tool that must succeed; return its structured output."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def _fail(client, tool: str, **args) -> str:
    """Call a tool that must fail; return the error text the model would read."""
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return result.content[0].text


@pytest.fixture(scope="session")
def call():
    """await call(client, tool, **args) -> the structured output of a call that must succeed."""
    return _call


@pytest.fixture(scope="session")
def fail():
    """await fail(client, tool, **args) -> the error text of a call that must fail."""
    return _fail


# -- costs and anomalies (real DuckDB store, canonical events ingested) ----------------------

COLUMNS = ("timestamp", "agent", "api_key_id", "provider", "model", "input_tokens", "output_tokens", "requests", "run_id", "request_id", "status")


def usage_rows(now: dt.datetime) -> pa.Table:
    """30 days of hourly usage: a steady Support Agent that spikes 100x five hours ago, a bot, and an unclaimed key."""
    rows = []
    hour = (now - dt.timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    i = 0
    while hour < now - dt.timedelta(hours=1):
        spike = now - dt.timedelta(hours=7) <= hour < now - dt.timedelta(hours=2)
        n = 2000 if spike else 20
        rows.append((hour, "support-agent", None, "openai", "gpt-4o", 2000 * n, 200 * n, n, f"s{i}", f"s{i}", "ok"))
        rows.append((hour, "Meeting Notes Bot", None, "openai", "gpt-4o-mini", 5000, 500, 5, f"m{i}", f"m{i}", "ok"))
        if i % 24 == 0:
            rows.append((hour, None, "key_mystery_99", "openai", "gpt-4o-mini", 50_000, 5_000, 10, None, f"u{i}", "ok"))
        hour += dt.timedelta(hours=1)
        i += 1
    return pa.table({c: [r[k] for r in rows] for k, c in enumerate(COLUMNS)})


@pytest.fixture
def costed(brain) -> Brain:
    """The brain with 30 days of usage ingested: Support Agent spiking now, a bot, an unclaimed key."""
    ingest_table(brain.store, usage_rows(dt.datetime.now(dt.UTC)), "test-usage")
    return brain


# -- subscriptions on both protocol eras ------------------------------------------------------


class Updates:
    """The URIs named by resources/updated notifications, in arrival order, and a way to wait for some."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._arrived = anyio.Event()

    def add(self, uri: str) -> None:
        self.uris.append(uri)
        self._arrived.set()
        self._arrived = anyio.Event()

    async def wait_for(self, expected: set[str]) -> None:
        with anyio.fail_after(5):
            while not expected <= set(self.uris):
                await self._arrived.wait()


@asynccontextmanager
async def _subscribed(server, era: str, uris: list[str]) -> AsyncIterator[tuple[Client, Updates]]:
    """A client of `server` subscribed to `uris` the way a client of that protocol era does."""
    got = Updates()
    if era == "legacy":

        async def on_message(message) -> None:
            if type(message).__name__ == "ResourceUpdatedNotification":
                got.add(str(message.params.uri))

        async with Client(server, mode="legacy", message_handler=on_message) as c:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # subscribe_resource is deprecated for 2026-07-28 clients
                for uri in uris:
                    await c.subscribe_resource(uri)
            yield c, got
        return
    async def pump(sub) -> None:
        async for event in sub:
            if isinstance(event, ResourceUpdated):
                got.add(event.uri)

    async with Client(server, mode=era) as c, c.listen(resource_subscriptions=uris) as sub, anyio.create_task_group() as tg:
        tg.start_soon(pump, sub)
        yield c, got
        tg.cancel_scope.cancel()


@pytest.fixture(scope="session")
def subscribed():
    """async with subscribed(server, era, uris) as (client, updates): updates.uris in arrival order,
    `await updates.wait_for({...})` waits (5 s at most) until those have arrived."""
    return _subscribed
