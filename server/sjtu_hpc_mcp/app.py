"""Builds the MCPServer: the lifespan owns the shell objects; each tools module registers its tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from . import __version__
from ._mcp import MCPServer
from ._tasks import TasksExtension
from .core.guide import first_map
from .core.platform import load_platform
from .services import Services
from .settings import Settings
from .shell.audit import AuditLog
from .tools import guard, guide, register_tools

AUDIT_FILE = "audit.jsonl"


def build_server(settings: Settings, prepared: Services | None = None) -> MCPServer[Services]:
    @asynccontextmanager
    async def lifespan(_: MCPServer[Services]) -> AsyncIterator[Services]:
        svc = prepared or Services.create(settings)
        try:
            yield svc
        finally:
            await svc.aclose()

    mcp: MCPServer[Services] = MCPServer(
        "sjtu-hpc-mcp",
        version=__version__,
        instructions=first_map(load_platform(), settings.read_only),
        lifespan=lifespan,
        log_level=settings.log_level,
        extensions=[TasksExtension(lambda: mcp)],  # long waits as tasks, for clients that declare them
    )
    audit_and_read_only = guard.Guard(AuditLog(settings.workspace / AUDIT_FILE), settings.read_only)
    mcp.add_interceptor(audit_and_read_only)  # every tool call and tools/list pass through it
    guard.register(mcp, audit_and_read_only)  # the audit trail's resource
    register_tools(mcp)  # the nine tools (tools.REGISTRY)
    guide.register(mcp)  # resources, prompts, completions
    return mcp
