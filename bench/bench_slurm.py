#!/usr/bin/env python3
"""Benchmark: `run_slurm squeue` through the MCP server against OpenSSH and raw asyncssh on the lab.

Needs the local lab (tests/lab/up; /var/tmp/sjtu-hpc-lab/lab.json) and the project installed in the
running interpreter. Every comparison is measured interleaved within one run: the variants alternate
round by round (the order flips or rotates each round), so machine noise hits all of them alike.

    python bench/bench_slurm.py [--rounds 30] [--cold-rounds 15] [--conc-rounds 12] [--jobs 20] [--server-args ".."]

Figures (all against pilogin = 127.0.0.1:2201, user hpcrobot):
  1. warm run_slurm squeue (initialized server, warm connection) vs `ssh` through a ControlMaster
  2. first run_slurm call of a fresh server (opens the SSH connection) vs a plain `ssh` (new connection)
     (also: the first call 0.5 s after tools/list, when the early connection has been made)
  3. 50 concurrent run_slurm calls on one client vs raw asyncssh (one connection, semaphore of 8)
  4. server spawn -> MCP initialized vs a bare `python -c "from mcp.server import MCPServer"`
  5. idle RSS of the server after initialize and one call
  6. bytes of the run_slurm squeue result (text + structured JSON) vs `squeue --me` as typed, ~20 jobs

OpenSSH runs via blocking subprocess.run (the leanest way to run it); the server's stderr (its log)
goes to a file in the temporary workspace. Nothing is left behind: the servers, the ControlMaster,
the asyncssh connection, the jobs (scancel in `finally`) and the workspace are all removed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import asyncssh
from mcp import StdioServerParameters
from mcp.client import Client
from mcp.client.stdio import stdio_client

from sjtu_hpc_mcp.core.slurm.commands import squeue_argv

LAB_DIR = Path(os.environ.get("SJTU_HPC_LAB_DIR", "/var/tmp/sjtu-hpc-lab"))
NODE = "pilogin.hpc.sjtu.edu.cn"
SQUEUE_CALL = {"command": "squeue", "node_group": "pi"}
SQUEUE_SHELL = "squeue -h -o '%i|%P|%j|%u|%T|%M|%l|%D|%R' --me"
MIB = 1024 * 1024


# -- statistics -------------------------------------------------------------------------------------


def p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def ms(x: float) -> str:
    return f"{x * 1000:.1f} ms"


@dataclass
class Figure:
    num: int
    name: str
    ours: str
    base: str
    measure: str  # ratio or difference, as text
    target: str
    ok: bool


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_series(label: str, xs: list[float]) -> None:
    print(
        f"    {label:<34} median {ms(med(xs)):>10}  p90 {ms(p90(xs)):>10}  "
        f"min {ms(min(xs)):>10}  max {ms(max(xs)):>10}  (n={len(xs)})"
    )


# -- lab, workspace, credentials -----------------------------------------------------------------


@dataclass
class Lab:
    data: dict[str, Any]
    tmp: Path
    workspace: Path
    ssh_key: Path
    ssh_cert: Path
    control_path: Path
    key: asyncssh.SSHKey
    cert_text: str
    extra_args: list[str] = field(default_factory=list)

    @property
    def user(self) -> str:
        return str(self.data["user"])

    @property
    def known_hosts(self) -> str:
        return str(self.data["known_hosts"])

    @property
    def host(self) -> str:
        return str(self.data["nodes"][NODE]["host"])

    @property
    def port(self) -> int:
        return int(self.data["nodes"][NODE]["port"])

    def server_args(self) -> list[str]:
        return [
            "--workspace",
            str(self.workspace),
            "--known-hosts",
            self.known_hosts,
            "--host-map",
            str(self.data["host_map"]),
        ]

    def ssh_argv(self, remote: str, *, mux: bool) -> list[str]:
        argv = [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(self.ssh_key),
            "-o",
            f"CertificateFile={self.ssh_cert}",
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ]
        if mux:
            argv += ["-o", f"ControlPath={self.control_path}"]
        else:
            argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        return [*argv, "-p", str(self.port), f"{self.user}@{self.host}", remote]


def make_user_cert(ca: asyncssh.SSHKey, user: str) -> tuple[asyncssh.SSHKey, str]:
    """A fresh Ed25519 key and an OpenSSH user certificate for it (as tests/conftest.py does)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(
        key, f"bench-{user}", principals=[user], valid_after=now - 60, valid_before=now + 3600
    )
    return key, cert.export_certificate("openssh").decode()


