"""The layers hold what their names say (issue 15): the import arrows, checked on the source.

  tools/  → ops/ → shell/ (I/O only) and core/ (pure)
  _mcp/ and _tasks.py are the only modules that import the MCP SDK.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import TOOL_NAMES
from sjtu_hpc_mcp import tools
from sjtu_hpc_mcp.services import Services
from sjtu_hpc_mcp.settings import Settings

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "sjtu_hpc_mcp"


def _imports(path: Path) -> set[str]:
    """Absolute names of what a module imports (relative imports resolved against the package)."""
    here = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _modules(folder: str) -> dict[str, set[str]]:
    return {p.relative_to(PACKAGE).as_posix(): _imports(p) for p in sorted((PACKAGE / folder).rglob("*.py"))}


def _offending(folder: str, banned: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for name, imported in _modules(folder).items():
        bad = sorted(i for i in imported if any(i == b or i.startswith(b + ".") for b in banned))
        if bad:
            out[name] = bad
    return out


SDK = ("mcp", "mcp_types", "sjtu_hpc_mcp._mcp", "sjtu_hpc_mcp._tasks")
UPPER = ("sjtu_hpc_mcp.tools", "sjtu_hpc_mcp.services", "sjtu_hpc_mcp.app")


def test_the_resolver_sees_relative_imports() -> None:
    assert "sjtu_hpc_mcp.core.policy" in _imports(PACKAGE / "ops" / "storage.py")
    assert "sjtu_hpc_mcp.shell.data.DataNodes" in _imports(PACKAGE / "ops" / "storage.py")


def test_shell_does_io_only_it_decides_nothing() -> None:
    banned = ("sjtu_hpc_mcp.core.policy", "sjtu_hpc_mcp.core.consent", "sjtu_hpc_mcp.ops", *SDK, *UPPER)
    assert _offending("shell", banned) == {}


def test_ops_never_imports_the_sdk_or_the_tools() -> None:
    assert _offending("ops", (*SDK, *UPPER)) == {}


def test_core_imports_no_layer_above_it() -> None:
    banned = ("sjtu_hpc_mcp.shell", "sjtu_hpc_mcp.ops", "sjtu_hpc_mcp.settings", *SDK, *UPPER)
    assert _offending("core", banned) == {}


def test_no_tool_module_imports_another() -> None:
    siblings = {f"sjtu_hpc_mcp.tools.{p.stem}" for p in (PACKAGE / "tools").glob("*.py") if p.stem != "__init__"}
    out = {}
    for name, imported in _modules("tools").items():
        if name == "tools/__init__.py":
            continue  # the registry lists them all
        own = "sjtu_hpc_mcp.tools." + Path(name).stem
        bad = sorted(i for i in imported if any(i == s or i.startswith(s + ".") for s in siblings - {own}))
        if bad:
            out[name] = bad
    assert out == {}


def test_the_registry_lists_every_tool_once_as_a_module_level_function() -> None:
    names = [entry.name for entry in tools.REGISTRY]
    assert sorted(names) == sorted(TOOL_NAMES)
    for entry in tools.REGISTRY:
        assert entry.fn.__qualname__ == entry.fn.__name__, f"{entry.name} is not module-level"
        assert entry.fn.__module__.startswith("sjtu_hpc_mcp.tools."), entry.fn.__module__


@pytest.mark.anyio
async def test_a_tool_function_runs_without_a_server(tmp_path: Path) -> None:
    """Imported and called directly, with only what it reads of the call's context."""
    svc = Services.create(Settings(workspace=tmp_path))
    ctx = SimpleNamespace(request_context=SimpleNamespace(lifespan_context=svc))
    try:
        result = await tools.credentials.credential_status(ctx)  # type: ignore[arg-type]
    finally:
        await svc.aclose()
    assert not result.is_error
    status = result.structured_content
    assert status is not None and status["ready_for_ssh"] is False
    assert "request_token" in json.dumps(status)
