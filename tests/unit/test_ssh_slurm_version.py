"""SshPool.slurm_version over a fake connection: asked once per connection and kept with it; a failed ask is not
kept; the lab test (tests/integration/test_slurm_version.py) does the same against real sshd on 22.05 and 24.11."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from sjtu_hpc_mcp.core.slurm.version import SlurmVersion
from sjtu_hpc_mcp.settings import Settings
from sjtu_hpc_mcp.shell.credentials import CredentialStore
from sjtu_hpc_mcp.shell.ssh import SshPool, _Conn
from sjtu_hpc_mcp.shell.sshlib import asyncssh

pytestmark = pytest.mark.anyio
NODE = "pilogin.hpc.sjtu.edu.cn"
RECORDED = Path(__file__).resolve().parents[1] / "lab" / "recorded"


class FakeConnection:
    def __init__(self, stdout: str, fail: BaseException | None = None) -> None:
        self.stdout, self.fail = stdout, fail
        self.commands: list[str] = []

    async def run(self, command: str, check: bool = False, timeout: float | None = None) -> SimpleNamespace:
        self.commands.append(command)
        if self.fail is not None:
            raise self.fail
        return SimpleNamespace(exit_status=0, stdout=self.stdout, stderr="")

    def is_closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


class FakePool(SshPool):
    """The real SshPool; only its connection is stood in for (one, reused, as the pool keeps it)."""

    def __init__(self, tmp_path: Path, conn: FakeConnection) -> None:
        settings = Settings(workspace=tmp_path)
        super().__init__(settings, CredentialStore(settings.credentials_dir))
        self.fake = conn
        self.opened = 0

    async def _acquire(self, node: str) -> _Conn:
        n = self._node(node)
        if n.current is None:
            n.current = _Conn(self.fake, (0, 0, 0, 0), hostname="pilogin")  # type: ignore[arg-type]
            self.opened += 1
        n.current.users += 1
        return n.current


async def test_asked_once_per_connection(tmp_path: Path) -> None:
    conn = FakeConnection((RECORDED / "slurm-24.11" / "sinfo_version.txt").read_text())
    pool = FakePool(tmp_path, conn)
    assert pool.slurm_versions_known() == {}
    assert await pool.slurm_version(NODE) == SlurmVersion(24, 11, 5)
    assert await pool.slurm_version(NODE) == SlurmVersion(24, 11, 5)
    assert conn.commands == ["sinfo --version"]
    assert pool.slurm_versions_known() == {NODE: "24.11.5"}


async def test_a_node_that_states_no_version_is_not_asked_again_on_that_connection(tmp_path: Path) -> None:
    conn = FakeConnection((RECORDED / "slurm-24.11" / "sinfo_version_noconf.stderr.txt").read_text())
    pool = FakePool(tmp_path, conn)
    assert await pool.slurm_version(NODE) is None and await pool.slurm_version(NODE) is None
    assert len(conn.commands) == 1 and pool.slurm_versions_known() == {}


async def test_a_failed_ask_is_not_kept(tmp_path: Path) -> None:
    conn = FakeConnection("slurm-wlm 22.05.8\n", fail=OSError("reset"))
    pool = FakePool(tmp_path, conn)
    assert await pool.slurm_version(NODE) is None
    conn.fail = None
    assert await pool.slurm_version(NODE) == SlurmVersion(22, 5, 8)
    assert len(conn.commands) == 2


async def test_a_lost_connection_is_dropped_so_the_next_one_asks_again(tmp_path: Path) -> None:
    conn = FakeConnection("", fail=asyncssh.ConnectionLost("gone"))
    pool = FakePool(tmp_path, conn)
    assert await pool.slurm_version(NODE) is None
    assert pool._nodes[NODE].current is None  # retired: a new connection will be opened and asked
    conn.fail, conn.stdout = None, "slurm 24.11.5\n"
    assert await pool.slurm_version(NODE) == SlurmVersion(24, 11, 5) and pool.opened == 2