def setup_lab() -> Lab:
    path = LAB_DIR / "lab.json"
    if not path.exists():
        sys.exit(f"the lab is not up ({path} missing): run tests/lab/up as root")
    data = json.loads(path.read_text())
    tmp = Path(tempfile.mkdtemp(prefix="sjtu-bench-"))
    tmp.chmod(0o700)
    key, cert_text = make_user_cert(asyncssh.read_private_key(data["ca_key"]), data["user"])
    # the server's workspace, laid out like tests/conftest.py install_credentials
    ws = tmp / "workspace"
    creds = ws / "credentials"
    creds.mkdir(parents=True, mode=0o700)
    (creds / "id_ed25519").write_bytes(key.export_private_key("openssh"))
    (creds / "id_ed25519").chmod(0o600)
    (creds / "id_ed25519.pub").write_bytes(key.export_public_key("openssh"))
    (creds / "id_ed25519-cert.pub").write_text(cert_text)
    (creds / "hpc_token").write_text("bench-token\n")
    (creds / "hpc_token").chmod(0o600)
    # the same pair for the OpenSSH client binary
    sshdir = tmp / "ssh"
    sshdir.mkdir(mode=0o700)
    (sshdir / "id").write_bytes(key.export_private_key("openssh"))
    (sshdir / "id").chmod(0o600)
    (sshdir / "id-cert.pub").write_text(cert_text)
    return Lab(data, tmp, ws, sshdir / "id", sshdir / "id-cert.pub", sshdir / "cm", key, cert_text)


# -- OpenSSH ----------------------------------------------------------------------------------------


