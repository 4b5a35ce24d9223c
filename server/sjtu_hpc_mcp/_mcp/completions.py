"""completion/complete: suggestions for prompt arguments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import MCPServer as SdkServer
from mcp.types import Completion, CompletionArgument, CompletionContext

CompletionHandler = Callable[[Any, CompletionArgument, CompletionContext | None], Awaitable[Completion | None]]


def on_completion(mcp: SdkServer[Any], handler: CompletionHandler) -> None:
    """Serve completion/complete (prompt arguments) with `handler`; advertises the completions capability."""
    mcp.completion()(handler)  # type: ignore[no-untyped-call]
