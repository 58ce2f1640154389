"""Change notifications through the real MCP client on both protocol eras: which subscribed URIs hear of what."""

from __future__ import annotations

import warnings

import anyio
import anyio.lowlevel
import pytest

from brain.live.watch import VaultWatcher
from mcp_server import build_server
from mcp_server.transports import Notifier

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]  # resources/subscribe (handshake era) and subscriptions/listen (2026-07-28)


async def apply_vault_change(brain, notifier: Notifier, *paths: str) -> None:
    """What the live server does after an edit on disk: bring the graph in line, then notify (from a thread)."""
    change = VaultWatcher(brain.graph, brain.settings.vault, lock=brain._lock).apply(set(paths), set())
    await anyio.to_thread.run_sync(notifier.vault_changed, change)


@pytest.mark.e2e
@pytest.mark.parametrize("era", ERAS)
async def test_deleting_an_agent_note_updates_brain_agents_and_the_notes_own_uris(brain, vault, era, subscribed):
    """QA round 2, bug 1: only list_changed arrived; brain://agents and the gone agent's URIs were never updated."""
    server = build_server(brain)
    uris = ["brain://agents", "brain://agent/Support%20Agent", "vault://note/Agents/Support%20Agent.md"]
    async with subscribed(server, era, uris) as (c, got):
        notifier = Notifier(server.brain_events, brain, anyio.lowlevel.current_token())
        (vault / "Agents" / "Support Agent.md").unlink()
        await apply_vault_change(brain, notifier, "Agents/Support Agent.md")
        await got.wait_for(set(uris))
        agents = (await c.read_resource("brain://agents")).contents[0].text
    assert "Support Agent" not in agents
    assert set(got.uris) == set(uris)  # under the URIs subscribed, and no others


@pytest.mark.parametrize("era", ERAS)
async def test_deleting_a_note_that_is_no_agent_leaves_brain_agents_alone(brain, vault, era, subscribed):
    server = build_server(brain)
    gone, last = "vault://note/People/Alan%20Turing.md", "vault://note/Teams/Platform.md"
    async with subscribed(server, era, ["brain://agents", gone, last]) as (_c, got):
        notifier = Notifier(server.brain_events, brain, anyio.lowlevel.current_token())
        (vault / "People" / "Alan Turing.md").unlink()
        await apply_vault_change(brain, notifier, "People/Alan Turing.md")
        await server.brain_events.resource_updated(last)  # notifications arrive in order: this one comes last
        await got.wait_for({last})
    assert got.uris == [gone, last]


ALIAS_FORMS = [
    "brain://agent/Support%20Agent",
    "brain://agent/support-agent",  # agent id
    "brain://agent/Support%20Bot",  # alias
    "brain://agent/SUPPORT%20AGENT",  # any case
    "vault://note/Agents/Support%20Agent.md",
    "vault://note/Agents/Support%20Agent",  # no .md
    "vault://note/Agents/Support Agent.md",  # raw space
    "vault://note/People/Tom%C3%A1s%20Alvarez.md",  # NFC, as on disk
    "vault://note/People/Toma%CC%81s%20Alvarez.md",  # NFD, as macOS spells it
]


@pytest.mark.e2e
@pytest.mark.parametrize("era", ERAS)
async def test_every_form_a_read_accepts_is_notified_under_the_form_subscribed(brain, vault, era, subscribed):
    """QA round 2, bug 2: only the exact canonical URI strings were notified."""
    (vault / "People" / "Tomás Alvarez.md").write_text("---\ntype: person\n---\n", encoding="utf-8")
    server = build_server(brain)
    async with subscribed(server, era, ALIAS_FORMS) as (c, got):
        notifier = Notifier(server.brain_events, brain, anyio.lowlevel.current_token())
        await apply_vault_change(brain, notifier, "People/Tomás Alvarez.md")  # the note appears
        for uri in ALIAS_FORMS:
            assert (await c.read_resource(uri)).contents
        for path in ("Agents/Support Agent.md", "People/Tomás Alvarez.md"):
            with (vault / path).open("a", encoding="utf-8") as f:
                f.write("\nedited\n")
        await apply_vault_change(brain, notifier, "Agents/Support Agent.md", "People/Tomás Alvarez.md")
        await got.wait_for(set(ALIAS_FORMS))
    assert set(got.uris) == set(ALIAS_FORMS)  # each under the form subscribed, none under another spelling


@pytest.mark.parametrize("era", ERAS)
async def test_a_name_subscribed_follows_its_note_when_it_is_renamed(brain, vault, era, subscribed):
    server = build_server(brain)
    by_id, last = "brain://agent/support-agent", "vault://note/Teams/Platform.md"
    async with subscribed(server, era, [by_id, last]) as (_c, got):
        notifier = Notifier(server.brain_events, brain, anyio.lowlevel.current_token())
        (vault / "Agents" / "Support Agent.md").rename(vault / "Agents" / "Help Agent.md")
        await apply_vault_change(brain, notifier, "Agents/Support Agent.md", "Agents/Help Agent.md")
        await got.wait_for({by_id})
        got.uris.clear()
        with (vault / "Agents" / "Help Agent.md").open("a", encoding="utf-8") as f:
            f.write("\nedited\n")
        await apply_vault_change(brain, notifier, "Agents/Help Agent.md")
        await server.brain_events.resource_updated(last)
        await got.wait_for({last})
    assert got.uris == [by_id, last]


async def test_a_handshake_era_unsubscribe_by_any_form_stops_its_updates(brain, subscribed):
    server = build_server(brain)
    last = "vault://note/Teams/Platform.md"
    async with subscribed(server, "legacy", ["brain://agent/Support%20Bot", "brain://agent/support-agent", last]) as (c, got):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            await c.unsubscribe_resource("brain://agent/Support%20Bot")
        await server.brain_events.resource_updated("brain://agent/Support%20Agent")
        await server.brain_events.resource_updated(last)
        await got.wait_for({last})
    assert got.uris == ["brain://agent/support-agent", last]
