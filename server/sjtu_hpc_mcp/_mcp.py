"""The only module that imports the MCP SDK: the server class, context, errors and annotation helpers."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from .core.errors import HpcError

__all__ = [
    "CallToolResult",
    "Context",
    "MCPServer",
    "TextContent",
    "ToolError",
    "destructive",
    "mutating",
    "read_only",
    "tool_errors",
]

P = ParamSpec("P")
R = TypeVar("R")


def read_only(title: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )


def mutating(title: str, idempotent: bool = False) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=False, destructive_hint=False, idempotent_hint=idempotent, open_world_hint=True
    )


def destructive(title: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
    )


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn the core's expected failures into ToolErrors the model can read and act on."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except HpcError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def lifespan_of(ctx: Context[Any, Any]) -> Any:
    return ctx.request_context.lifespan_context
