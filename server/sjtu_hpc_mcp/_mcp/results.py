"""A tool's answer: the core's expected failures as ToolErrors, and results in their lean two-part form."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from ..core.errors import HpcError
from ..core.results import model_view, render

P = ParamSpec("P")
R = TypeVar("R")


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn the core's expected failures into ToolErrors the model can read and act on."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except HpcError as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def lean(model: BaseModel) -> CallToolResult:
    """The result as the model reads it (structured: no nulls, no empty lists) and the same data as lines of text.

    Most hosts show their model only the structured part, text-only hosts only the text: both are complete.
    """
    data = model_view(model.model_dump(mode="json"))
    return CallToolResult(content=[TextContent(type="text", text=render(data))], structured_content=data)
