"""The local lab itself (tests/lab/up): entry nodes, certificate login, Slurm, storage.

These tests talk to the lab with asyncssh directly (not through the server) so that a failure here
means "the lab is broken", not "the server is broken". They need a running lab: `sudo tests/lab/up`.
Without $SJTU_HPC_LAB_DIR/lab.json they fail (the `lab` fixture in tests/conftest.py); deselect them
with -m 'not lab'.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncssh
import pytest

pytestmark = [pytest.mark.lab, pytest.mark.anyio]

LAB_DIR = Path(os.environ.get("SJTU_HPC_LAB_DIR", "/var/tmp/sjtu-hpc-lab"))
ALL_PARTITIONS = {
    "cpu", "debug", "dgx2", "huge", "192c6t",
    "debugarm", "arm128c256g", "scnet_arm",
    "small", "64c512g", "el9", "debug64c512g", "win32", "a100", "a800", "debug100", "debuga100",
}  # fmt: skip
STORAGE_ROOTS = ["/lustre", "/dssg", "/archive", "/vault"]
COLD = ["/archive", "/vault", "/union"]


@pytest.fixture(scope="module")
def ca(lab: dict[str, Any]) -> asyncssh.SSHKey:
    return asyncssh.read_private_key(lab["ca_key"])


def make_cert(
    ca: asyncssh.SSHKey,
    principals: list[str],
    *,
    valid_after: float | None = None,
    valid_before: float | None = None,
    key_id: str = "lab-test",
) -> tuple[asyncssh.SSHKey, asyncssh.SSHCertificate]:
    now = time.time()
    key = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca.generate_user_certificate(
        key,
        key_id,
        principals=principals,
        valid_after=int(valid_after if valid_after is not None else now - 300),
        valid_before=int(valid_before if valid_before is not None else now + 3600),
    )
    return key, cert


@pytest.fixture(scope="module")
def good_keys(lab: dict[str, Any], ca: asyncssh.SSHKey) -> list[Any]:
    return [make_cert(ca, [lab["user"]])]


@asynccontextmanager
async def connect(
    lab: dict[str, Any],
    fqdn: str,
    client_keys: list[Any],
    *,
    username: str | None = None,
    known_hosts: str | None = None,
) -> AsyncIterator[asyncssh.SSHClientConnection]:
    node = lab["nodes"][fqdn]
    conn = await asyncssh.connect(
        node["host"],
        port=node["port"],
        username=username or lab["user"],
        client_keys=client_keys,
        known_hosts=known_hosts or lab["known_hosts"],
        agent_path=None,
        config=[],
        preferred_auth="publickey",
        connect_timeout=15,
    )
    try:
        yield conn
    finally:
        conn.close()
        await conn.wait_closed()


async def run(conn: asyncssh.SSHClientConnection, cmd: str, *, check: bool = True) -> str:
    with anyio.fail_after(60):
        result = await conn.run(cmd, check=check)
    return str(result.stdout)


# --------------------------------------------------------------------------- login


async def test_certificate_login_reaches_five_distinct_nodes(lab: dict[str, Any], good_keys: list[Any]) -> None:
    assert len(lab["nodes"]) == 5
    seen = {}
    for fqdn, node in lab["nodes"].items():
        async with connect(lab, fqdn, good_keys) as conn:
            out = await run(conn, "hostname; whoami; echo $HOME")
        hostname, user, home = out.split()
        assert hostname == node["hostname"]
        assert user == lab["user"]
        assert home == lab["home"]
        seen[fqdn] = hostname
    assert len(set(seen.values())) == 5, seen


async def test_host_map_matches_nodes(lab: dict[str, Any]) -> None:
    pairs = dict(item.split("=", 1) for item in lab["host_map"].split(","))
    assert pairs == {f: f"{n['host']}:{n['port']}" for f, n in lab["nodes"].items()}
    lines = Path(lab["known_hosts"]).read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(
        f"[{n['host']}]:{n['port']}" for n in lab["nodes"].values()
    )


async def test_plain_key_is_refused(lab: dict[str, Any]) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(lab, "pilogin.hpc.sjtu.edu.cn", [key]):
            pass


async def test_wrong_principal_is_refused(lab: dict[str, Any], ca: asyncssh.SSHKey) -> None:
    # a certificate for otheruser does not log in as hpcrobot ...
    keys = [make_cert(ca, [lab["other_user"]])]
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(lab, "sylogin.hpc.sjtu.edu.cn", keys):
            pass
    # ... and hpcrobot's certificate does not log in as otheruser
    keys = [make_cert(ca, [lab["user"]])]
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(lab, "sylogin.hpc.sjtu.edu.cn", keys, username=lab["other_user"]):
            pass


async def test_other_user_logs_in_with_own_certificate(lab: dict[str, Any], ca: asyncssh.SSHKey) -> None:
    keys = [make_cert(ca, [lab["other_user"]])]
    async with connect(lab, "data.hpc.sjtu.edu.cn", keys, username=lab["other_user"]) as conn:
        assert (await run(conn, "whoami")).strip() == lab["other_user"]


async def test_expired_certificate_is_refused(lab: dict[str, Any], ca: asyncssh.SSHKey) -> None:
    now = time.time()
    keys = [make_cert(ca, [lab["user"]], valid_after=now - 7200, valid_before=now - 3600)]
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(lab, "pilogin.hpc.sjtu.edu.cn", keys):
            pass


async def test_certificate_from_another_ca_is_refused(lab: dict[str, Any]) -> None:
    other_ca = asyncssh.generate_private_key("ssh-ed25519")
    keys = [make_cert(other_ca, [lab["user"]])]
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(lab, "pilogin.hpc.sjtu.edu.cn", keys):
            pass


async def test_unknown_host_key_is_refused(lab: dict[str, Any], good_keys: list[Any], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        async with connect(lab, "data.hpc.sjtu.edu.cn", good_keys, known_hosts=str(empty)):
            pass


async def test_each_node_has_its_own_tmux_dir(lab: dict[str, Any], good_keys: list[Any]) -> None:
    dirs = set()
    for fqdn in lab["nodes"]:
        async with connect(lab, fqdn, good_keys) as conn:
            dirs.add((await run(conn, "echo $TMUX_TMPDIR")).strip())
    assert len(dirs) == 5 and "" not in dirs


# --------------------------------------------------------------------------- Slurm


async def test_sinfo_lists_all_partitions(lab: dict[str, Any], good_keys: list[Any]) -> None:
    async with connect(lab, "sylogin.hpc.sjtu.edu.cn", good_keys) as conn:
        out = await run(conn, "sinfo -h -o %P")
    names = {line.strip().rstrip("*") for line in out.splitlines() if line.strip()}
    assert names == ALL_PARTITIONS == set(lab["partitions"])
    assert "cpu*" in out.split()  # the default partition


async def test_failed_job_is_accounted(lab: dict[str, Any], good_keys: list[Any]) -> None:
    async with connect(lab, "sylogin.hpc.sjtu.edu.cn", good_keys) as conn:
        job_id = (await run(conn, "cd && sbatch --parsable --wrap 'exit 7'")).strip()
        assert re.fullmatch(r"\d+(;\S+)?", job_id), job_id
        job_id = job_id.split(";")[0]
        state = ""
        with anyio.fail_after(90):
            while True:
                out = await run(conn, f"sacct -X -n -P -j {job_id} -o State,ExitCode")
                line = out.strip().splitlines()[0] if out.strip() else ""
                state = line.split("|")[0]
                if state and state not in {"PENDING", "RUNNING", "REQUEUED", "COMPLETING"}:
                    break
                await anyio.sleep(1)
        assert line == "FAILED|7:0", line
        seff = await run(conn, f"seff {job_id}")
        assert f"Job ID: {job_id}" in seff
        assert "FAILED" in seff
        await run(conn, f"rm -f ~/slurm-{job_id}.out", check=False)


# --------------------------------------------------------------------------- storage


def _df(out: str) -> dict[str, tuple[str, int]]:
    rows = {}
    for line in out.splitlines()[1:]:
        fields = line.split()
        rows[fields[-1]] = (fields[0], int(fields[3]))
    return rows


async def test_storage_roots_are_distinct_filesystems(lab: dict[str, Any], good_keys: list[Any]) -> None:
    async with connect(lab, "data.hpc.sjtu.edu.cn", good_keys) as conn:
        rows = _df(await run(conn, "df -P " + " ".join([*STORAGE_ROOTS, "/union"])))
        mounts = await run(conn, "cat /proc/mounts")
    for root in STORAGE_ROOTS:
        assert rows[root][0] == lab["storage"][root], rows
    assert len({rows[r][0] for r in STORAGE_ROOTS}) == 4
    assert len({rows[r][1] for r in STORAGE_ROOTS}) == 4, "free space must differ"
    union_type = [ln.split()[2] for ln in mounts.splitlines() if ln.split()[1] == "/union"]
    assert union_type == ["fuse.mergerfs"], union_type


async def test_home_exists_in_every_pool(lab: dict[str, Any], good_keys: list[Any]) -> None:
    rel = lab["home"].removeprefix("/lustre")
    paths = " ".join(f"{root}{rel}" for root in [*STORAGE_ROOTS, "/union"])
    async with connect(lab, "data.hpc.sjtu.edu.cn", good_keys) as conn:
        out = await run(conn, f"stat -c '%U %F' {paths}")
    assert out.split("\n")[:5] == [f"{lab['user']} directory"] * 5, out


async def test_cold_storage_writable_only_on_data_nodes(lab: dict[str, Any], good_keys: list[Any]) -> None:
    rel = lab["home"].removeprefix("/lustre")
    for fqdn, node in lab["nodes"].items():
        probe = "; ".join(
            f"touch {root}{rel}/.w-{node['hostname']} 2>/dev/null && echo {root}=rw "
            f"&& rm -f {root}{rel}/.w-{node['hostname']} || echo {root}=ro"
            for root in [*COLD, "/lustre", "/dssg"]
        )
        async with connect(lab, fqdn, good_keys) as conn:
            out = dict(kv.split("=") for kv in (await run(conn, probe)).split())
        want_cold = "rw" if fqdn.split(".")[0] in {"data", "sydata"} else "ro"
        assert {r: out[r] for r in COLD} == dict.fromkeys(COLD, want_cold), (fqdn, out)
        assert out["/lustre"] == out["/dssg"] == "rw", (fqdn, out)


async def test_data_node_has_tmux_and_rsync(lab: dict[str, Any], good_keys: list[Any]) -> None:
    async with connect(lab, "data.hpc.sjtu.edu.cn", good_keys) as conn:
        out = await run(conn, "command -v tmux rsync; rsync --version | head -1")
    assert "tmux" in out and "rsync" in out and "version" in out
