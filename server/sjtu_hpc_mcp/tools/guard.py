"""Where every tool call passes: the audit trail of acts done in the person's name, and the read-only mode.

Which calls change something, and how arguments are redacted, is the policy's (core.policy); this module only
applies it as an interceptor around the server's tool calls and tools/list (app.py adds it), so no tool body
carries audit or read-only code.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from typing import Any

from .. import __version__
from .._mcp import (
    CallNext,
    CallToolResult,
    Context,
    Interceptor,
    MCPServer,
    Tool,
    ToolAnswer,
    ToolError,
    base_title,
    dispatcher_title,
    read_only,
)
from ..core.policy import audit_arguments, audit_outcome, changing_act, changing_values, read_only_refusal
from ..services import Services
from ..shell.audit import AuditLog

log = logging.getLogger(__name__)
AUDIT_URI = "sjtu-hpc://audit/recent"
SHOWN = 20


class Guard(Interceptor):
    """Writes an audit line for every act that changes something and, read-only, hides and refuses them."""

    def __init__(self, audit: AuditLog | None = None, read_only_mode: bool = False) -> None:
        self.audit = audit
        self.read_only_mode = read_only_mode

    async def on_list(self, tools: list[Tool]) -> list[Tool]:
        if not self.read_only_mode:
            return tools
        shown = []
        for tool in tools:
            arg, changing = changing_values(tool.name)
            if arg is None and changing_act(tool.name, {}) is not None:
                continue  # the whole tool changes something: not listed at all
            shown.append(_narrowed(tool, arg, changing) if arg and changing else tool)
        return shown

    async def on_call(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None, call_next: CallNext
    ) -> ToolAnswer:
        act = changing_act(name, arguments)
        if act is None:
            return await call_next(name, arguments, context)
        started = time.time()
        try:
            if self.read_only_mode:
                raise ToolError(str(read_only_refusal(name, act)))
            result = await call_next(name, arguments, context)
        except ToolError as exc:
            self.record(name, act, arguments, context, started, audit_outcome(True, str(exc), None), None)
            raise
        except Exception:
            outcome = audit_outcome(True, "E_INTERNAL: the call failed inside the server", None)
            self.record(name, act, arguments, context, started, outcome, None)
            raise
        if isinstance(result, CallToolResult):  # not a request for input the client will answer by calling again
            text = "".join(getattr(c, "text", "") for c in result.content)
            data = result.structured_content or {}
            node = data.get("node") if isinstance(data.get("node"), str) else None
            self.record(name, act, arguments, context, started, audit_outcome(result.is_error, text, data), node)
        return result

    def record(
        self,
        tool: str,
        act: str,
        arguments: dict[str, Any],
        context: Context[Any, Any] | None,
        started: float,
        outcome: dict[str, object],
        node: str | None,
    ) -> None:
        """One line of the audit trail (also for acts done outside a tool call: the tasks extension's cancel)."""
        if self.audit is None:
            return
        name, version = _client(context)
        self.audit.append(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "seconds": round(time.time() - started, 3),
                "tool": tool,
                "act": act,
                "arguments": audit_arguments(arguments),
                "client": {"name": name, "version": version},
                "node": node,
                "outcome": outcome,
                "server": __version__,
            }
        )


def guard_of(mcp: Any) -> Guard | None:
    """The server's guard, if it has one."""
    interceptors = mcp.interceptors if isinstance(mcp, MCPServer) else ()
    return next((i for i in interceptors if isinstance(i, Guard)), None)


def _client(context: Context[Any, Any] | None) -> tuple[str | None, str | None]:
    """The client's name and version as its initialize request gave them (clientInfo)."""
    try:
        params = context.session.client_params if context is not None else None
    except (ValueError, AttributeError):  # outside a request
        return None, None
    info = getattr(params, "client_info", None)
    return getattr(info, "name", None), getattr(info, "version", None)


def _narrowed(tool: Tool, arg: str, changing: frozenset[str]) -> Tool:
    """The tool as a read-only server lists it: only the values of `arg` that read, no confirm, read-only hints."""
    schema = copy.deepcopy(tool.input_schema)
    props = schema.get("properties", {})
    prop = props.get(arg, {})
    reads: list[str] = []
    if "enum" in prop:
        prop["enum"] = reads = [v for v in prop["enum"] if v not in changing]
    props.pop("confirm", None)
    title = tool.annotations.title if tool.annotations is not None and tool.annotations.title else tool.name
    title = dispatcher_title(base_title(title), reads) if reads else base_title(title)
    return tool.model_copy(update={"input_schema": schema, "annotations": read_only(title)})


def register(mcp: MCPServer[Services], guard: Guard) -> None:
    """The audit trail's resource, read through `guard`."""

    @mcp.resource(
        AUDIT_URI,
        name="audit",
        title="Recent acts done in your name",
        description=f"The last {SHOWN} lines of the audit trail (<workspace>/audit.jsonl): what changed, when, "
        "by which client, where, and how it ended.",
        mime_type="application/json",
    )
    def audit_recent() -> str:
        if guard.audit is None:
            return json.dumps({"entries": []})
        return json.dumps({"file": str(guard.audit.path), "entries": guard.audit.last(SHOWN)}, ensure_ascii=False)
