"""The logging capability: the client sets a level (logging/setLevel, or per request on 2026-07-28) and
receives the server's notable events as notifications/message."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import warnings
import weakref
from collections.abc import Awaitable
from typing import Any

from mcp.server.mcpserver import MCPServer as SdkServer
from mcp.types import EmptyResult, SetLevelRequestParams
from mcp_types import LOG_LEVEL_META_KEY

PACKAGE = __name__.split(".")[0]  # the logger whose records may go to the client
DRAIN_S = 1.0  # the longest a request waits for its log events to leave

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
    def install(cls, mcp: SdkServer[Any]) -> ClientLog:
        """One handler per process on this package's logger; each server serves logging/setLevel into it."""
        package = logging.getLogger(PACKAGE)
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
