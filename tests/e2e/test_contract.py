"""The tool surface: annotations, short descriptions, schemas; stdio and HTTP; a real client (inspector)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp.client import Client

from conftest import TOOL_NAMES, stdio_server
from sjtu_hpc_mcp.app import build_server
from sjtu_hpc_mcp.settings import Settings

pytestmark = pytest.mark.anyio
TOOLS = TOOL_NAMES
FORBIDDEN_INPUTS = {
    "host",
    "hostname",
    "address",
    "node",
    "port",
    "command_line",
    "shell",
    "cmd",
    "password",
    "token",
    "api_url",
}


async def test_every_tool_is_annotated_described_and_typed(tmp_path: Path) -> None:
    server = build_server(Settings(workspace=tmp_path))
    async with Client(server) as c:
        tools = (await c.list_tools()).tools
    assert {t.name for t in tools} >= TOOLS
    for t in tools:
        a = t.annotations
        assert a is not None and a.title, t.name
        for hint in (a.read_only_hint, a.destructive_hint, a.idempotent_hint, a.open_world_hint):
            assert hint is not None, t.name
        assert t.description and len(t.description) < 400, t.name
        assert t.output_schema is not None, t.name
        props = set(t.input_schema.get("properties", {}))
        assert not props & FORBIDDEN_INPUTS, (t.name, props & FORBIDDEN_INPUTS)
    by_name = {t.name: t for t in tools}
    assert by_name["credential_status"].annotations.read_only_hint  # type: ignore[union-attr]
    assert by_name["update_user"].annotations.destructive_hint  # type: ignore[union-attr]
    assert by_name["run_slurm"].annotations.destructive_hint  # type: ignore[union-attr]


TOOLS_LIST_BUDGET = 16_000  # bytes, for every registered tool (the data tools included)


async def test_tools_list_is_lean_and_within_budget(tmp_path: Path) -> None:
    """Every byte of tools/list is in the model's context on every request."""
    server = build_server(Settings(workspace=tmp_path))
    async with Client(server) as c:
        result = await c.list_tools()
    wire = tools_list_on_the_wire(tmp_path)
    escaped = json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True)).encode()
    print(f"tools/list: {len(result.tools)} tools, {len(wire)} B on stdio (with non-ASCII escaped: {len(escaped)} B)")
    assert len(wire) < TOOLS_LIST_BUDGET, len(wire)
    assert {t["name"] for t in json.loads(wire)["result"]["tools"]} == {t.name for t in result.tools}

    def titles(schema: object, in_properties: bool = False) -> int:
        if isinstance(schema, dict):
            own = 0 if in_properties else int(isinstance(schema.get("title"), str))
            return own + sum(titles(v, k in ("properties", "$defs") and not in_properties) for k, v in schema.items())
        if isinstance(schema, list):
            return sum(titles(v) for v in schema)
        return 0

    for t in result.tools:
        assert titles(t.input_schema) == 0 and titles(t.output_schema or {}) == 0, t.name
        assert t.description and not re.search(r"\n[ \t]", t.description) and t.description == t.description.strip()
        assert t.input_schema.get("additionalProperties") is False, t.name


