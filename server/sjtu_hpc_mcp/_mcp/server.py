"""The SDK's server with a lean tools/list, errors in one form, and a hook for call and list interception.

Interception: `mcp.add_interceptor(interceptor)` puts an `Interceptor` around every tools/list answer and every
tool call (a client's tools/call and the tasks extension's own calls alike). The first added is the outermost:
it sees a call first and the list last. An interceptor that raises ToolError refuses the call; its text should
be coded (`E_CODE: What. Fix: …`), as the server codes only what comes from inside.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver import MCPServer as SdkServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, Tool
from pydantic import ValidationError

from ..core import schema
from ..core.errors import error_text
from .logs import ClientLog
from .schemas import invalid_arguments, lean_output, unknown_argument

L = TypeVar("L")
_SDK_PREFIX = re.compile(r"^Error executing tool [\w.-]+: ")
_CODED = re.compile(r"^E_[A-Z0-9_]+: ")

ToolAnswer = CallToolResult | InputRequiredResult
CallNext = Callable[[str, dict[str, Any], "Context[Any, Any] | None"], Awaitable[ToolAnswer]]


class Interceptor:
    """Sees tools/list and tool calls around the server's own handling; both methods pass through by default.

    - `on_list(tools)`: the lean list the client is about to get; return it, narrowed or changed (copies:
      the server caches the tools it hands out).
    - `on_call(name, arguments, context, call_next)`: return `await call_next(name, arguments, context)` to let
      the call go on (arguments unchecked yet: an unknown tool or argument is refused inside), or raise
      ToolError to refuse it. The answer is a CallToolResult, or an InputRequiredResult when the call asks
      the client for input and will be called again. `context` is None outside a request.
    """

    async def on_list(self, tools: list[Tool]) -> list[Tool]:
        return tools

    async def on_call(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None, call_next: CallNext
    ) -> ToolAnswer:
        return await call_next(name, arguments, context)


class MCPServer(SdkServer[L]):
    """The SDK's server with a lean tools/list and errors in one form (`E_CODE: What. Fix: what to do.`).

    Generic for every registered tool: titles pydantic adds go, descriptions are dedented, optional inputs
    lose their null branch, output schemas keep the top-level fields' types; unknown arguments are refused
    naming the closest valid one; schema-validation failures and crashes come out coded like every other failure.
    Interceptors (`add_interceptor`) wrap both, see the module's docstring.
    """

    _lean_tools: dict[str, Tool]

    def __init__(
        self,
        name: str | None = None,
        *,
        lifespan: Callable[[MCPServer[L]], AbstractAsyncContextManager[L]] | None = None,
        **kwargs: Any,
    ) -> None:
        self._interceptors: list[Interceptor] = []
        # The lifespan receives this class (the SDK passes the instance it was given to).
        super().__init__(name, lifespan=lifespan, **kwargs)  # type: ignore[arg-type]
        ClientLog.install(self)

    # -- interception ------------------------------------------------------------------------------------------

    def add_interceptor(self, interceptor: Interceptor) -> None:
        """Wrap tools/list and every tool call in `interceptor`, inside those added before it."""
        self._interceptors.append(interceptor)

    @property
    def interceptors(self) -> tuple[Interceptor, ...]:
        """The interceptors, outermost first."""
        return tuple(self._interceptors)

    async def list_tools(self) -> list[Tool]:
        tools = await self._lean_list()
        for interceptor in reversed(self._interceptors):
            tools = await interceptor.on_list(tools)
        return tools

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[L, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        call: CallNext = self._checked_call
        for interceptor in reversed(self._interceptors):
            call = _around(interceptor, call)
        return await call(name, arguments, context)

    # -- the server's own handling -----------------------------------------------------------------------------

    async def _lean_list(self) -> list[Tool]:
        cache = self.__dict__.setdefault("_lean_tools", {})
        tools = await super().list_tools()
        for t in tools:
            if t.name not in cache:
                cache[t.name] = t.model_copy(
                    update={
                        "description": schema.description(t.description),
                        "input_schema": schema.with_closed_arguments(schema.lean(t.input_schema, output=False)),
                        "output_schema": lean_output(t.output_schema) if t.output_schema else None,
                    }
                )
        return [cache[t.name] for t in tools]

    async def _checked_call(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None
    ) -> CallToolResult | InputRequiredResult:
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            names = sorted(t.name for t in self._tool_manager.list_tools())
            near = schema.closest(name, names)
            raise ToolError(
                error_text(
                    "E_UNKNOWN_TOOL",
                    f"there is no tool {name!r}",
                    f"call {near!r}" if near else f"call one of {', '.join(names)}",
                )
            )
        valid = list(tool.parameters.get("properties", {}))
        for given in arguments:
            if given not in valid:
                raise ToolError(unknown_argument(name, (given,), given, valid))
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            raise UnexpectedToolError(
                error_text(
                    "E_INTERNAL",
                    f"the tool {name} failed unexpectedly inside the server",
                    "retry once; if it fails again, tell the person (the server's log on stderr has the details)",
                )
            ) from exc.__cause__
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise ToolError(invalid_arguments(name, cause, tool.parameters)) from cause
            text = _SDK_PREFIX.sub("", str(exc))
            if not _CODED.match(text):
                text = error_text("E_TOOL", text, "correct the arguments if the message says how; otherwise retry")
            raise ToolError(text) from cause


def _around(interceptor: Interceptor, call_next: CallNext) -> CallNext:
    async def call(name: str, arguments: dict[str, Any], context: Context[Any, Any] | None) -> ToolAnswer:
        return await interceptor.on_call(name, arguments, context, call_next)

    return call
