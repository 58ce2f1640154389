"""MCP adapter: build_server(brain) exposes the company graph and its costs to AI clients."""

from mcp_server.server import build_server

__all__ = ["build_server"]
