"""Each entry node's Slurm version, asked once per connection (SshPool.slurm_version): on the lab's 22.05 nodes
and, with SJTU_HPC_LAB_SLURM=24.11, on the 24.11 ones (tests/lab/slurm24)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert
from sjtu_hpc_mcp.core.slurm.version import parse_slurm_version
from sjtu_hpc_mcp.settings import Settings, parse_host_map
from sjtu_hpc_mcp.shell.credentials import CredentialStore
from sjtu_hpc_mcp.shell.ssh import SshPool

pytestmark = [pytest.mark.lab, pytest.mark.anyio]


def expected_release(lab: dict[str, Any]) -> str:
    """The 24.11 lab's lab.json names its version; the 22.05 lab runs this host's own Slurm."""
    text = lab.get("slurm_version") or subprocess.run(["sinfo", "--version"], capture_output=True, text=True).stdout
    version = parse_slurm_version(text)
    assert version is not None, text
    return version.release


def sessions_from(lab: dict[str, Any], hostname: str, port: int) -> int:
    """Commands the node's sshd started for one client port (its log, LogLevel VERBOSE)."""
    log = (Path(lab["lab_dir"]) / "log" / f"sshd-{hostname}.log").read_text(errors="replace")
    return log.count(f"Starting session: command for {lab['user']} from 127.0.0.1 port {port} ")


@pytest.fixture
async def pool(lab: dict[str, Any], workspace: Path):  # type: ignore[no-untyped-def]
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    settings = Settings(
        workspace=workspace, known_hosts=Path(lab["known_hosts"]), host_map=parse_host_map(lab["host_map"])
    )
    p = SshPool(settings, CredentialStore(settings.credentials_dir))
    yield p
    await p.aclose()


async def test_each_login_node_reports_its_release_once_per_connection(pool: SshPool, lab: dict[str, Any]) -> None:
    want = expected_release(lab)
    for node, info in lab["nodes"].items():
        if info["kind"] != "login":
            continue
        version = await pool.slurm_version(node)
        assert version is not None and version.release == want, (node, version)
        conn = pool._nodes[node].current
        assert conn is not None
        port = conn.conn.get_extra_info("sockname")[1]
        asked = sessions_from(lab, info["hostname"], port)
        assert asked >= 1  # hostname at connect, then sinfo --version
        assert await pool.slurm_version(node) == version
        assert sessions_from(lab, info["hostname"], port) == asked  # kept with the connection
        assert pool.slurm_versions_known()[node] == str(version)  # what a result can show without asking
    assert "data.hpc.sjtu.edu.cn" not in pool.slurm_versions_known()  # never asked there


async def test_a_new_connection_asks_again(pool: SshPool, lab: dict[str, Any]) -> None:
    node = "pilogin.hpc.sjtu.edu.cn"
    first = await pool.slurm_version(node)
    old = pool._nodes[node].current
    assert old is not None
    old.conn.close()
    await old.conn.wait_closed()
    again = await pool.slurm_version(node)
    new = pool._nodes[node].current
    assert new is not None and new is not old and new.slurm == (again,) and again == first
