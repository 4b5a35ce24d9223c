"""Where every tool call passes: the audit trail of acts done in the person's name, and the read-only mode.

Which calls change something, and how arguments are redacted, is the policy's (core.policy); this module only
applies it around the SDK's tool calls, so no tool body carries audit or read-only code.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from typing import Any

from .. import __version__
from .._mcp import CallToolResult, Context, MCPServer, ToolError, read_only
from ..core.policy import audit_arguments, audit_outcome, changing_act, changing_values, read_only_refusal
from ..services import Services
from ..shell.audit import AuditLog

log = logging.getLogger(__name__)
AUDIT_URI = "sjtu-hpc://audit/recent"
SHOWN = 20


class GuardedServer(MCPServer[Services]):
    """MCPServer that writes an audit line for every act that changes something and, read-only, hides them."""

    def __init__(self, *args: Any, audit: AuditLog | None = None, read_only_mode: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.audit = audit
        self.read_only_mode = read_only_mode

    async def list_tools(self) -> list[Any]:
        tools = await super().list_tools()
        if not self.read_only_mode:
            return tools
        shown = []
        for tool in tools:
            arg, changing = changing_values(tool.name)
            if arg is None and changing_act(tool.name, {}) is not None:
                continue  # the whole tool changes something: not listed at all
            shown.append(_narrowed(tool, arg, changing) if arg and changing else tool)
        return shown

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None) -> Any:
        act = changing_act(name, arguments)
        if act is None:
            return await super().call_tool(name, arguments, context)
        started = time.time()
        try:
            if self.read_only_mode:
                raise ToolError(str(read_only_refusal(name, act)))
            result = await super().call_tool(name, arguments, context)
        except ToolError as exc:
            self._record(name, act, arguments, context, started, audit_outcome(True, str(exc), None), None)
            raise
        except Exception:
            outcome = audit_outcome(True, "E_INTERNAL: the call failed inside the server", None)
            self._record(name, act, arguments, context, started, outcome, None)
            raise
        if isinstance(result, CallToolResult):  # not a request for input the client will answer by calling again
            text = "".join(getattr(c, "text", "") for c in result.content)
            data = result.structured_content or {}
            node = data.get("node") if isinstance(data.get("node"), str) else None
            self._record(name, act, arguments, context, started, audit_outcome(result.is_error, text, data), node)
        return result

    def _record(
        self,
        tool: str,
        act: str,
        arguments: dict[str, Any],
        context: Context[Any, Any] | None,
        started: float,
        outcome: dict[str, object],
        node: str | None,
    ) -> None:
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


def _client(context: Context[Any, Any] | None) -> tuple[str | None, str | None]:
    """The client's name and version as its initialize request gave them (clientInfo)."""
    try:
        params = context.session.client_params if context is not None else None
    except (ValueError, AttributeError):  # outside a request
        return None, None
    info = getattr(params, "client_info", None)
    return getattr(info, "name", None), getattr(info, "version", None)


def _narrowed(tool: Any, arg: str, changing: frozenset[str]) -> Any:
    """The tool as a read-only server lists it: only the values of `arg` that read, no confirm, read-only hints."""
    schema = copy.deepcopy(tool.input_schema)
    props = schema.get("properties", {})
    prop = props.get(arg, {})
    if "enum" in prop:
        prop["enum"] = [v for v in prop["enum"] if v not in changing]
    props.pop("confirm", None)
    title = tool.annotations.title if tool.annotations is not None else tool.name
    return tool.model_copy(update={"input_schema": schema, "annotations": read_only(title)})


def register(mcp: GuardedServer) -> None:
    @mcp.resource(
        AUDIT_URI,
        name="audit",
        title="Recent acts done in your name",
        description=f"The last {SHOWN} lines of the audit trail (<workspace>/audit.jsonl): what changed, when, "
        "by which client, where, and how it ended.",
        mime_type="application/json",
    )
    def audit_recent() -> str:
        if mcp.audit is None:
            return json.dumps({"entries": []})
        return json.dumps({"file": str(mcp.audit.path), "entries": mcp.audit.last(SHOWN)}, ensure_ascii=False)
