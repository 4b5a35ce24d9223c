"""CallPerson: the ops layer's `Person` (ops/talk.py) over one tool call's context."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from .input import offer_url, open_url_input, url_input_answer
from .roots import client_roots
from .waits import wait_bound


class CallPerson:
    """The person behind a tool call: progress, roots, the wait bound and local pages, through the SDK."""

    def __init__(self, ctx: Context[Any, Any]) -> None:
        self.ctx = ctx

    async def progress(self, done: float, total: float | None, message: str) -> None:
        await self.ctx.report_progress(done, total, message)

    async def roots(self) -> list[str]:
        return await client_roots(self.ctx)

    def wait_bound(self, seconds: float) -> float:
        return wait_bound(seconds)

    def url_answer(self, key: str) -> str | None:
        return url_input_answer(self.ctx, key)

    def ask_url(self, key: str, message: str, url: str) -> object | None:
        return open_url_input(self.ctx, key, message, url)

    async def offer_url(self, message: str, url: str) -> bool:
        return await offer_url(self.ctx, message, url)
