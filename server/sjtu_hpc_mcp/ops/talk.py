"""What a use case needs from the conversation, without the SDK.

The tools layer hands each use case a `Person` built from the call (`_mcp.CallPerson`): progress
notifications, the folders the client shares, how long this call may wait, and sending the person to a
local page. A use case never sees the SDK; what it gets back from `ask_url` is opaque to it (`Asked`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

# (done, total or None, message): MCP progress notifications, when the client asked for them
Progress = Callable[[int, int | None, str], Awaitable[None]]
# the folders the client shares (MCP roots), asked only when a local path is involved
Roots = Callable[[], Awaitable[Sequence[str]]]


@dataclass(frozen=True)
class Asked:
    """The call's answer asks the client for the person's input; the call comes again with it.

    `answer` is the protocol's answer (an InputRequiredResult), handed back by the tool as it is.
    """

    answer: object


class Person(Protocol):
    """The person behind the call, as the client lets the server reach them."""

    async def progress(self, done: float, total: float | None, message: str) -> None:
        """A progress notification (dropped when the client did not ask for them)."""

    async def roots(self) -> list[str]:
        """The local folders the client shares (MCP roots); none when it shares none."""

    def wait_bound(self, seconds: float) -> float:
        """How long this call may wait for the person or the work (nothing when a task follows it)."""

    def url_answer(self, key: str) -> str | None:
        """The person's answer (accept, decline, cancel) to the page this call asked to show, if any."""

    def ask_url(self, key: str, message: str, url: str) -> object | None:
        """An answer asking the client to show `url` (2026-07-28 input round), or None where it cannot."""

    async def offer_url(self, message: str, url: str) -> bool:
        """Show `url` to the person during the call (older protocols' URL elicitation); False if not possible."""
