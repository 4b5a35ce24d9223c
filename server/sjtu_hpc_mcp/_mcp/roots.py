"""The local folders the client shares (MCP roots)."""

from __future__ import annotations

import asyncio
import urllib.parse
import warnings
from typing import Any

from mcp.server.mcpserver import Context

ROOTS_WAIT_S = 5


async def client_roots(ctx: Context[Any, Any]) -> list[str]:
    """The local folders the client shares (MCP roots) as paths; none when it shares none or cannot say."""
    caps = ctx.client_capabilities
    if caps is None or caps.roots is None:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # roots are deprecated in the 2026 protocol era; older clients use them
            result = await asyncio.wait_for(ctx.request_context.session.list_roots(), ROOTS_WAIT_S)
    except Exception:  # a client that advertised roots but does not answer: treat as none shared
        return []
    paths: list[str] = []
    for root in result.roots:
        uri = urllib.parse.urlparse(str(root.uri))
        if uri.scheme == "file" and uri.path:
            paths.append(urllib.parse.unquote(uri.path))
    return paths
