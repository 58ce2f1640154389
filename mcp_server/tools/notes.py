"""Note tools: read a note's Markdown; with --allow-writes, record a change and set an owner."""

# No `from __future__ import annotations`: the SDK reads these signatures at runtime.

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from brain.notes import CHANGE_KINDS, parse_when
from mcp_server.common import READ_ONLY, WRITE, state_of, tool_errors, truncate_text

ChangeKind = Literal["deploy", "prompt", "model", "schedule", "config", "docs"]
assert set(ChangeKind.__args__) == set(CHANGE_KINDS)

NotePath = Annotated[str, Field(description="Vault-relative note path, e.g. 'Agents/Support Agent.md' ('.md' optional)")]


def read_note_page(ctx: Context, path: str, offset: int = 0) -> dict[str, Any]:
    """One page of a note's Markdown (shared by the tool and the vault:// resource)."""
    note = state_of(ctx).brain.read_note(path)
    page = truncate_text(note.text, offset, how=f" (read_note path={note.path!r})")
    return {"path": note.path, "id": note.id, **page}


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
    def record_change(
        agent: Annotated[str, Field(description="The agent this change touched (name, alias or agent id)")],
        kind: Annotated[ChangeKind, Field(description="What kind of change went live")],
        summary: Annotated[str, Field(description="One line: what changed and why")],
        ctx: Context,
        when: Annotated[str | None, Field(description="When it went live, ISO 8601 (default: now, UTC)")] = None,
    ) -> dict[str, Any]:
        """Write a new change note in Changes/ from the vault's change template, so cost anomalies can be explained."""
        result = state_of(ctx).brain.record_change(agent, kind, summary, parse_when(when))
        return result.as_dict()

    @server.tool(annotations=WRITE.model_copy(update={"idempotent_hint": True}), title="Set owner")
    @tool_errors
    def set_owner(
        name: Annotated[str, Field(description="The note to change (agent, tool, integration ...)")],
        owner: Annotated[str, Field(description="The person or team that owns it from now on")],
        ctx: Context,
    ) -> dict[str, Any]:
        """Set a note's owner to a person or team; only the owner property changes, the rest of the note is kept."""
        result = state_of(ctx).brain.set_owner(name, owner)
        return result.as_dict()
