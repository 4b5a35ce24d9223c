"""The seam to the MCP SDK: with _tasks.py (the tasks extension), the only place the SDK is imported.

One concern a module:
  server.py       MCPServer: lean tools/list, unknown arguments refused, coded errors; the Interceptor hook
  schemas.py      the lean output schema; invalid and unknown arguments as coded errors
  annotations.py  read_only / mutating / destructive / dispatcher tool annotations
  results.py      tool_errors (HpcError → ToolError) and lean (a result's structured and text parts)
  consent.py      asking the person before a destructive act (elicitation); the acts and wording: core/consent.py
  input.py        sending the person to a page (URL elicitation, multi-round-trip input)
  waits.py        followed_as_task / wait_bound: no waiting inside a call a task follows
  roots.py        the client's shared folders (MCP roots)
  completions.py  completion/complete for prompt arguments
  http.py         the streamable HTTP app: DNS-rebinding protection, bearer check, uvicorn
  logs.py         the logging capability (ClientLog)
  person.py       CallPerson: the ops layer's Person (progress, roots, pages) over a call's context

Everything other modules use is re-exported here; import from `sjtu_hpc_mcp._mcp`, not its modules.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, Resolve
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    InputRequiredResult,
    TextContent,
    Tool,
)

from .annotations import base_title, destructive, dispatcher, dispatcher_title, mutating, read_only
from .completions import on_completion
from .consent import Approve, Consent, consent_declined, elicit_consent
from .http import serve_http
from .input import offer_url, open_url_input, url_input_answer
from .logs import ClientLog
from .person import CallPerson
from .results import lean, tool_errors
from .roots import client_roots
from .server import CallNext, Interceptor, MCPServer, ToolAnswer
from .waits import followed_as_task, wait_bound

__all__ = [
    "Approve",
    "CallNext",
    "CallPerson",
    "CallToolResult",
    "ClientLog",
    "Completion",
    "CompletionArgument",
    "CompletionContext",
    "Consent",
    "Context",
    "InputRequiredResult",
    "Interceptor",
    "MCPServer",
    "Resolve",
    "TextContent",
    "Tool",
    "ToolAnswer",
    "ToolError",
    "base_title",
    "client_roots",
    "consent_declined",
    "destructive",
    "dispatcher",
    "dispatcher_title",
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
