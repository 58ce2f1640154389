"""Agent cost fields are refreshed in the background: requests answer from the previous values meanwhile.

QA speed, problem 4: get_node / list_agents recomputed every agent's cost fields and anomalies inside
the request once they were 5 minutes old or new usage had landed (4.9-6.7 s on a 10M-event store).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading

import anyio
import anyio.lowlevel
import pyarrow as pa
import pytest
from mcp import Client

from brain.facade import Brain
from brain.ingest import ingest_table
from mcp_server import build_server
from mcp_server.common import COSTS_MAX_AGE_S, BrainState
from mcp_server.transports import Notifier

pytestmark = pytest.mark.anyio
WAIT_S = 10  # upper bound on waiting for an event that the test itself releases (never reached when it works)


class SlowCosts:
    """Brain.attach_costs that waits for `release` (once `blocked`), counting its runs."""

    def __init__(self, monkeypatch, fail: Exception | None = None):
        self.real = Brain.attach_costs
        self.started = threading.Event()
        self.release = threading.Event()
        self.blocked = False
        self.fail = fail
        self.calls = 0
        slow = self

        def attach_costs(brain_self, *args, **kwargs):
            slow.calls += 1
            if slow.blocked:
                slow.started.set()
                assert slow.release.wait(WAIT_S)
            if slow.fail is not None:
                raise slow.fail
            return slow.real(brain_self, *args, **kwargs)

        monkeypatch.setattr(Brain, "attach_costs", attach_costs)

    def block(self) -> None:
        self.started.clear()
        self.release.clear()
        self.blocked = True

    async def wait_started(self) -> None:
        assert await anyio.to_thread.run_sync(self.started.wait, WAIT_S)

    def unblock(self) -> None:
        self.blocked = False
        self.release.set()


async def refreshed(state: BrainState) -> None:
    """Wait until the refresh running now (and one more pass, so it saw everything) has finished."""
    done = threading.Event()
    state.refresh_costs(then=done.set)
    assert await anyio.to_thread.run_sync(done.wait, WAIT_S)


def expire(state: BrainState) -> None:
    assert state.costs_at is not None
    state.costs_at -= COSTS_MAX_AGE_S + 1


def more_support_usage(brain) -> None:
    ingest_table(brain.store, pa.Table.from_pylist([
        {"timestamp": dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), "agent": "support-agent", "model": "gpt-4o",
         "provider": "openai", "input_tokens": 50_000_000, "output_tokens": 1_000_000}]), "more")
    # the served store (SharedStore) changes `version` when any process writes; this plain Store plays its part
    brain.store.version = getattr(brain.store, "version", 0) + 1


async def support_spend(call, client) -> float:
    return (await call(client, "get_node", name="Support Agent"))["costs"]["spend_usd"]


@pytest.mark.e2e
async def test_expired_cost_fields_answer_from_previous_values_while_refreshed_in_background(costed, monkeypatch, call):
    slow = SlowCosts(monkeypatch)
    server = build_server(costed)
    state = server.brain_state
    async with Client(server) as c:
        before = await call(c, "get_node", name="Support Agent")
        assert before["costs"]["anomalies"] and slow.calls == 1  # the first computation is the request's own
        expire(state)
        expired_at = state.costs_at
        slow.block()
        during = await call(c, "get_node", name="Support Agent")  # starts the refresh, does not wait for it
        await slow.wait_started()
        assert during["costs"] == before["costs"] and "costs_note" not in during
        assert (await call(c, "get_node", name="Support Agent"))["costs"] == before["costs"]
        listed = await call(c, "list_agents", sort_by="spend_usd")
        assert listed["items"][0]["spend_usd"] == before["costs"]["spend_usd"] and "costs_note" not in listed
        assert slow.calls == 2  # one refresher at a time, however many requests saw the fields expired
        slow.unblock()
        await refreshed(state)
        assert slow.calls == 2 and state.costs_error is None and state.costs_at > expired_at
        after = (await call(c, "get_node", name="Support Agent"))["costs"]
        assert after["spend_usd"] == before["costs"]["spend_usd"] and after["anomalies"] == before["costs"]["anomalies"]
        assert slow.calls == 2  # current again: nothing more to compute


@pytest.mark.e2e
async def test_new_usage_is_served_after_the_background_refresh_and_never_waited_for(costed, monkeypatch, call):
    slow = SlowCosts(monkeypatch)
    server = build_server(costed)
    async with Client(server) as c:
        spend_before = await support_spend(call, c)
        more_support_usage(costed)
        slow.block()
        assert (await call(c, "list_agents", sort_by="spend_usd"))["items"][0]["spend_usd"] == spend_before
        await slow.wait_started()
        assert await support_spend(call, c) == spend_before
        slow.unblock()
        await refreshed(server.brain_state)
        assert await support_spend(call, c) > spend_before + 100


@pytest.mark.e2e
async def test_a_failed_background_refresh_is_kept_and_logged_and_the_server_keeps_answering(costed, monkeypatch, caplog, call):
    slow = SlowCosts(monkeypatch)
    server = build_server(costed)
    state = server.brain_state
    async with Client(server) as c:
        spend_before = await support_spend(call, c)
        slow.fail = RuntimeError("the disk is on fire")
        expire(state)
        with caplog.at_level(logging.WARNING, logger="mcp_server.common"):
            assert await support_spend(call, c) == spend_before
            await refreshed(state)
        assert any("refreshing agent cost fields failed" in r.getMessage() and r.exc_info for r in caplog.records)
        assert "the disk is on fire" in (state.costs_error or "")
        listed = await call(c, "list_agents")
        assert "the disk is on fire" in listed["costs_note"]
        assert await support_spend(call, c) == spend_before  # the previous values stay
        slow.fail = None
        expire(state)
        await support_spend(call, c)
        await refreshed(state)
        assert state.costs_error is None and "costs_note" not in await call(c, "list_agents")


@pytest.mark.e2e
async def test_requests_during_the_startup_warm_up_do_not_compute_it_again(costed, monkeypatch, call):
    slow = SlowCosts(monkeypatch)
    server = build_server(costed)
    state = server.brain_state
    async with Client(server) as c:
        slow.block()
        state.refresh_costs()  # what `brain serve` starts WARM_DELAY_S after it comes up
        await slow.wait_started()
        node = await call(c, "get_node", name="Support Agent")  # answers at once, from this agent's own card
        assert node["costs"]["spend_usd"] > 100 and "still being computed" in node["costs_note"]
        listed: dict = {}

        async def list_agents() -> None:
            listed.update(await call(c, "list_agents", sort_by="spend_usd"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(list_agents)  # needs every agent's fields and has none yet: waits for the warm-up
            await anyio.lowlevel.checkpoint()
            slow.unblock()
        assert listed["items"][0]["name"] == "Support Agent" and listed["items"][0]["spend_usd"] > 100
        assert slow.calls == 1


@pytest.mark.e2e
async def test_brain_agents_is_updated_after_new_usage_once_its_cost_fields_are_refreshed(costed, monkeypatch, subscribed, call):
    slow = SlowCosts(monkeypatch)
    server = build_server(costed)
    state = server.brain_state
    async with subscribed(server, "legacy", ["brain://agents", "brain://leaderboard"]) as (c, got):
        spend_before = await support_spend(call, c)
        notifier = Notifier(server.brain_events, costed, anyio.lowlevel.current_token(), costs=state)
        more_support_usage(costed)
        slow.block()
        await anyio.to_thread.run_sync(notifier.store_changed)
        await got.wait_for({"brain://leaderboard"})
        await slow.wait_started()
        assert "brain://agents" not in got.uris  # not before its cost fields show the new usage
        slow.unblock()
        await got.wait_for({"brain://agents"})
        agents = json.loads((await c.read_resource("brain://agents")).contents[0].text)["agents"]
        assert next(a for a in agents if a["name"] == "Support Agent")["spend_usd"] > spend_before + 100
        assert await support_spend(call, c) > spend_before + 100


@pytest.mark.e2e
async def test_no_refresh_starts_once_the_server_stops(costed, monkeypatch, call):
    slow = SlowCosts(monkeypatch)
    server = build_server(costed)
    state = server.brain_state
    async with Client(server) as c:
        await support_spend(call, c)
        expire(state)
        slow.block()
        await support_spend(call, c)
        await slow.wait_started()
        ran = threading.Event()
        state.refresh_costs(then=ran.set)
        state.stop()  # what `brain serve` does on the way out, with this refresh still running
        refresher = state._refresher
        assert refresher is not None and refresher.daemon  # never holds the process up
        slow.unblock()
        await anyio.to_thread.run_sync(refresher.join, WAIT_S)
        assert not refresher.is_alive() and not ran.is_set() and slow.calls == 2
        expire(state)
        await support_spend(call, c)
        assert state._refresher is None and slow.calls == 2