def ssh_run(lab: Lab, remote: str, *, mux: bool, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    p = subprocess.run(lab.ssh_argv(remote, mux=mux), capture_output=True, timeout=60)
    if check and p.returncode != 0:
        raise RuntimeError(f"ssh {remote!r} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-400:]}")
    return p


def timed_ssh(lab: Lab, *, mux: bool) -> float:
    t0 = time.perf_counter()
    ssh_run(lab, SQUEUE_SHELL, mux=mux)
    return time.perf_counter() - t0


class ControlMaster:
    """`ssh -f -N` master with ControlPersist; stopped with `-O exit`, and by its pid as a fallback."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.pid: int | None = None

    def _ctl(self, op: str) -> subprocess.CompletedProcess[bytes]:
        argv = self.lab.ssh_argv("true", mux=True)
        argv[-2:-2] = ["-O", op]
        return subprocess.run(argv[:-1], capture_output=True, timeout=20)

    def start(self) -> None:
        argv = self.lab.ssh_argv("true", mux=True)[:-1]
        argv[1:1] = ["-o", "ControlMaster=yes", "-o", "ControlPersist=300", "-f", "-N"]
        # -f: the master forks into the background; its output must not be a pipe we wait on
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        check = self._ctl("check")
        text = check.stderr.decode() + check.stdout.decode()
        if check.returncode != 0 or "pid=" not in text:
            raise RuntimeError(f"ControlMaster did not start: {text}")
        self.pid = int(text.split("pid=")[1].split(")")[0])

    def stop(self) -> None:
        if self.lab.control_path.exists():
            self._ctl("exit")
        if self.pid is None:
            return
        for _ in range(50):
            if not _alive(self.pid):
                break
            time.sleep(0.02)
        else:
            os.kill(self.pid, signal.SIGTERM)
        self.pid = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive; the master was reparented, so its parent reaps it
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# -- the MCP server over stdio ----------------------------------------------------------------------


def server_env(marker: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SJTU_HPC_")}
    env["SJTU_BENCH_MARK"] = marker
    return env


@asynccontextmanager
async def mcp_server(lab: Lab, log: TextIO) -> AsyncIterator[tuple[Client, float, int]]:
    """Spawn the server, complete the MCP handshake; yields (client, seconds spawn->initialized, pid)."""
    marker = uuid.uuid4().hex
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "sjtu_hpc_mcp", *lab.server_args(), *lab.extra_args],
        env=server_env(marker),
    )
    t0 = time.perf_counter()
    async with Client(stdio_client(params, errlog=log)) as client:
        init_s = time.perf_counter() - t0
        yield client, init_s, find_pid(marker)


def find_pid(marker: str) -> int:
    """The server process: the one whose environment carries our marker (a /proc scan, no psutil)."""
    needle = f"SJTU_BENCH_MARK={marker}".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                return int(d.name)
        except OSError:
            continue
    raise RuntimeError("server process not found in /proc")


def proc_status(pid: int | str) -> dict[str, int]:
    """The kB fields of /proc/<pid>/status, in bytes (VmRSS, RssAnon, RssFile, VmHWM, ...)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if value.strip().endswith(" kB"):
            out[key] = int(value.split()[0]) * 1024
    return out


def rss_bytes(pid: int) -> int:
    return proc_status(pid)["VmRSS"]


def bare_sdk_rss() -> dict[str, int]:
    """RSS of a bare interpreter that imported the MCP SDK's server class (for reference)."""
    code = (
        "from mcp.server import MCPServer\n"
        "import json\n"
        "s = dict(l.split(':', 1) for l in open('/proc/self/status') if l.strip().endswith('kB'))\n"
        "print(json.dumps({k: int(v.split()[0]) * 1024 for k, v in s.items()}))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, env=server_env("bare"))
    return dict(json.loads(p.stdout))


async def call(client: Client, args: dict[str, Any]) -> Any:
    r = await client.call_tool("run_slurm", args)
    if r.is_error:
        text = "".join(getattr(c, "text", "") for c in r.content)
        raise RuntimeError(f"run_slurm {args} failed: {text}")
    return r


async def timed_call(client: Client) -> float:
    t0 = time.perf_counter()
    await call(client, SQUEUE_CALL)
    return time.perf_counter() - t0


# -- raw asyncssh -----------------------------------------------------------------------------------


async def raw_connect(lab: Lab) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        lab.host,
        lab.port,
        username=lab.user,
        client_keys=[(lab.key, asyncssh.import_certificate(lab.cert_text))],
        known_hosts=lab.known_hosts,
        agent_path=None,
        config=[],
        preferred_auth="publickey",
    )


RAW_COMMAND = shlex.join(squeue_argv())  # exactly what the server runs for run_slurm squeue


async def raw_run(conn: asyncssh.SSHClientConnection) -> None:
    p = await conn.run(RAW_COMMAND, check=False, timeout=60)
    if p.exit_status != 0:
        raise RuntimeError(f"raw asyncssh squeue failed: {p.stderr!r}")


async def timed_raw(conn: asyncssh.SSHClientConnection) -> float:
    t0 = time.perf_counter()
    await raw_run(conn)
    return time.perf_counter() - t0


@dataclass
class RawStats:
    open_retries: int = 0


async def raw_burst(conn: asyncssh.SSHClientConnection, n: int, channels: int, stats: RawStats) -> float:
    """n concurrent squeue on one connection, at most `channels` at a time.

    sshd frees a session slot a little after the channel closes, so 8 busy channels against
    MaxSessions 10 now and then get "open failed" (sshd logs "no more sessions"): retried here on
    the same connection after a short pause, and counted.
    """
    sem = asyncio.Semaphore(channels)

    async def one() -> None:
        async with sem:
            for attempt in range(20):
                try:
                    await raw_run(conn)
                    return
                except asyncssh.ChannelOpenError:
                    stats.open_retries += 1
                    await asyncio.sleep(0.002 * (attempt + 1))
            raise RuntimeError("channel open kept failing")

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - t0


async def mcp_burst(client: Client, n: int) -> float:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(client.call_tool("run_slurm", SQUEUE_CALL) for _ in range(n)))
    wall = time.perf_counter() - t0
    bad = [r for r in results if r.is_error or r.structured_content is None]
    if bad:
        raise RuntimeError(f"{len(bad)} of {n} concurrent run_slurm calls failed: {bad[0].content}")
    return wall


# -- phases -----------------------------------------------------------------------------------------


async def interleave(rounds: int, variants: list[tuple[str, Callable[[], Awaitable[float]]]]) -> dict[str, list[float]]:
    """Each round runs every variant once; the order rotates every round."""
    out: dict[str, list[float]] = {name: [] for name, _ in variants}
    for i in range(rounds):
        k = i % len(variants)
        for name, fn in variants[k:] + variants[:k]:
            out[name].append(await fn())
    return out


