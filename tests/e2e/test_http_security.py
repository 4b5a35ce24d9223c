"""HTTP mode exposed beyond loopback: a bearer token and an allowed-hosts list, DNS-rebinding protection on."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio
TOKEN = "t0ken-for-the-http-test-0123456789"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the HTTP server did not start")


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The server bound to every address, as a person exposing it would start it."""
    tmp = tmp_path_factory.mktemp("http")
    token_file = tmp / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    port = free_port()
    argv = [sys.executable, "-m", "sjtu_hpc_mcp", "--workspace", str(tmp / "ws"), "--transport", "http"]
    argv += ["--http-host", "0.0.0.0", "--http-port", str(port), "--http-token-file", str(token_file)]
    argv += ["--http-allowed-hosts", "hpc-mcp.example.org"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def post(port: int, headers: dict[str, str]) -> httpx2.Response:
    base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with httpx2.Client(timeout=10) as c:
        return c.post(f"http://127.0.0.1:{port}/mcp", content=json.dumps(INITIALIZE), headers={**base, **headers})


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sjtu_hpc_mcp", *args], capture_output=True, text=True, timeout=30, env=env
    )


def test_exposed_without_token_or_hosts_refuses_to_start(tmp_path: Path) -> None:
    r = run("--workspace", str(tmp_path), "--transport", "http", "--http-host", "0.0.0.0")
    assert r.returncode == 2 and r.stdout == ""
    assert "not a loopback address" in r.stderr and "--http-token-file" in r.stderr
    assert "--http-allowed-hosts" in r.stderr
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    r = run("--transport", "http", "--http-host", "0.0.0.0", "--http-token-file", str(token_file))
    assert r.returncode == 2 and "--http-allowed-hosts" in r.stderr and "--http-token-file FILE" not in r.stderr
    token_file.write_text("short")
    r = run(
        "--workspace",
        str(tmp_path),
        "--transport",
        "http",
        "--http-host",
        "0.0.0.0",
        "--http-port",
        str(free_port()),
        "--http-token-file",
        str(token_file),
        "--http-allowed-hosts",
        "example.org",
    )
    assert r.returncode == 2 and "at least 16 characters" in r.stderr and "short" not in r.stderr


def test_missing_or_wrong_token_gets_401(exposed: int) -> None:
    r = post(exposed, {})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert "none was sent" in r.json()["error_description"]
    assert post(exposed, {"Authorization": "Bearer " + TOKEN[:-1] + "x"}).status_code == 401
    assert post(exposed, {"Authorization": "Basic " + TOKEN}).status_code == 401
    assert post(exposed, {"Authorization": "Bearer"}).status_code == 401


def test_foreign_host_or_origin_is_refused_even_with_the_token(exposed: int) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert post(exposed, {**auth, "Host": "evil.example"}).status_code == 421
    assert post(exposed, {**auth, "Origin": "http://evil.example"}).status_code == 403
    assert post(exposed, {**auth, "Host": f"evil.example:{exposed}"}).status_code == 421


def test_right_token_and_allowed_host_work(exposed: int) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert post(exposed, {**auth, "Host": f"hpc-mcp.example.org:{exposed}"}).status_code == 200
    assert post(exposed, {**auth, "Origin": "https://hpc-mcp.example.org"}).status_code == 200
    assert post(exposed, auth).status_code == 200


async def test_sdk_client_with_the_token(exposed: int) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=httpx2.Timeout(30, read=300))
    async with http, Client(streamable_http_client(f"http://127.0.0.1:{exposed}/mcp", http_client=http)) as c:
        assert "credential_status" in {t.name for t in (await c.list_tools()).tools}
        r = await c.call_tool("credential_status", {})
        assert not r.is_error


def test_token_from_the_environment_and_not_both(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "SJTU_HPC_HTTP_TOKEN": TOKEN}
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    r = run("--transport", "http", "--http-token-file", str(token_file), env=env)
    assert r.returncode == 2 and "not both" in r.stderr and TOKEN not in r.stderr
