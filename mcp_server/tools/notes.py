"""Note tools: read a note's Markdown; with --allow-writes, record a change and set an owner."""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

from typing import Annotated, Any, Literal, get_args

import anyio
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from brain.vault.edits import CHANGE_KINDS, parse_when
from mcp_server.common import READ_ONLY, WRITE, BrainState, state_of, tool_errors, truncate_text

ChangeKind = Literal["deploy", "prompt", "model", "schedule", "config", "docs"]
assert set(get_args(ChangeKind)) == set(CHANGE_KINDS)

NotePath = Annotated[str, Field(description="Vault-relative note path, e.g. 'Agents/Support Agent.md' ('.md' optional)")]


def read_note_page(ctx: Context, path: str, offset: int = 0) -> dict[str, Any]:
    """One page of a note's Markdown (shared by the tool and the vault:// resource)."""
    note = state_of(ctx).brain.read_note(path)
    page = truncate_text(note.text, offset, how=f" (read_note path={note.path!r})")
    return {"path": note.path, "id": note.id, **page}


async def _notify(st: BrainState, path: str, listing_changed: bool = False) -> None:
    """Tell subscribed clients that a note (and, for a change note, its agent) changed."""
    note = st.brain.graph.notes.get(path[:-3])
    agent = note.name if note is not None and note.type == "agent" else None
    if note is not None and note.type == "change":
        agent = _changed_agent(st, note)
    await st.events.note_changed(path, agent_name=agent, listing_changed=listing_changed)


def _changed_agent(st: BrainState, note) -> str | None:
    g = st.brain.graph
    for _, target, data in g.g.out_edges(note.id, data=True):
        if data.get("relation") == "changes" and g.g.nodes[target].get("type") == "agent":
            return g.name_of(target)
    return None


def register(server: MCPServer, allow_writes: bool) -> None:
    """Add read_note, and the write tools when `allow_writes` is set."""

    @server.tool(annotations=READ_ONLY, title="Read note")
    @tool_errors
    def read_note(
        path: NotePath,
        ctx: Context,
        offset: Annotated[int, Field(ge=0, description="Character offset to continue a truncated note from")] = 0,
    ) -> dict[str, Any]:
        """The Markdown text of one vault note (frontmatter included); long notes come in pages."""
        return read_note_page(ctx, path, offset)

    if not allow_writes:
        return

    @server.tool(annotations=WRITE, title="Record change")
    @tool_errors
    async def record_change(
        agent: Annotated[str, Field(description="The agent this change touched (name, alias or agent id)")],
        kind: Annotated[ChangeKind, Field(description="What kind of change went live")],
        summary: Annotated[str, Field(description="One line: what changed and why")],
        ctx: Context,
        when: Annotated[str | None, Field(description="When it went live, ISO 8601 (default: now, UTC)")] = None,
    ) -> dict[str, Any]:
        """Write a new change note in Changes/ from the vault's change template, so cost anomalies can be explained."""
        st = state_of(ctx)
        result = await anyio.to_thread.run_sync(st.brain.record_change, agent, kind, summary, parse_when(when))
        await _notify(st, result.path, listing_changed=True)
        return result.as_dict()

    @server.tool(annotations=WRITE.model_copy(update={"idempotent_hint": True}), title="Set owner")
    @tool_errors
    async def set_owner(
        name: Annotated[str, Field(description="The note to change (agent, tool, integration ...)")],
        owner: Annotated[str, Field(description="The person or team that owns it from now on")],
        ctx: Context,
    ) -> dict[str, Any]:
        """Set a note's owner to a person or team; only the owner property changes, the rest of the note is kept."""
        st = state_of(ctx)
        result = await anyio.to_thread.run_sync(st.brain.set_owner, name, owner)
        await _notify(st, result.path)
        return result.as_dict()