async def phase_warm(lab: Lab, client: Client, rounds: int) -> Figure:
    print(
        f"\n[1] warm run_slurm squeue vs ssh via ControlMaster ({rounds} rounds, interleaved; "
        "raw asyncssh alongside for reference)"
    )

    async def ssh_mux() -> float:
        return timed_ssh(lab, mux=True)

    conn = await raw_connect(lab)
    try:
        for _ in range(3):  # warm-up, not counted
            await timed_call(client)
            await ssh_mux()
            await timed_raw(conn)
        r = await interleave(
            rounds, [("mcp", lambda: timed_call(client)), ("ssh", ssh_mux), ("raw", lambda: timed_raw(conn))]
        )
    finally:
        conn.close()
        await conn.wait_closed()
    print_series("run_slurm squeue (warm, MCP stdio)", r["mcp"])
    print_series("ssh ControlMaster squeue", r["ssh"])
    print_series("(ref) asyncssh conn.run, same argv", r["raw"])
    ratio = med(r["mcp"]) / med(r["ssh"])
    paired = med([a / b for a, b in zip(r["mcp"], r["ssh"], strict=True)])
    ok = ratio <= 0.9
    print(f"    ratio of medians {ratio:.2f}x (median of paired ratios {paired:.2f}x); target <= 0.90x: {verdict(ok)}")
    print(f"    MCP layer over raw asyncssh: {ms(med(r['mcp']) - med(r['raw']))} per call (difference of medians)")
    return Figure(
        1, "warm squeue vs ssh ControlMaster", ms(med(r["mcp"])), ms(med(r["ssh"])), f"{ratio:.2f}x", "<= 0.90x", ok
    )


def log_counts(path: Path) -> tuple[int, int]:
    """(connections opened, reconnects after a 'lost' connection) from the server's log."""
    text = path.read_text() if path.exists() else ""
    return text.count(" connected to "), text.count("reconnecting once")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase_concurrent(
    lab: Lab, client: Client, pid: int, rounds: int, n: int, channels: int, log_path: Path
) -> Figure:
    print(f"\n[3] {n} concurrent run_slurm squeue vs raw asyncssh ({channels} channels) ({rounds} rounds, interleaved)")
    stats = RawStats()
    conn = await raw_connect(lab)
    before = log_counts(log_path)
    cpu = {"server": 0.0, "mcp client": 0.0, "raw client": 0.0}

    async def mcp() -> float:
        s0, c0 = cpu_seconds(pid), time.process_time()
        wall = await mcp_burst(client, n)
        cpu["server"] += cpu_seconds(pid) - s0
        cpu["mcp client"] += time.process_time() - c0
        return wall

    async def raw() -> float:
        c0 = time.process_time()
        wall = await raw_burst(conn, n, channels, stats)
        cpu["raw client"] += time.process_time() - c0
        return wall

    try:
        await mcp_burst(client, n)  # warm-up
        await raw_burst(conn, n, channels, stats)
        r = await interleave(rounds, [("mcp", mcp), ("raw", raw)])
    finally:
        conn.close()
        await conn.wait_closed()
    after = log_counts(log_path)
    print_series(f"{n} x run_slurm (asyncio.gather)", r["mcp"])
    print_series(f"{n} x asyncssh conn.run (sem {channels})", r["raw"])
    ratio = med(r["mcp"]) / med(r["raw"])
    ok = ratio <= 1.2
    calls = n * (rounds + 1)
    print(f"    all {calls} calls per variant succeeded; ratio of medians {ratio:.2f}x; target <= 1.20x: {verdict(ok)}")
    print(
        f"    sshd 'no more sessions' (MaxSessions 10): raw asyncssh retried {stats.open_retries} channel opens; "
        f"the server opened {after[0] - before[0]} new SSH connections ({after[1] - before[1]} "
        "'lost, reconnecting once' in its log)"
    )
    per = 1000 / (n * rounds)
    print(
        f"    CPU per call: server {cpu['server'] * per:.2f} ms + MCP client {cpu['mcp client'] * per:.2f} ms, "
        f"vs raw asyncssh client {cpu['raw client'] * per:.2f} ms ({os.cpu_count()} CPUs shared with sshd and Slurm)"
    )
    return Figure(
        3,
        f"{n} concurrent squeue vs raw asyncssh",
        ms(med(r["mcp"])),
        ms(med(r["raw"])),
        f"{ratio:.2f}x",
        "<= 1.20x",
        ok,
    )


