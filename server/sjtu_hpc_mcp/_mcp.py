"""The MCP SDK's server class, context, errors and annotation helpers (with _tasks.py, the tasks extension,
the only modules that import the SDK)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import re
import secrets
import urllib.parse
import warnings
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, ParamSpec, TypeVar

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    Resolve,
)
from mcp.server.mcpserver import MCPServer as SdkServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import (
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    ElicitRequest,
    ElicitRequestURLParams,
    ElicitResult,
    EmptyResult,
    InputRequiredResult,
    SetLevelRequestParams,
    TextContent,
    Tool,
    ToolAnnotations,
)
from mcp_types import LOG_LEVEL_META_KEY
from pydantic import BaseModel, Field, ValidationError

from .core import schema
from .core.errors import HpcError, error_text
from .core.results import model_view, render

__all__ = [
    "CallToolResult",
    "Completion",
    "CompletionArgument",
    "CompletionContext",
    "Consent",
    "Context",
    "InputRequiredResult",
    "MCPServer",
    "Resolve",
    "TextContent",
    "ToolError",
    "client_roots",
    "consent_declined",
    "destructive",
    "elicit_consent",
    "followed_as_task",
    "lean",
    "mutating",
    "offer_url",
    "on_completion",
    "open_url_input",
    "read_only",
    "serve_http",
    "tool_errors",
    "url_input_answer",
    "wait_bound",
]

P = ParamSpec("P")
R = TypeVar("R")
L = TypeVar("L")
_SDK_PREFIX = re.compile(r"^Error executing tool [\w.-]+: ")
_CODED = re.compile(r"^E_[A-Z0-9_]+: ")
MAX_SHOWN = 3
DRAIN_S = 1.0  # the longest a request waits for its log events to leave


class MCPServer(SdkServer[L]):
    """The SDK's server with a lean tools/list and errors in one form (`E_CODE: What. Fix: what to do.`).

    Generic for every registered tool: titles pydantic adds go, descriptions are dedented, optional inputs
    lose their null branch, output schemas keep the top-level fields' types; unknown arguments are refused
    naming the closest valid one; schema-validation failures and crashes come out coded like every other failure.
    """

    _lean_tools: dict[str, Tool]

    def __init__(
        self,
        name: str | None = None,
        *,
        lifespan: Callable[[MCPServer[L]], AbstractAsyncContextManager[L]] | None = None,
        **kwargs: Any,
    ) -> None:
        # The lifespan receives this class (the SDK passes the instance it was given to).
        super().__init__(name, lifespan=lifespan, **kwargs)  # type: ignore[arg-type]
        ClientLog.install(self)

    async def list_tools(self) -> list[Tool]:
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

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[L, Any] | None = None
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


def lean_output(output_schema: dict[str, Any]) -> dict[str, Any]:
    """The result's fields and their types; nested objects only as "object" (the text part shows them).

    `lean()` sends no null and no empty list or object (core.results.model_view): such fields lose their
    null branch and are not required, so the schema says exactly what a result may hold.
    """
    cut = schema.lean(schema.shallow(output_schema, depth=1), output=True)  # also without "required"
    lean_schema: dict[str, Any] = schema.without_null_when_omitted(cut, set())
    return lean_schema


def unknown_argument(tool: str, loc: tuple[str | int, ...], given: str, valid: list[str]) -> str:
    where = ".".join(map(str, loc))
    near = schema.closest(given, valid)
    fix = f"use {near!r} instead" if near else "leave it out"
    return error_text(
        "E_ARG",
        f"the tool {tool} has no argument {where!r}; it was refused, not ignored",
        f"{fix} (valid here: {', '.join(valid)})",
    )


def invalid_arguments(tool: str, exc: ValidationError, parameters: dict[str, Any]) -> str:
    """Pydantic's errors as one coded line: which argument, what is wrong, what was given."""
    errors = exc.errors(include_url=False)
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            return unknown_argument(tool, loc, str(loc[-1]), schema.properties_at(parameters, loc[:-1]))
    parts = []
    for err in errors[:MAX_SHOWN]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "missing":
            parts.append(f"{where} is required")
            continue
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "…"
        msg = err["msg"][0].lower() + err["msg"][1:]
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        if err["type"] == "string_pattern_mismatch" and len(pattern) > 40:
            msg = "does not have the allowed form (the schema's pattern)"
        parts.append(f"{where}: {msg} (got {shown})")
    more = f" and {len(errors) - MAX_SHOWN} more" if len(errors) > MAX_SHOWN else ""
    names = sorted({str(err["loc"][0]) for err in errors if err["loc"]})
    return error_text(
        "E_ARG",
        f"the arguments of {tool} do not fit its input schema: {'; '.join(parts)}{more}",
        f"correct {', '.join(names) or 'the arguments'} as the schema says and call {tool} again",
    )


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


def lean(model: BaseModel) -> CallToolResult:
    """The result as the model reads it (structured: no nulls, no empty lists) and the same data as lines of text.

    Most hosts show their model only the structured part, text-only hosts only the text: both are complete.
    """
    data = model_view(model.model_dump(mode="json"))
    return CallToolResult(content=[TextContent(type="text", text=render(data))], structured_content=data)


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


_AS_TASK: contextvars.ContextVar[bool] = contextvars.ContextVar("sjtu_hpc_mcp_as_task", default=False)


