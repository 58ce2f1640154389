"""MCP adapter: build_server(brain) exposes the company graph and its costs to AI clients.

server (build_server) · tools/ by domain · resources · prompts · transports (stdio, HTTP) ·
options (the serve options shared with `brain serve`) · common, arguments, events.
`build_server` is re-exported lazily, so `brain serve`'s options load without the MCP SDK.
"""

from typing import TYPE_CHECKING

from brain.exports import lazy

if TYPE_CHECKING:
    from mcp_server.server import build_server

__all__ = ["build_server"]

__getattr__ = lazy(__name__, {"build_server": "mcp_server.server"})