def tools_list_on_the_wire(workspace: Path) -> bytes:
    """The JSON-RPC response to tools/list exactly as the server writes it to stdout (one line)."""
    hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    argv = [sys.executable, "-m", "sjtu_hpc_mcp", "--workspace", str(workspace), "--prewarm", "false"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        proc.stdin.flush()
        for line in proc.stdout:
            if json.loads(line).get("id") == 2:
                return line.rstrip(b"\n")
        raise AssertionError("no answer to tools/list")
    finally:
        proc.kill()
        proc.wait(10)


ERROR_FORM = re.compile(r"^E_[A-Z0-9_]+: \S.*[.…] Fix: \S.*\.$", re.S)


async def test_every_failure_has_a_code_a_message_and_a_fix(tmp_path: Path) -> None:
    bad_calls = [
        ("run_slurm", {"action": "sinfo"}, "'command'"),
        ("run_slurm", {"command": "rm -rf /"}, "command"),
        ("run_slurm", {}, "command is required"),
        ("run_slurm", {"command": "sinfo"}, "E_GROUP_NEEDED"),
        ("run_slurm", {"command": "sbatch", "partition": "cpu", "script": "x", "options": {"walltime": "1"}}, "'time'"),
        ("run_slurm", {"command": "squeue", "node_group": "pi", "limit": "many"}, "limit"),
        ("request_certificate", {"valid_time": 5}, "valid_time"),
        ("query_quota", {"name": "acct-x", "quota_type": "user"}, "account name"),
        ("query_quota", {"name": "someone"}, "quota_type user"),
        ("get_user", {"node_group": "mars"}, "node_group"),
        ("no_such_tool", {}, "E_UNKNOWN_TOOL"),
    ]
    async with stdio_server(["--workspace", str(tmp_path)]) as c:
        for tool, args, needle in bad_calls:
            r = await c.call_tool(tool, args)
            text = r.content[0].text  # type: ignore[union-attr]
            assert r.is_error, (tool, args)
            assert ERROR_FORM.match(text), text
            assert needle in text and "Error executing tool" not in text and "pydantic" not in text, text
    unknown = "E_ARG: The tool run_slurm has no argument 'action'; it was refused, not ignored. Fix: Use 'command'"
    async with stdio_server(["--workspace", str(tmp_path)]) as c:
        r = await c.call_tool("run_slurm", {"action": "sinfo", "node_group": "pi"})
        assert r.content[0].text.startswith(unknown)  # type: ignore[union-attr]


async def test_stdout_carries_only_the_protocol(tmp_path: Path) -> None:
    """A full session over stdio: any stray print would break the client's parsing."""
    async with stdio_server(["--workspace", str(tmp_path), "--log-level", "DEBUG"]) as c:
        assert len((await c.list_tools()).tools) >= len(TOOLS)
        r = await c.call_tool("run_slurm", {"command": "sinfo"})
        assert r.is_error and "E_GROUP_NEEDED" in r.content[0].text  # type: ignore[union-attr]
        r = await c.call_tool("run_slurm", {"command": "rm -rf /"})
        assert r.is_error
        assert not (await c.call_tool("credential_status", {})).is_error


def test_bad_flags_fail_cleanly() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "sjtu_hpc_mcp", "--host-map", "evil.example=1.2.3.4:22"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "not an entry node" in r.stderr and r.stdout == ""
    h = subprocess.run([sys.executable, "-m", "sjtu_hpc_mcp", "--help"], capture_output=True, text=True, timeout=30)
    for flag in ("--workspace", "--api-url", "--known-hosts", "--host-map", "--transport", "SJTU_HPC_WORKSPACE"):
        assert flag in h.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_streamable_http(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sjtu_hpc_mcp",
            "--workspace",
            str(tmp_path),
            "--transport",
            "http",
            "--http-port",
            str(port),
        ],
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as c:
            assert {t.name for t in (await c.list_tools()).tools} >= TOOLS
            r = await c.call_tool("credential_status", {})
            assert not r.is_error and r.structured_content and "next_step" in r.structured_content
    finally:
        proc.terminate()
        proc.wait(10)


async def test_a_crash_is_coded_and_says_nothing_of_its_insides() -> None:
    from sjtu_hpc_mcp._mcp import MCPServer, read_only

    server: MCPServer[dict[str, str]] = MCPServer("crash-test")

    @server.tool(annotations=read_only("Crash"))
    async def crash() -> str:
        """Always fails."""
        raise RuntimeError("secret internals /etc/shadow")

    async with Client(server) as c:
        r = await c.call_tool("crash", {})
    text = r.content[0].text  # type: ignore[union-attr]
    assert r.is_error and ERROR_FORM.match(text) and text.startswith("E_INTERNAL: The tool crash failed unexpectedly")
    assert "secret" not in text and "shadow" not in text