@contextlib.contextmanager
def followed_as_task() -> Iterator[None]:
    """Within it, the call's outcome goes back as a task the client follows (the tasks extension): the call
    waits for nothing that the task will wait for."""
    token = _AS_TASK.set(True)
    try:
        yield
    finally:
        _AS_TASK.reset(token)


def wait_bound(seconds: float) -> float:
    """How long this call may wait for a person or the work: nothing when a task follows it."""
    return 0.0 if _AS_TASK.get() else seconds


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


async def client_roots(ctx: Context[Any, Any]) -> list[str]:
    """The local folders the client shares (MCP roots) as paths; none when it shares none or cannot say."""
    caps = ctx.client_capabilities
    if caps is None or caps.roots is None:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # roots are deprecated in the 2026 protocol era; older clients use them
            result = await asyncio.wait_for(ctx.request_context.session.list_roots(), 5)
    except Exception:  # a client that advertised roots but does not answer: treat as none shared
        return []
    paths: list[str] = []
    for root in result.roots:
        uri = urllib.parse.urlparse(str(root.uri))
        if uri.scheme == "file" and uri.path:
            paths.append(urllib.parse.unquote(uri.path))
    return paths


CompletionHandler = Callable[[Any, CompletionArgument, CompletionContext | None], Awaitable[Completion | None]]


def on_completion(mcp: MCPServer[Any], handler: CompletionHandler) -> None:
    """Serve completion/complete (prompt arguments) with `handler`; advertises the completions capability."""
    mcp.completion()(handler)  # type: ignore[no-untyped-call]


# -- the logging capability: the client sets a level and receives the server's notable events ------------

_PY_LEVEL = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO + 5,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 5,
    "emergency": logging.CRITICAL + 10,
}
_REQUEST: contextvars.ContextVar[Any] = contextvars.ContextVar("sjtu_hpc_mcp_request", default=None)


def _connection(ctx: Any) -> Any:
    """What outlives one request: the SDK makes a ServerSession per request over one connection."""
    return getattr(ctx.session, "_connection", ctx.session)


def _mcp_level(levelno: int) -> Any:
    return next((name for name, n in sorted(_PY_LEVEL.items(), key=lambda kv: -kv[1]) if levelno >= n), "debug")


class ClientLog(logging.Handler):
    """Forwards this package's log records to the client that asked for them with logging/setLevel.

    Records go to the client of the request being handled, at or above the level its connection set
    with logging/setLevel, or, on 2026-07-28 sessions, the level the request asked for in its `_meta`;
    nothing before either. The log lines never hold secrets (see shell/ and tools/), so they may leave
    the process.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.levels: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        self._sending: set[asyncio.Task[None]] = set()
        self._of_request: dict[int, set[asyncio.Task[None]]] = {}  # by id() of the request being handled

    @classmethod
    def install(cls, mcp: MCPServer[Any]) -> ClientLog:
        """One handler per process on this package's logger; each server serves logging/setLevel into it."""
        package = logging.getLogger(__package__ or "sjtu_hpc_mcp")
        handler = next((h for h in package.handlers if isinstance(h, cls)), None) or cls()
        if handler not in package.handlers:
            package.addHandler(handler)

        def let_through(level: int) -> None:
            # Records below the package logger's level never reach a handler; stderr keeps its own
            # level on its handler (see __main__), so lowering this one shows nothing more there.
            if package.getEffectiveLevel() > level:
                package.setLevel(level)

        async def set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
            handler.levels[_connection(ctx)] = _PY_LEVEL[params.level]
            let_through(_PY_LEVEL[params.level])
            return EmptyResult()

        async def remember_request(ctx: Any, call_next: Any) -> Any:
            asked = _PY_LEVEL.get(str((ctx.meta or {}).get(LOG_LEVEL_META_KEY)))
            if asked is not None:
                let_through(asked)
            token = _REQUEST.set(ctx)
            handler.begin(ctx)
            try:
                return await call_next(ctx)
            finally:
                _REQUEST.reset(token)
                await handler.drain(ctx)  # a request's events go out before its answer (its session ends there)

        mcp._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
        mcp.middleware.append(remember_request)
        return handler

    def emit(self, record: logging.LogRecord) -> None:
        ctx = _REQUEST.get()
        wanted = self.levels.get(_connection(ctx)) if ctx is not None else None
        if ctx is not None and wanted is None:  # 2026-07-28: the request itself opts in, at a level
            wanted = _PY_LEVEL.get(str((ctx.meta or {}).get(LOG_LEVEL_META_KEY)))
        if wanted is None or record.levelno < wanted:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated from 2026-07-28; older clients use it
            send = ctx.session.send_log_message(
                _mcp_level(record.levelno), record.getMessage(), logger=record.name, related_request_id=ctx.request_id
            )
        task = loop.create_task(self._send(send))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        if id(ctx) in self._of_request:  # not a task that outlived its request
            self._of_request[id(ctx)].add(task)

    def begin(self, ctx: Any) -> None:
        self._of_request[id(ctx)] = set()

    async def drain(self, ctx: Any) -> None:
        """Wait (briefly) for the events sent while handling `ctx` to leave."""
        pending = self._of_request.pop(id(ctx), None)
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_S)

    @staticmethod
    async def _send(send: Awaitable[None]) -> None:
        try:
            await send
        except Exception:  # a closed stream: the event is simply not delivered
            return
