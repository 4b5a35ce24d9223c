"""Helpers of the reliability suite (issue 11): the server's arguments, tool calls, shells on lab nodes,
the nodes' process lists and files seen as root, and the lab's restart."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncssh
from mcp.client import Client

from conftest import make_user_cert

LAB_UP = Path(__file__).resolve().parents[1] / "lab" / "up"
DATA = "data.hpc.sjtu.edu.cn"
SYDATA = "sydata.hpc.sjtu.edu.cn"
DATA_NODES = (DATA, SYDATA)
LOGIN = {"pi": "pilogin.hpc.sjtu.edu.cn", "sy": "sylogin.hpc.sjtu.edu.cn", "kp": "armlogin.hpc.sjtu.edu.cn"}


def server_args(lab: dict[str, Any], workspace: Path, *extra: str) -> list[str]:
    return ["--workspace", str(workspace), "--known-hosts", lab["known_hosts"], "--host-map", lab["host_map"], *extra]


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    r = await client.call_tool(tool, args)
    assert not r.is_error, text_of(r)
    assert r.structured_content is not None
    return r.structured_content


async def error(client: Client, tool: str, **args: Any) -> str:
    r = await client.call_tool(tool, args)
    text = text_of(r)
    assert r.is_error, text
    return text


@asynccontextmanager
async def node_shell(lab: dict[str, Any], node: str = DATA) -> AsyncIterator[Any]:
    """A shell on an entry node as the lab user (its own certificate), to lay out files and look behind tools."""
    key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]))
    addr = lab["nodes"][node]
    async with asyncssh.connect(
        addr["host"],
        addr["port"],
        username=lab["user"],
        client_keys=[(key, asyncssh.import_certificate(cert))],
        known_hosts=lab["known_hosts"],
        agent_path=None,
        config=[],
    ) as conn:

        async def sh(command: str, check: bool = True) -> str:
            r = await conn.run(command, check=False)
            if check:
                assert r.exit_status == 0, f"{command}: {r.stderr}"
            return str(r.stdout)

        yield sh


def node_pids(lab: dict[str, Any], hostname: str) -> list[int]:
    """The processes of one lab node (its sshd, sessions, tmux, rsync): those in its mount namespace."""
    ns_file = Path(lab["lab_dir"]) / "run" / f"sshd-{hostname}.ns"
    wanted = set(ns_file.read_text().split()) if ns_file.exists() else set()
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.readlink(p / "ns/mnt") in wanted:
                    found.append(int(p.name))
            except OSError:
                continue
    return found


def node_roots(lab: dict[str, Any]) -> dict[str, Path]:
    """Each node's file system as its processes see it (/proc/<pid>/root), by hostname."""
    roots = {}
    for info in lab["nodes"].values():
        pids = node_pids(lab, info["hostname"])
        if pids:
            roots[info["hostname"]] = Path(f"/proc/{pids[0]}/root")
    return roots


def command_lines(pids: list[int] | None = None) -> list[str]:
    """Command lines of the given processes (all when None), NULs as spaces."""
    out = []
    for p in Path("/proc").iterdir() if pids is None else (Path(f"/proc/{n}") for n in pids):
        if p.name.isdigit():
            try:
                out.append((p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return out


def lab_up() -> None:
    """tests/lab/up: idempotent, restarts whatever is down."""
    subprocess.run([str(LAB_UP)], check=True, capture_output=True, timeout=240)


def descendants(pid: int) -> list[int]:
    """Every process below pid (children, grandchildren…), from /proc's parent links."""
    parent: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
                parent[int(p.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        cur = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == cur]
        found += kids
        frontier += kids
    return found


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone: the init process reaps slowly here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def new_token(url: str) -> str:
    import httpx2

    r = httpx2.post(
        f"{url}/token",
        json={"domain": "pi", "operator": "hpcrobot", "password": "lab-password-1"},
        headers={"Accept": "text/plain"},
    )
    r.raise_for_status()
    return r.text.removeprefix("Bearer ").strip()