async def phase_cold(lab: Lab, rounds: int, log: TextIO) -> list[Figure]:
    print(
        f"\n[2,4,5] fresh servers: first call, start-up, idle RSS ({rounds} rounds, interleaved with "
        "plain ssh and a bare import)"
    )
    first: list[float] = []
    later: list[float] = []
    init: list[float] = []
    rss: list[dict[str, int]] = []

    async def server_round() -> None:
        async with mcp_server(lab, log) as (client, init_s, pid):
            init.append(init_s)
            await client.list_tools()  # as every host does before its first call (not timed)
            first.append(await timed_call(client))
            await asyncio.sleep(0.3)  # let it settle: idle
            rss.append(proc_status(pid))

    async def later_round() -> None:
        """The first call a moment after tools/list, as when a host's model reads the tools first."""
        async with mcp_server(lab, log) as (client, _, _pid):
            await client.list_tools()
            await asyncio.sleep(0.5)
            later.append(await timed_call(client))

    plain: list[float] = []
    bare: list[float] = []

    async def plain_round() -> None:
        plain.append(timed_ssh(lab, mux=False))

    async def bare_round() -> None:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "from mcp.server import MCPServer"], check=True, env=server_env("bare"))
        bare.append(time.perf_counter() - t0)

    variants = [server_round, later_round, plain_round, bare_round]
    for i in range(rounds):
        k = i % len(variants)
        for fn in variants[k:] + variants[:k]:
            await fn()

    print_series("first run_slurm call (new conn)", first)
    print_series("plain ssh squeue (new conn)", plain)
    r2 = med(first) / med(plain)
    ok2 = r2 <= 0.35
    print(f"    ratio of medians {r2:.2f}x; target <= 0.35x: {verdict(ok2)}")
    print_series("first call 0.5 s after tools/list", later)
    print(
        f"    ratio of medians {med(later) / med(plain):.2f}x (the early connection, opened once the SDK is "
        "imported, is ready by then)"
    )
    print_series("spawn -> MCP initialized", init)
    print_series("python -c 'from mcp.server import …'", bare)
    d4 = med(init) - med(bare)
    ok4 = d4 <= 0.100
    print(f"    difference of medians {d4 * 1000:+.0f} ms; target <= +100 ms: {verdict(ok4)}")
    rss_mib = [x["VmRSS"] / MIB for x in rss]
    ok5 = med(rss_mib) <= 80
    print(
        f"    idle RSS after initialize + 1 call: median {med(rss_mib):.1f} MiB, max {max(rss_mib):.1f} MiB "
        f"(n={len(rss)}); target <= 80 MiB: {verdict(ok5)}"
    )
    anon = med([x["RssAnon"] / MIB for x in rss])
    file = med([x["RssFile"] / MIB for x in rss])
    bare_rss = bare_sdk_rss()
    print(
        f"      of which anonymous {anon:.1f} MiB, file-backed {file:.1f} MiB; a bare interpreter after "
        f"`from mcp.server import MCPServer`: {bare_rss['VmRSS'] / MIB:.1f} MiB "
        f"(anon {bare_rss['RssAnon'] / MIB:.1f}, file {bare_rss['RssFile'] / MIB:.1f})"
    )
    return [
        Figure(2, "first (cold) squeue vs plain ssh", ms(med(first)), ms(med(plain)), f"{r2:.2f}x", "<= 0.35x", ok2),
        Figure(
            4,
            "spawn -> initialized vs bare SDK import",
            ms(med(init)),
            ms(med(bare)),
            f"{d4 * 1000:+.0f} ms",
            "<= +100 ms",
            ok4,
        ),
        Figure(5, "idle RSS after init + 1 call", f"{med(rss_mib):.1f} MiB", "-", "-", "<= 80 MiB", ok5),
    ]


