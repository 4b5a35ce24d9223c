"""Sending the person to a page (URL elicitation): as the call's own answer on 2026-07-28 (multi-round-trip
input), as a request inside the call on earlier protocols."""

from __future__ import annotations

import secrets
from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import ElicitRequest, ElicitRequestURLParams, ElicitResult, InputRequiredResult

MODERN = "2026-07-28"  # the first protocol revision with no server-to-client request outside a call's input


def _elicits_url(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    return caps is not None and caps.elicitation is not None and caps.elicitation.url is not None


def _modern(ctx: Context[Any, Any]) -> bool:
    version = ctx.protocol_version
    return version is not None and version >= MODERN


def open_url_input(ctx: Context[Any, Any], key: str, message: str, url: str) -> InputRequiredResult | None:
    """On 2026-07-28, where the client elicits URLs: the call's answer asks it to show `url` to the person
    (multi-round-trip input); it calls again with the person's answer (`url_input_answer`). None elsewhere."""
    if not (_modern(ctx) and _elicits_url(ctx)):
        return None
    params = ElicitRequestURLParams(message=message, url=url, elicitation_id=secrets.token_hex(8))
    return InputRequiredResult(input_requests={key: ElicitRequest(params=params)})


def url_input_answer(ctx: Context[Any, Any], key: str) -> str | None:
    """The person's answer ("accept", "decline", "cancel") to the URL this call asked to show, if it carries one."""
    answer = (ctx.input_responses or {}).get(key)
    return answer.action if isinstance(answer, ElicitResult) else None


async def offer_url(ctx: Context[Any, Any], message: str, url: str) -> bool:
    """Point the person at a page out of band (a URL elicitation request in the call), where the client
    supports it on a protocol that has such requests (before 2026-07-28); False elsewhere, at once."""
    if not _elicits_url(ctx) or _modern(ctx):
        return False
    try:
        result = await ctx.elicit_url(message, url, elicitation_id=secrets.token_hex(8))
    except Exception:  # an older or modern-era session without a back channel: the result carries the URL
        return False
    return result.action == "accept"
