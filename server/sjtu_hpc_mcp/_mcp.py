"""The only module that imports the MCP SDK: the server class, context, errors and annotation helpers."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    MCPServer,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from .core.errors import HpcError

__all__ = [
    "CallToolResult",
    "Consent",
    "Context",
    "MCPServer",
    "Resolve",
    "TextContent",
    "ToolError",
    "consent_declined",
    "destructive",
    "elicit_consent",
    "lean",
    "mutating",
    "offer_url",
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


def lean(model: BaseModel, text: str | None = None) -> CallToolResult:
    """One compact copy in the text part (not the SDK's indented JSON), the model as structured content."""
    body = text if text is not None else model.model_dump_json(exclude_none=True)
    fields = type(model).model_fields
    data = {
        k: v
        for k, v in model.model_dump(mode="json").items()
        if v is not None or (k in fields and fields[k].is_required())
    }
    return CallToolResult(content=[TextContent(type="text", text=body)], structured_content=data)


class Approve(BaseModel):
    """What the person is asked before a destructive act."""

    approve: bool = Field(description="Go ahead?")


# The outcome of asking the person: None when nobody was asked (the framework then injects an
# empty AcceptedElicitation), or what the person answered.
Consent = AcceptedElicitation[Approve] | DeclinedElicitation | CancelledElicitation | None


def can_elicit(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    return caps is not None and caps.elicitation is not None


def elicit_consent(ctx: Context[Any, Any], message: str) -> Elicit[Approve] | None:
    """Ask the person, where the client can; elsewhere the explicit confirm flag stands alone."""
    return Elicit(message, Approve) if can_elicit(ctx) else None


async def offer_url(ctx: Context[Any, Any], message: str, url: str) -> bool:
    """Point the person at a page out of band (URL elicitation), where the client supports it."""
    caps = ctx.client_capabilities
    if caps is None or caps.elicitation is None or caps.elicitation.url is None:
        return False
    try:
        result = await ctx.elicit_url(message, url, elicitation_id=secrets.token_hex(8))
    except Exception:  # an older or modern-era session without a back channel: the result carries the URL
        return False
    return result.action == "accept"


def consent_declined(outcome: Consent) -> bool:
    if isinstance(outcome, DeclinedElicitation | CancelledElicitation):
        return True
    if isinstance(outcome, AcceptedElicitation) and isinstance(outcome.data, Approve):
        return not outcome.data.approve
    return False