async def phase_bytes(lab: Lab, client: Client, njobs: int) -> Figure:
    print(f"\n[6] result size with {njobs} queued jobs: run_slurm squeue vs `squeue --me` as typed")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    submit = (
        f"for i in $(seq {njobs}); do sbatch --parsable --partition=cpu --job-name={name} --time=10 "
        f"--mem=10M --ntasks=1 --output=/dev/null --wrap='sleep 600' || exit 1; done"
    )
    ids: list[str] = []
    try:
        p = ssh_run(lab, submit, mux=True, check=False)
        ids = [x.split(";")[0] for x in p.stdout.decode().split()]
        if p.returncode != 0 or len(ids) != njobs:
            raise RuntimeError(f"sbatch failed after {len(ids)} jobs: {p.stderr.decode(errors='replace')[-400:]}")
        raw = ssh_run(lab, "squeue --me", mux=True).stdout
        r = await call(client, SQUEUE_CALL)
    finally:
        done = ssh_run(lab, f"scancel --me --name={name}", mux=False, check=False)
        status = "cancelled" if done.returncode == 0 else f"scancel FAILED ({done.stderr.decode(errors='replace')})"
        print(f"    submitted {len(ids)} jobs ({name}); {status}")
    text = "".join(getattr(c, "text", "") for c in r.content).encode()
    sc = json.dumps(r.structured_content, separators=(",", ":"), ensure_ascii=False).encode()
    sc_pretty = json.dumps(r.structured_content, indent=2, ensure_ascii=False).encode()
    rows = len(r.structured_content["table"]["rows"])
    raw_rows = len(raw.decode().strip().splitlines()) - 1
    total = len(text) + len(sc)
    ratio = total / len(raw)
    ok = ratio <= 3.0 and rows == raw_rows
    print(f"    squeue --me (with header): {len(raw)} B, {raw_rows} rows")
    print(
        f"    run_slurm: text {len(text)} B + structured JSON {len(sc)} B (compact; {len(sc_pretty)} B indented) "
        f"= {total} B, {rows} rows"
    )
    print(f"    ratio {ratio:.2f}x; target <= 3.00x: {verdict(ok)}")
    return Figure(
        6,
        f"squeue result bytes ({rows} jobs)",
        f"{total} B",
        f"{len(raw)} B",
        f"{ratio:.2f}x",
        "<= 3.00x",
        ok,
    )


# -- main -------------------------------------------------------------------------------------------


def summary(figs: list[Figure]) -> None:
    figs = sorted(figs, key=lambda f: f.num)
    print("\n## Summary\n")
    print("| # | figure | sjtu-hpc-mcp | baseline | ratio / diff | target | result |")
    print("|---|---|---:|---:|---:|---|---|")
    for f in figs:
        print(f"| {f.num} | {f.name} | {f.ours} | {f.base} | {f.measure} | {f.target} | {verdict(f.ok)} |")
    passed = sum(f.ok for f in figs)
    print(f"\n{passed}/{len(figs)} targets met.")


async def main_async(args: argparse.Namespace) -> int:
    lab = setup_lab()
    lab.extra_args = shlex.split(args.server_args)
    figs: list[Figure] = []
    cm = ControlMaster(lab)
    t_start = time.perf_counter()
    log_path = lab.tmp / "server-warm.log"
    try:
        with log_path.open("a") as log, (lab.tmp / "server-cold.log").open("a") as cold_log:
            cm.start()
            print(
                f"lab: {NODE} -> {lab.host}:{lab.port} as {lab.user}; python {sys.version.split()[0]}; "
                f"{os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}"
            )
            print(f"ControlMaster pid {cm.pid}; workspace {lab.workspace}")
            async with mcp_server(lab, log) as (client, _init, pid):
                figs.append(await phase_warm(lab, client, args.rounds))
                figs.append(
                    await phase_concurrent(
                        lab, client, pid, args.conc_rounds, args.concurrency, args.channels, log_path
                    )
                )
                figs.append(await phase_bytes(lab, client, args.jobs))
                print(f"\n    (warm server after all of the above: RSS {rss_bytes(pid) / MIB:.1f} MiB)")
            figs += await phase_cold(lab, args.cold_rounds, cold_log)
    finally:
        cm.stop()
        shutil.rmtree(lab.tmp, ignore_errors=True)
    summary(figs)
    print(
        f"\n(total bench time {time.perf_counter() - t_start:.0f} s; rounds: warm {args.rounds}, "
        f"cold {args.cold_rounds}, concurrent {args.conc_rounds})"
    )
    return 0 if all(f.ok for f in figs) else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rounds", "-n", type=int, default=30, help="warm rounds (figure 1; default 30)")
    ap.add_argument("--cold-rounds", type=int, default=15, help="fresh-server rounds (figures 2, 4, 5; default 15)")
    ap.add_argument("--conc-rounds", type=int, default=12, help="concurrent-burst rounds (figure 3; default 12)")
    ap.add_argument("--concurrency", type=int, default=50, help="calls per burst (default 50)")
    ap.add_argument("--channels", type=int, default=8, help="raw asyncssh semaphore (default 8, the server's)")
    ap.add_argument("--server-args", default="", help="extra server flags, e.g. '--max-channels 6' (default none)")
    ap.add_argument("--jobs", type=int, default=20, help="jobs queued for figure 6 (default 20)")
    args = ap.parse_args()
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
