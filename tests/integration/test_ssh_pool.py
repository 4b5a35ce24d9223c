"""SshPool against the lab's real sshd entry nodes (certificate-only login)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.settings import Settings, parse_host_map
from sjtu_hpc_mcp.shell.credentials import CredentialStore
from sjtu_hpc_mcp.shell.ssh import SshPool

pytestmark = [pytest.mark.lab, pytest.mark.anyio]


@pytest.fixture(scope="module")
def ca(lab: dict[str, Any]) -> asyncssh.SSHKey:
    return asyncssh.read_private_key(lab["ca_key"])


def make_pool(lab: dict[str, Any], workspace: Path, known_hosts: str | None = None, **kw: Any) -> SshPool:
    settings = Settings(
        workspace=workspace,
        known_hosts=Path(known_hosts or lab["known_hosts"]),
        host_map=parse_host_map(lab["host_map"]),
        **kw,
    )
    return SshPool(settings, CredentialStore(settings.credentials_dir))


@pytest.fixture
async def pool(lab: dict[str, Any], workspace: Path, ca: asyncssh.SSHKey):  # type: ignore[no-untyped-def]
    install_credentials(workspace, *make_user_cert(ca))
    p = make_pool(lab, workspace)
    yield p
    await p.aclose()


async def test_each_entry_node_answers_as_itself(pool: SshPool, lab: dict[str, Any]) -> None:
    names = {}
    for node, info in lab["nodes"].items():
        r = await pool.run(node, ["hostname"], idempotent=True)
        assert r.ok, r.stderr
        names[node] = r.stdout.strip()
        assert r.hostname == names[node]
        assert names[node] == info["hostname"]
    assert len(set(names.values())) == 5


async def test_connection_is_reused(pool: SshPool) -> None:
    node = "pilogin.hpc.sjtu.edu.cn"
    await pool.run(node, ["true"], idempotent=True)
    first = pool._nodes[node].current
    for _ in range(5):
        await pool.run(node, ["true"], idempotent=True)
    assert pool._nodes[node].current is first


async def test_argv_is_inert(pool: SshPool, tmp_path: Path) -> None:
    marker = "/tmp/sjtu-hpc-mcp-pwned"
    Path(marker).unlink(missing_ok=True)
    for value in [f"x; touch {marker}", f"$(touch {marker})", f"`touch {marker}`", f"a\ntouch {marker}"]:
        r = await pool.run("pilogin.hpc.sjtu.edu.cn", ["printf", "%s", value], idempotent=True)
        assert r.stdout == value
    assert not Path(marker).exists()


async def test_many_concurrent_calls_wait_for_a_channel(
    lab: dict[str, Any], workspace: Path, ca: asyncssh.SSHKey
) -> None:
    install_credentials(workspace, *make_user_cert(ca))
    pool = make_pool(lab, workspace, max_channels=8)
    try:
        results = await asyncio.gather(
            *(
                pool.run("sylogin.hpc.sjtu.edu.cn", ["sh", "-c", f"sleep 0.2; echo {i}"], idempotent=True)
                for i in range(40)
            )
        )
    finally:
        await pool.aclose()
    assert [r.stdout.strip() for r in results] == [str(i) for i in range(40)]


async def test_unknown_host_key_is_refused(
    lab: dict[str, Any], workspace: Path, ca: asyncssh.SSHKey, tmp_path: Path
) -> None:
    install_credentials(workspace, *make_user_cert(ca))
    other = tmp_path / "known_hosts"
    # A known_hosts that lists another node's key for this address: a "changed" key.
    lines = Path(lab["known_hosts"]).read_text().splitlines()
    data_key = next(line for line in lines if "]:2204 " in line).split(None, 1)[1]
    other.write_text(f"[127.0.0.1]:2201 {data_key}\n")
    pool = make_pool(lab, workspace, known_hosts=str(other))
    with pytest.raises(HpcError) as err:
        await pool.run("pilogin.hpc.sjtu.edu.cn", ["hostname"], idempotent=True)
    assert err.value.code == "E_HOSTKEY"
    assert "pilogin.hpc.sjtu.edu.cn" in str(err.value) and "ssh-keyscan" in str(err.value)
    other.write_text("")
    with pytest.raises(HpcError, match="E_HOSTKEY"):
        await pool.run("pilogin.hpc.sjtu.edu.cn", ["hostname"], idempotent=True)
    await pool.aclose()


async def test_expired_certificate_is_refused_before_connecting(
    lab: dict[str, Any], workspace: Path, ca: asyncssh.SSHKey
) -> None:
    install_credentials(workspace, *make_user_cert(ca, valid_from=-7200, valid_for=-10))
    pool = make_pool(lab, workspace)
    with pytest.raises(HpcError) as err:
        await pool.run("pilogin.hpc.sjtu.edu.cn", ["hostname"], idempotent=True)
    assert err.value.code == "E_CERT_EXPIRED" and "request_certificate" in str(err.value)
    assert "pilogin.hpc.sjtu.edu.cn" not in pool._nodes or pool._nodes["pilogin.hpc.sjtu.edu.cn"].current is None


async def test_certificate_of_another_ca_is_refused(lab: dict[str, Any], workspace: Path) -> None:
    install_credentials(workspace, *make_user_cert(asyncssh.generate_private_key("ssh-ed25519")))
    pool = make_pool(lab, workspace)
    with pytest.raises(HpcError, match="E_AUTH"):
        await pool.run("pilogin.hpc.sjtu.edu.cn", ["hostname"], idempotent=True)
    await pool.aclose()


async def test_replaced_certificate_is_picked_up(pool: SshPool, workspace: Path, ca: asyncssh.SSHKey) -> None:
    node = "data.hpc.sjtu.edu.cn"
    await pool.run(node, ["true"], idempotent=True)
    first = pool._nodes[node].current
    time.sleep(0.01)  # a new mtime
    install_credentials(workspace, *make_user_cert(ca))
    r = await pool.run(node, ["hostname"], idempotent=True)
    assert r.stdout.strip() == "data"
    assert pool._nodes[node].current is not first
    assert first is not None and first.conn.is_closed()


async def test_sftp_put(pool: SshPool, lab: dict[str, Any]) -> None:
    path = f"{lab['home']}/.sjtu-hpc-mcp/test/put.txt"
    await pool.put_file("pilogin.hpc.sjtu.edu.cn", path, "hello\n")
    r = await pool.run("pilogin.hpc.sjtu.edu.cn", ["cat", path], idempotent=True)
    assert r.stdout == "hello\n"
    r = await pool.run("pilogin.hpc.sjtu.edu.cn", ["stat", "-c", "%a %U", path], idempotent=True)
    assert r.stdout.split() == ["600", lab["user"]]


def kill_node(lab: dict[str, Any], hostname: str) -> int:
    """Kill every process of one entry node (its sshd and sessions), as a crash or reboot would."""
    import os
    import signal

    wanted = set((Path(lab["lab_dir"]) / "run" / f"sshd-{hostname}.ns").read_text().split())
    killed = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if os.readlink(p / "ns/mnt") in wanted:
                os.kill(int(p.name), signal.SIGKILL)
                killed += 1
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return killed


async def test_next_call_succeeds_after_the_node_restarts(pool: SshPool, lab: dict[str, Any]) -> None:
    import subprocess

    node = "sydata.hpc.sjtu.edu.cn"
    assert (await pool.run(node, ["hostname"], idempotent=True)).stdout.strip() == "sydata"
    assert kill_node(lab, "sydata") > 0
    lab_up = Path(__file__).resolve().parents[1] / "lab" / "up"
    subprocess.run([str(lab_up)], check=True, capture_output=True, timeout=180)
    r = await pool.run(node, ["hostname"], idempotent=True)
    assert r.stdout.strip() == "sydata"
