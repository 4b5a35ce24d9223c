"""Load (issue 11, item 5): 500 sequential and 50 concurrent mixed read calls through one stdio client, against
the lab and the API double: no error, no channel-limit failure, and the server's open file descriptors and
resident memory flat within a stated bound (after a warm-up that opens every connection once, and one
concurrent burst)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert, stdio_server
from e2e.lab_helpers import new_token, server_args, text_of
from lab.api_double import DoubleState, run_double
from sjtu_hpc_mcp.shell.hpc_api import API_KEEPALIVE

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
SEQUENTIAL, CONCURRENT = 500, 50
# descriptors: one connection more or less per node may be in flight at a sample, and the API client's
# keep-alive pool may hold from none to all of its idle connections (a burst fills it, idle time empties it)
FD_SLACK = 4 + API_KEEPALIVE
RSS_SLACK_MIB = 16.0  # memory after 550 calls vs after the warm-up

READS: list[tuple[str, dict[str, Any]]] = [
    ("credential_status", {}),
    ("run_slurm", {"command": "sinfo", "partition": "cpu"}),
    ("run_slurm", {"command": "squeue", "node_group": "sy"}),
    ("run_slurm", {"command": "sacct", "node_group": "kp"}),
    ("manage_storage", {"action": "free"}),
    ("manage_storage", {"action": "list", "path": "lustre:"}),
    ("manage_storage", {"action": "usage", "path": "dssg:"}),
    ("transfer_data", {"action": "list", "limit": 5}),
    ("get_user", {}),
    ("query_quota", {"quota_type": "user"}),
]


@pytest.fixture
def double(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(lab["ca_key"]) as pair:
        yield pair


def server_pid(workspace: Path) -> int:
    mark = str(workspace).encode()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if b"sjtu_hpc_mcp" in cmd and mark in cmd:
                return int(p.name)
    raise AssertionError("server process not found")


def sample(pid: int) -> tuple[int, float]:
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    return fds, rss / 1024


async def test_500_sequential_and_50_concurrent_reads(
    lab: dict[str, Any], double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, _ = double
    key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]))
    install_credentials(workspace, key, cert, token=new_token(url))
    (workspace / "credentials" / "hpc_user").write_text(lab["user"] + "\n")
    errors: list[str] = []

    async def one(i: int) -> None:
        tool, args = READS[i % len(READS)]
        r = await c.call_tool(tool, args)
        if r.is_error:
            errors.append(f"{tool}: {text_of(r)[:200]}")

    async with stdio_server(server_args(lab, workspace, "--api-url", url), stderr_path=tmp_path / "log") as c:
        pid = server_pid(workspace)
        for i in range(2 * len(READS)):  # warm-up: every connection opened once
            await one(i)
        # and one concurrent burst: the HTTP client's keep-alive pool to the API grows to its working size
        await asyncio.gather(*(one(i) for i in range(CONCURRENT)))
        fds0, rss0 = sample(pid)
        samples = []
        t0 = time.monotonic()
        for i in range(SEQUENTIAL):
            await one(i)
            if i % 50 == 49:
                samples.append(sample(pid))
        seq_s = time.monotonic() - t0
        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(CONCURRENT)))
        conc_s = time.monotonic() - t0
        fds1, rss1 = sample(pid)
        samples.append((fds1, rss1))
    assert not errors, errors[:5]
    log = (tmp_path / "log").read_text()
    assert "Traceback" not in log and "MaxSessions" not in log and "open failed" not in log.lower()
    max_fds = max(f for f, _ in samples)
    max_rss = max(r for _, r in samples)
    print(
        f"\nload: {SEQUENTIAL} sequential in {seq_s:.1f} s, {CONCURRENT} concurrent in {conc_s:.2f} s; "
        f"fds {fds0} -> max {max_fds}; RSS {rss0:.1f} -> max {max_rss:.1f} MiB"
    )
    assert max_fds <= fds0 + FD_SLACK, (fds0, samples)
    assert max_rss <= rss0 + RSS_SLACK_MIB, (rss0, samples)
    figures = os.environ.get("SJTU_HPC_FIGURES")
    if figures:
        with open(figures, "a") as fh:
            fh.write(
                f"load sequential={SEQUENTIAL} seq_s={seq_s:.1f} concurrent={CONCURRENT} conc_s={conc_s:.2f} "
                f"errors=0 fds={fds0}->{max_fds} rss_mib={rss0:.1f}->{max_rss:.1f}\n"
            )
