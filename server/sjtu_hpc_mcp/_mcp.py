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
from mcp.server.transport_security import TransportSecuritySettings
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
    "serve_http",
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


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def transport_security(allowed_hosts: tuple[str, ...]) -> TransportSecuritySettings:
    """DNS-rebinding protection, always on: loopback names plus the configured ones, any port unless given."""
    hosts: list[str] = []
    origins: list[str] = []
    for name in (*LOOPBACK_HOSTS, *allowed_hosts):
        with_port = name.rsplit(":", 1)[-1].isdigit() and not name.endswith("]")
        forms = [name] if with_port else [name, f"{name}:*"]
        hosts += forms
        origins += [f"{scheme}://{form}" for scheme in ("http", "https") for form in forms]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def http_app(mcp: MCPServer[Any], allowed_hosts: tuple[str, ...], token: str | None, host: str) -> Any:
    """The streamable HTTP ASGI app on /mcp, behind the bearer check when a token is set."""
    from .shell.http_auth import BearerAuth

    app: Any = mcp.streamable_http_app(transport_security=transport_security(allowed_hosts), host=host)
    return BearerAuth(app, token) if token else app


def serve_http(
    mcp: MCPServer[Any], host: str, port: int, allowed_hosts: tuple[str, ...], token: str | None, log_level: str
) -> None:
    import uvicorn

    app = http_app(mcp, allowed_hosts, token, host)
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level=log_level.lower())
