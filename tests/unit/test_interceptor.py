"""The server's hook for call and list interception (MCPServer.add_interceptor), through an in-process client."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from sjtu_hpc_mcp._mcp import CallNext, Context, Interceptor, MCPServer, Tool, ToolAnswer, ToolError, read_only

pytestmark = pytest.mark.anyio


class Recorder(Interceptor):
    def __init__(self, name: str, seen: list[str], hide: str | None = None, refuse: str | None = None) -> None:
        self.name, self.seen, self.hide, self.refuse = name, seen, hide, refuse

    async def on_list(self, tools: list[Tool]) -> list[Tool]:
        self.seen.append(f"{self.name}:list:{','.join(t.name for t in tools)}")
        return [t for t in tools if t.name != self.hide]

    async def on_call(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None, call_next: CallNext
    ) -> ToolAnswer:
        self.seen.append(f"{self.name}:call:{name}")
        if name == self.refuse:
            raise ToolError(f"E_READ_ONLY: {name} refused by {self.name}. Fix: do not.")
        result = await call_next(name, arguments, context)
        self.seen.append(f"{self.name}:done:{name}")
        return result


def _server(seen: list[str]) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("hook-test")

    @server.tool(annotations=read_only("Echo"))
    async def echo(text: str) -> str:
        """Says it back."""
        seen.append("tool:echo")
        return text

    @server.tool(annotations=read_only("Secret"))
    async def secret() -> str:
        """Hidden and refused."""
        seen.append("tool:secret")
        return "s"

    return server


async def test_the_first_added_is_outermost_and_sees_the_list_last() -> None:
    seen: list[str] = []
    server = _server(seen)
    server.add_interceptor(Recorder("outer", seen))
    server.add_interceptor(Recorder("inner", seen, hide="secret", refuse="secret"))
    assert [type(i) for i in server.interceptors] == [Recorder, Recorder]
    async with Client(server) as c:
        assert [t.name for t in (await c.list_tools()).tools] == ["echo"]
        r = await c.call_tool("echo", {"text": "hi"})
        assert not r.is_error
        refused = await c.call_tool("secret", {})
    assert seen == [
        "inner:list:echo,secret",
        "outer:list:echo",
        "outer:call:echo",
        "inner:call:echo",
        "tool:echo",
        "inner:done:echo",
        "outer:done:echo",
        "outer:call:secret",
        "inner:call:secret",
    ]
    assert refused.is_error and refused.content[0].text.startswith("E_READ_ONLY: secret refused")  # type: ignore[union-attr]


async def test_checks_and_coded_errors_stay_inside_the_interceptors() -> None:
    seen: list[str] = []
    server = _server(seen)
    server.add_interceptor(Recorder("only", seen))
    async with Client(server) as c:
        r = await c.call_tool("echo", {"txt": "hi"})
    assert r.is_error and r.content[0].text.startswith("E_ARG: ")  # type: ignore[union-attr]
    assert seen == ["only:call:echo"]  # the interceptor saw the call; the unknown argument was refused inside


async def test_without_interceptors_nothing_changes() -> None:
    seen: list[str] = []
    server = _server(seen)
    async with Client(server) as c:
        assert {t.name for t in (await c.list_tools()).tools} == {"echo", "secret"}
        assert not (await c.call_tool("secret", {})).is_error
