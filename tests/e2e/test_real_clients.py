"""Real clients: the MCP inspector CLI (--strict, with the committed mcp.json), the conformance suite over
HTTP, the SDK client in both protocol eras, and every client snippet in clients/ (README shows the same)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import StdioServerParameters
from mcp.client import Client

from conftest import TOOL_NAMES

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "clients"
VENV_BIN = Path(sys.executable).parent
TOOLS = TOOL_NAMES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def npm_bin() -> Path:
    """Node 22, the inspector and the conformance suite (.ci/npm-tools installs them once, under /var/tmp)."""
    given = os.environ.get("SJTU_HPC_NPM_BIN")
    if given:
        return Path(given)
    r = subprocess.run([str(ROOT / ".ci/npm-tools")], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f".ci/npm-tools failed (needs npm and the npm registry): {r.stderr[-1500:]}")
    return Path(r.stdout.strip())


def client_env(npm_bin: Path | None, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SJTU_HPC_")}
    path = [str(VENV_BIN), env.get("PATH", "")]
    if npm_bin is not None:
        path.insert(0, str(npm_bin))
    return {**env, "PATH": os.pathsep.join(path), "HOME": str(home)}


def inspector(npm_bin: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(npm_bin / "mcp-inspector"), "--cli", "--config", str(ROOT / "mcp.json"), "--server", "sjtu-hpc"]
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=300, env=client_env(npm_bin, home), cwd=home
    )


@pytest.mark.lab
def test_inspector_strict_tools_list_with_the_committed_mcp_json(npm_bin: Path, tmp_path: Path) -> None:
    r = inspector(npm_bin, tmp_path, "--method", "tools/list", "--strict")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    names = {t["name"] for t in json.loads(r.stdout)["tools"]}
    assert names >= TOOLS
    assert "Warning:" not in r.stderr and "Error:" not in r.stderr, r.stderr[-3000:]


@pytest.mark.lab
def test_inspector_calls_a_read_only_tool(npm_bin: Path, tmp_path: Path) -> None:
    r = inspector(npm_bin, tmp_path, "--method", "tools/call", "--tool-name", "credential_status")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "next_step" in r.stdout and "ready_for_api" in r.stdout


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "-m", "sjtu_hpc_mcp", "--workspace", str(tmp_path / "ws"), "--transport", "http"]
    proc = subprocess.Popen([*argv, "--http-port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.lab
def test_conformance_suite_over_http(npm_bin: Path, http_server: str, tmp_path: Path) -> None:
    """Only the scenarios that need the SDK's fixture tools may fail (.ci/conformance-expected-failures.yml)."""
    r = subprocess.run(
        [
            str(npm_bin / "conformance"),
            "server",
            "--url",
            http_server,
            "--expected-failures",
            str(ROOT / ".ci/conformance-expected-failures.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=client_env(npm_bin, tmp_path),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    for generic in ("server-initialize", "tools-list", "ping", "dns-rebinding-protection", "logging-set-level"):
        assert re.search(rf"✓ {generic}: \d+ passed, 0 failed", r.stdout), generic
    for generic in ("completion-complete", "resources-list", "prompts-list"):
        assert re.search(rf"✓ {generic}: \d+ passed, 0 failed", r.stdout), generic


ERAS = [pytest.param({}, id="2026-07-28"), pytest.param({"mode": "legacy"}, id="2025-11-25")]


@pytest.mark.parametrize("era", ERAS)
async def test_sdk_client_over_stdio_in_both_eras(tmp_path: Path, era: dict[str, Any]) -> None:
    params = StdioServerParameters(
        command=str(VENV_BIN / "sjtu-hpc-mcp"), args=["--workspace", str(tmp_path)], env=client_env(None, tmp_path)
    )
    async with Client(params, **era) as c:
        assert {t.name for t in (await c.list_tools()).tools} >= TOOLS
        r = await c.call_tool("credential_status", {})
        assert not r.is_error and r.structured_content and "next_step" in r.structured_content
        uris = {str(r.uri) for r in (await c.list_resources()).resources}
        assert {"sjtu-hpc://platform/partitions", "sjtu-hpc://platform/storage"} <= uris


@pytest.mark.parametrize("era", ERAS)
async def test_sdk_client_over_http_in_both_eras(http_server: str, era: dict[str, Any]) -> None:
    async with Client(http_server, **era) as c:
        assert {t.name for t in (await c.list_tools()).tools} >= TOOLS
        r = await c.call_tool("run_slurm", {"command": "sinfo"})
        assert r.is_error and r.content[0].text.startswith("E_GROUP_NEEDED: ")  # type: ignore[union-attr]
        assert {p.name for p in (await c.list_prompts()).prompts} == {"submit_job", "archive_results"}


# -- the client snippets -------------------------------------------------------------------------

# file -> (path to the servers table, what that client requires of an entry)
SNIPPETS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "claude-desktop.json": (("mcpServers",), {}),
    "cursor.json": (("mcpServers",), {"type": "stdio"}),
    "vscode.json": (("servers",), {"type": "stdio"}),
    "openclaw.json": (("mcp", "servers"), {}),
}


def server_entry(name: str) -> dict[str, Any]:
    path, required = SNIPPETS[name]
    node: Any = json.loads((CLIENTS / name).read_text())
    for key in path:
        node = node[key]
    entry = node["sjtu-hpc"]
    for k, v in required.items():
        assert entry.get(k) == v, (name, k)
    return dict(entry)


def test_every_snippet_is_tested_and_mcp_json_is_claude_desktops() -> None:
    assert {p.name for p in CLIENTS.iterdir()} == {*SNIPPETS, "docker.json", "claude-code.sh", "README.md"}
    assert json.loads((ROOT / "mcp.json").read_text()) == json.loads((CLIENTS / "claude-desktop.json").read_text())
    assert "PYTHONPATH" not in json.dumps(json.loads((CLIENTS / "openclaw.json").read_text()))
    assert (CLIENTS / "claude-code.sh").read_text().strip() == "claude mcp add sjtu-hpc -- sjtu-hpc-mcp"


@pytest.mark.parametrize("name", sorted(SNIPPETS))
async def test_each_client_snippet_starts_the_server(name: str, tmp_path: Path) -> None:
    entry = server_entry(name)
    command = shutil.which(entry["command"], path=str(VENV_BIN))
    assert command, f"{entry['command']} is not the installed console script"
    env = {**client_env(None, tmp_path), **entry.get("env", {})}
    async with Client(StdioServerParameters(command=command, args=entry.get("args", []), env=env)) as c:
        assert {t.name for t in (await c.list_tools()).tools} >= TOOLS
        r = await c.call_tool("credential_status", {})
        assert not r.is_error
    assert not (tmp_path / ".openclaw/workspace/credentials").exists(), "a status call must not create anything"


def test_docker_snippet_matches_the_image() -> None:
    entry = json.loads((CLIENTS / "docker.json").read_text())["mcpServers"]["sjtu-hpc"]
    assert entry["command"] == "sh" and entry["args"][0] == "-c"
    words = shlex.split(entry["args"][1])
    assert words[:4] == ["exec", "docker", "run", "-i"] and words[-1] == "sjtu-hpc-mcp"
    assert words[words.index("--user") + 1] == "$(id -u):$(id -g)"
    published = words[words.index("-p") + 1]
    dockerfile = (ROOT / "Dockerfile").read_text()
    page_port = re.search(r"SJTU_HPC_PAGE_PORT=(\d+)", dockerfile)
    page_url = re.search(r"SJTU_HPC_PAGE_URL=http://127\.0\.0\.1:(\d+)", dockerfile)
    assert page_port and page_url and published == f"127.0.0.1:{page_url.group(1)}:{page_port.group(1)}"
    assert any(w.endswith(":/home/hpc/.ssh/known_hosts:ro") for w in words)


# README shows each snippet file verbatim.
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", sorted([*SNIPPETS, "docker.json", "claude-code.sh"]))
def test_readme_shows_each_snippet_verbatim(name: str) -> None:
    assert (CLIENTS / name).read_text().strip() in README, name
