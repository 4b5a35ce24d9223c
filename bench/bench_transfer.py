#!/usr/bin/env python3
"""Benchmark: `transfer_data start` through the MCP server against raw `rsync -a` on the same data node.

Needs the local lab (tests/lab/up as root: /var/tmp/sjtu-hpc-lab/lab.json, and latency.json for the latency
pools) and the project installed in the running interpreter; run it as root on the lab machine (it reads the
lab's CA key, makes the trees in place and drops the kernel's file caches). Prints figures; it is not a test.

    python bench/bench_transfer.py [--pools tmpfs,lustre-like,nfs-like] [--rounds 3] [--lat-rounds 2]
                                   [--big-mb 500] [--files 20000] [--streams N] [--sweep 1,2,4,8]
                                   [--sweep-pools ...] [--plan-files 20000,200000] [--plan-pools ...]

Pools (--pools), each measured on its own data node:
  tmpfs:       the lab's data node (data.hpc.sjtu.edu.cn); /lustre and /vault are tmpfs;
  lustre-like, nfs-like: the data node of that latency pool (tests/lab/latency-pools): its /lustre and /vault
               are folders of one FUSE pool that makes every request wait (metadata and data latency, a
               per-stream bandwidth, a few server slots). The kernel's dentry and inode caches are dropped
               before every run there, so each run starts cold, as a copy of data nobody touched lately.

Two source trees are made in the user's /lustre folder (in place, as root, then given to the user):
  A: one file of --big-mb MB (10^6 bytes) of random data;
  B: --files files of 4 KiB of random data, spread over 8 subfolders.

Variants, interleaved round by round (the order rotates every round, so machine noise hits all alike):
  raw:   `rsync -a SRC/ DST/` typed by hand on the data node, over one warm asyncssh connection; timed on
         the node (`date +%s.%N` around it) and on the client (wall time of the SSH command);
  tool:  `transfer_data start` (wait_s=50, then `status` until done) through a real stdio MCP client,
         the server a subprocess with its SSH connection warmed by one `list` call; timed on the client
         from the start call to the done status (wall), and on the node by the result's `seconds`
         (the driver script's start to its end);
  hand:  tree B only: as many `rsync -a` by hand at once as the tool's streams (tree B's 8 top-level folders
         dealt round-robin): the ceiling of parallel streams on this machine now, with no tool.
Every destination is a fresh folder in /vault, checked (files, bytes) and deleted right after its run.

The tool's wall time is split using the driver's own `started`/`ended` stamps from its state folder:
planning (the call until the driver starts: probe, inspect, listing the source, writing the file lists,
tmux), the driver itself, and the tail (the driver's end until the client holds the done status). The
lab's nodes are this machine, so node and client clocks are the same clock; that split is lab-only.

--sweep runs tree B with the tool at several forced stream counts, interleaved with one raw rsync and
with N raw rsyncs at once by hand, on the pools of --sweep-pools (default: all of --pools).
--plan-files measures planning alone for trees of those sizes on the pools of --plan-pools: the tool's
start (wait_s=0) until its driver starts, the server's resident memory after it (the copy is then
stopped), and the pure planning steps (parsing the listing, splitting) in this process, with their peak
memory.
Everything it made is removed at the end: trees, destinations, and the state folders
(~/.sjtu-hpc-mcp/transfers/<id>) of the transfers it started. Other work on the machine makes the
figures noisy: the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
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

from sjtu_hpc_mcp.core import transfer as t
from sjtu_hpc_mcp.core.policy import default_streams

LAB_DIR = Path(os.environ.get("SJTU_HPC_LAB_DIR", "/var/tmp/sjtu-hpc-lab"))
NODE = "data.hpc.sjtu.edu.cn"
MB = 1_000_000
SMALL = 4096  # bytes per file of tree B
SUBDIRS = 8
WAIT_S = 50
STATE_DIR = t.STATE_DIR  # under the login home
SESSION_PREFIX = t.SESSION_PREFIX
POOLS = ("tmpfs", "lustre-like", "nfs-like")


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


# -- lab, pools, credentials, the data node over SSH -------------------------------------------------


@dataclass(frozen=True)
class Site:
    """One pool to measure on: its data node and where its files are on this machine."""

    name: str
    host: str
    port: int
    known_hosts: str
    host_map: str
    backing: Path | None = None  # a latency pool: node path /x/y is backing/x/y here
    profile: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> bool:
        return self.backing is not None

    def local(self, node_path: str) -> Path:
        """A node path as this machine (root) reaches it without going through the pool's latency."""
        return self.backing / node_path.lstrip("/") if self.backing else Path(node_path)

    def describe(self) -> str:
        if not self.latency:
            return f"{self.name}: {NODE} (127.0.0.1:{self.port}), /lustre and /vault on tmpfs"
        p = self.profile
        return (
            f"{self.name}: its data node 127.0.0.1:{self.port}; every request {p['meta_us']} us (metadata) or "
            f"max({p['data_us']} us, bytes at {p['mbps']} MB/s per open file), {p['slots']} at once"
        )


@dataclass
class Lab:
    data: dict[str, Any]
    tmp: Path
    workspace: Path
    key: asyncssh.SSHKey
    cert_text: str

    @property
    def user(self) -> str:
        return str(self.data["user"])

    @property
    def account(self) -> str:
        return str(self.data["account"])

    @property
    def home(self) -> str:
        return str(self.data["home"])

    def personal(self, pool: str) -> str:
        """The user's own folder in a pool: /<pool>/home/<account>/<user>."""
        return f"/{pool}/home/{self.account}/{self.user}"

    def sites(self, names: list[str]) -> list[Site]:
        out = []
        latency: dict[str, Any] = {}
        if any(n != "tmpfs" for n in names):
            path = LAB_DIR / "latency.json"
            if not path.exists():
                sys.exit(f"the latency pools are not up ({path} missing): run tests/lab/up as root")
            latency = json.loads(path.read_text())
        for name in names:
            if name == "tmpfs":
                node = self.data["nodes"][NODE]
                out.append(Site(name, node["host"], int(node["port"]), self.data["known_hosts"], self.data["host_map"]))
            else:
                p = latency["profiles"][name]
                out.append(
                    Site(
                        name,
                        p["node"]["host"],
                        int(p["node"]["port"]),
                        latency["known_hosts"],
                        p["host_map"],
                        Path(p["backing"]),
                        p,
                    )
                )
        return out

    def server_args(self, site: Site) -> list[str]:
        return ["--workspace", str(self.workspace), "--known-hosts", site.known_hosts, "--host-map", site.host_map]


def setup_lab() -> Lab:
    path = LAB_DIR / "lab.json"
    if not path.exists():
        sys.exit(f"the lab is not up ({path} missing): run tests/lab/up as root")
    if os.geteuid() != 0:
        sys.exit("run the bench as root on the lab machine (it makes trees in place and drops file caches)")
    data = json.loads(path.read_text())
    ca = asyncssh.read_private_key(data["ca_key"])
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(
        key, f"bench-{data['user']}", principals=[data["user"]], valid_after=now - 60, valid_before=now + 12 * 3600
    )
    cert_text = cert.export_certificate("openssh").decode()
    tmp = Path(tempfile.mkdtemp(prefix="sjtu-bench-transfer-"))
    tmp.chmod(0o700)
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
    return Lab(data, tmp, ws, key, cert_text)


def drop_caches(site: Site) -> None:
    """Latency pools: forget cached dentries and inodes, so a run pays its lookups like a cold client."""
    if site.latency:
        Path("/proc/sys/vm/drop_caches").write_text("2\n")


class DataNode:
    """One asyncssh connection to a data node as the lab's user: the by-hand baseline and the chores."""

    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, lab: Lab, site: Site) -> DataNode:
        conn = await asyncssh.connect(
            site.host,
            site.port,
            username=lab.user,
            client_keys=[(lab.key, asyncssh.import_certificate(lab.cert_text))],
            known_hosts=site.known_hosts,
            agent_path=None,
            config=[],
            preferred_auth="publickey",
        )
        return cls(conn)

    async def sh(self, command: str, timeout: float = 1800) -> str:
        p = await self.conn.run(command, check=False, timeout=timeout)
        if p.exit_status != 0:
            raise RuntimeError(f"on the data node: {command[:200]!r} failed ({p.exit_status}): {str(p.stderr)[-400:]}")
        return str(p.stdout)

    async def close(self) -> None:
        self.conn.close()
        await self.conn.wait_closed()


# -- the trees (made in place as root, then given to the user) -----------------------------------------


@dataclass(frozen=True)
class Tree:
    key: str  # "A" or "B"
    path: str  # on the node
    files: int
    bytes: int
    top: tuple[str, ...]  # its top-level entries

    def describe(self) -> str:
        if self.files == 1:
            return f"tree A: one file of {self.bytes / MB:.0f} MB"
        return f"tree B: {self.files} files of {SMALL // 1024} KiB = {self.bytes / MB:.1f} MB in {SUBDIRS} subfolders"


def sh_local(command: str) -> str:
    return subprocess.run(["sh", "-c", command], check=True, capture_output=True, text=True).stdout


def give_to_user(lab: Lab, path: Path) -> None:
    sh_local(f"chown -R {shlex.quote(lab.user)}:{shlex.quote(lab.account)} {shlex.quote(str(path))}")


def make_small_tree(lab: Lab, site: Site, path: str, files: int, key: str = "B") -> Tree:
    """files × 4 KiB over 8 subfolders, one `split` per subfolder (a loop of `head` would take long)."""
    tree = Tree(key, path, files, files * SMALL, tuple(f"d{i}" for i in range(min(SUBDIRS, files))))
    where = site.local(path)
    per, extra = divmod(files, SUBDIRS)
    q = shlex.quote
    parts = []
    for i in range(SUBDIRS):
        n = per + (1 if i < extra else 0)
        if n:
            d = q(str(where / f"d{i}"))
            parts.append(f"mkdir -p {d} && head -c {n * SMALL} /dev/urandom | split -b {SMALL} -a 6 -d - {d}/f")
    sh_local(" && ".join(parts))
    give_to_user(lab, where)
    return tree


def make_trees(lab: Lab, site: Site, base: str, big_mb: int, files: int) -> tuple[Tree, Tree]:
    big = Tree("A", f"{base}/big", 1, big_mb * MB, ("data.bin",))
    where = site.local(big.path)
    where.mkdir(parents=True)
    sh_local(f"head -c {big.bytes} /dev/urandom > {shlex.quote(str(where / 'data.bin'))}")
    give_to_user(lab, site.local(base))
    small = make_small_tree(lab, site, f"{base}/small", files)
    give_to_user(lab, site.local(base))
    for tree in (big, small):
        if count(site, tree.path) != (tree.files, tree.bytes):
            raise RuntimeError(f"{tree.path} was not made as planned")
    return big, small


def count(site: Site, path: str) -> tuple[int, int]:
    """Regular files under a node path and their bytes (read in place, not through the pool)."""
    out = sh_local(f"find {shlex.quote(str(site.local(path)))} -type f -printf '%s\\n'")
    sizes = [int(x) for x in out.split()]
    return len(sizes), sum(sizes)


def remove(site: Site, path: str) -> None:
    shutil.rmtree(site.local(path), ignore_errors=True)


# -- one measured transfer ------------------------------------------------------------------------


@dataclass
class Run:
    node_s: float  # on the node: rsync alone (raw) or the driver script (tool)
    wall_s: float  # on the client: the SSH command (raw) or start call to done status (tool)
    streams: int = 1
    plan_s: float | None = None  # tool: start call until the driver starts
    tail_s: float | None = None  # tool: driver's end until the client holds the done status


class Destinations:
    """Fresh destination folders in the cold pool, one at a time, each deleted after its run."""

    def __init__(self, site: Site, base: str) -> None:
        self.site = site
        self.base = base
        self.count = 0

    def fresh(self, label: str) -> str:
        self.count += 1
        return f"{self.base}/{label}-{self.count}"

    def drop(self, path: str, tree: Tree | None) -> None:
        """Delete a destination; with a tree, first check the copy is complete (files and bytes)."""
        if tree is not None:
            files, size = count(self.site, path)
            if (files, size) != (tree.files, tree.bytes):
                raise RuntimeError(f"{path}: {files} files, {size} B copied; wanted {tree.files}, {tree.bytes} B")
        remove(self.site, path)


async def raw_rsync(node: DataNode, tree: Tree, dest: str, parallel: int = 1) -> Run:
    """`rsync -a SRC/ DST/` as typed by hand, timed on the node around rsync and on the client.

    With parallel > 1: as many `rsync -a SRC/x SRC/y … DST/` at once, the top-level folders dealt round-robin
    (the by-hand split of LAB-NOTES.md), for what parallel streams can give on this machine right now.
    """
    q = shlex.quote
    if parallel == 1:
        copy = f"rsync -a {q(tree.path + '/')} {q(dest + '/')}; r=$?"
    else:
        groups = [tree.top[i::parallel] for i in range(parallel)]
        starts = [
            f"rsync -a {' '.join(q(f'{tree.path}/{x}') for x in g)} {q(dest + '/')} & p{i}=$!"
            for i, g in enumerate(groups)
            if g
        ]
        waits = [f"wait $p{i} || r=1" for i in range(len(starts))]
        copy = f"mkdir -p {q(dest)}; {'; '.join(starts)}; r=0; {'; '.join(waits)}"
    cmd = f"s=$(date +%s.%N); {copy}; e=$(date +%s.%N); echo $s $e $r"
    t0 = time.perf_counter()
    out = await node.sh(cmd)
    wall = time.perf_counter() - t0
    start, end, rc = out.split()
    if rc != "0":
        raise RuntimeError(f"raw rsync of {tree.path} exited {rc}")
    return Run(node_s=float(end) - float(start), wall_s=wall, streams=parallel)


class Tool:
    """transfer_data through a stdio MCP client; remembers every transfer id it started (for cleanup)."""

    def __init__(self, client: Client, node: DataNode, site: Site, home: str) -> None:
        self.client = client
        self.node = node
        self.site = site
        self.home = home
        self.ids: set[str] = set()

    async def call(self, args: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.call_tool("transfer_data", args)
        text = "".join(getattr(c, "text", "") for c in r.content)
        if r.is_error or r.structured_content is None:
            raise RuntimeError(f"transfer_data {args} failed: {text}")
        return dict(r.structured_content)

    def folder(self, tid: str) -> Path:
        return self.site.local(f"{self.home}/{STATE_DIR}/{tid}")

    async def start(self, tree: Tree, dest: str, streams: int | None, wait_s: float) -> tuple[dict[str, Any], float]:
        args: dict[str, Any] = {"action": "start", "source": tree.path, "destination": dest, "wait_s": wait_s}
        if streams is not None:
            args["streams"] = streams
        t_epoch = time.time()
        res = await self.call(args)
        xfer = res.get("transfer")
        if xfer is None:  # a preview: nothing started
            raise RuntimeError(f"transfer_data start did not start: {res.get('summary')}")
        self.ids.add(xfer["id"])
        plan = res.get("plan") or {}
        if plan and plan.get("files") != tree.files:
            raise RuntimeError(f"the tool planned {plan.get('files')} files, the tree has {tree.files}")
        return res, t_epoch

    async def run(self, tree: Tree, dest: str, streams: int | None) -> Run:
        t0 = time.perf_counter()
        res, t_epoch = await self.start(tree, dest, streams, WAIT_S)
        xfer = res["transfer"]
        while xfer["state"] == "running":
            res = await self.call({"action": "status", "transfer_id": xfer["id"], "wait_s": WAIT_S})
            xfer = res["transfer"]
        wall = time.perf_counter() - t0
        t_done = t_epoch + wall
        if xfer["state"] != "done":
            raise RuntimeError(f"transfer {xfer['id']} ended {xfer['state']}: {xfer.get('cause')} {xfer.get('errors')}")
        # the driver's own stamps (date +%s.%N on the node, the same clock as ours in the lab)
        folder = self.folder(xfer["id"])
        started, ended = (float((folder / f).read_text()) for f in ("started", "ended"))
        return Run(
            node_s=float(xfer["seconds"]),
            wall_s=wall,
            streams=int(xfer["streams"]),
            plan_s=started - t_epoch,
            tail_s=t_done - ended,
        )

    async def stop(self, tid: str) -> None:
        session = shlex.quote(f"={SESSION_PREFIX}{tid}")
        await self.node.sh(f"tmux kill-session -t {session} 2>/dev/null; true")

    async def cleanup(self) -> None:
        """Stop any of our transfers still running (an interrupted bench) and remove their state folders."""
        for tid in sorted(self.ids):
            await self.stop(tid)
            shutil.rmtree(self.folder(tid), ignore_errors=True)


@asynccontextmanager
async def mcp_server(lab: Lab, site: Site, log: TextIO) -> AsyncIterator[Client]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SJTU_HPC_")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "sjtu_hpc_mcp", *lab.server_args(site)], env=env)
    async with Client(stdio_client(params, errlog=log)) as client:
        yield client


def server_memory() -> tuple[float, float]:
    """The server subprocess's resident memory now and at its peak (MiB): VmRSS, VmHWM."""
    me = str(os.getpid())
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == me and b"sjtu_hpc_mcp" in cmdline:
            return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)
    return (float("nan"), float("nan"))


# -- phases -------------------------------------------------------------------------------------


Variant = tuple[str, Callable[[], Awaitable[Run]]]


async def interleave(rounds: int, variants: list[Variant]) -> dict[str, list[Run]]:
    """Each round runs every variant once; the order rotates every round (flips, for two)."""
    out: dict[str, list[Run]] = {name: [] for name, _ in variants}
    for i in range(rounds):
        k = i % len(variants)
        for name, fn in variants[k:] + variants[:k]:
            out[name].append(await fn())
        print(f"    round {i + 1}/{rounds} done ({load()})", flush=True)
    return out


def raw_variant(
    node: DataNode, dests: Destinations, tree: Tree, parallel: int = 1, label: str = "raw"
) -> Callable[[], Awaitable[Run]]:
    async def go() -> Run:
        dest = dests.fresh(f"{label}-{tree.key}-p{parallel}")
        drop_caches(dests.site)
        try:
            run = await raw_rsync(node, tree, dest, parallel)
        except BaseException:
            dests.drop(dest, None)
            raise
        dests.drop(dest, tree)
        return run

    return go


def tool_variant(tool: Tool, dests: Destinations, tree: Tree, streams: int | None) -> Callable[[], Awaitable[Run]]:
    async def go() -> Run:
        dest = dests.fresh(f"tool-{tree.key}-s{streams or 'default'}")
        drop_caches(dests.site)
        try:
            run = await tool.run(tree, dest, streams)
        except BaseException:
            dests.drop(dest, None)
            raise
        dests.drop(dest, tree)
        return run

    return go


def mbps(tree: Tree, seconds: float) -> str:
    return f"{tree.bytes / MB / seconds:8.1f} MB/s"


def series(label: str, tree: Tree, xs: list[float]) -> None:
    print(
        f"    {label:<28} median {med(xs):8.3f} s {mbps(tree, med(xs))}   "
        f"min {min(xs):8.3f} s  max {max(xs):8.3f} s  (n={len(xs)})"
    )


def ratio(base: list[float], tool: list[float]) -> tuple[float, float]:
    """tool/base throughput (base time / tool time): of the medians, and the median of the per-round ratios."""
    return med(base) / med(tool), med([r / t for r, t in zip(base, tool, strict=True)])


@dataclass
class Verdict:
    site: Site
    tree: Tree
    streams: int
    node_ratio: float  # tool vs one raw rsync, node-side
    wall_ratio: float
    raw_target: float
    hand: int = 0  # tree B: rsyncs by hand at once
    hand_node: float = 0.0  # tool vs the hand-run rsyncs, node-side
    hand_wall: float = 0.0
    hand_ceiling: float = 0.0  # the hand-run rsyncs vs one raw rsync, node-side
    wall_over_node: float = 0.0  # the tool's wall time / its node-side time
    plan_s: float = 0.0
    tool_node_s: float = 0.0
    raw_node_s: float = 0.0


# targets (README.md, Performance, Transfers): issue 16's on the latency pools; on tmpfs the earlier 1.6× for B
TARGET_A = 0.95
TARGET_B = {"tmpfs": 1.6, "lat": 2.5}
TARGET_HAND = 0.9
TARGET_WALL_OVER_NODE = 1.10


def passed(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report_tree(site: Site, tree: Tree, runs: dict[str, list[Run]], target: float) -> Verdict:
    raw, tool = runs["raw"], runs["tool"]
    streams = sorted({r.streams for r in tool})
    print(f"\n  [{site.name}] {tree.describe()}; tool streams: {', '.join(map(str, streams))}")
    series("raw rsync, node-side", tree, [r.node_s for r in raw])
    series("raw rsync, wall", tree, [r.wall_s for r in raw])
    series("tool, node-side (seconds)", tree, [r.node_s for r in tool])
    series("tool, wall (start..done)", tree, [r.wall_s for r in tool])
    node_r, node_paired = ratio([r.node_s for r in raw], [r.node_s for r in tool])
    wall_r, wall_paired = ratio([r.wall_s for r in raw], [r.wall_s for r in tool])
    print(
        f"    tool/raw throughput: node-side {node_r:.2f}x (paired {node_paired:.2f}x), "
        f"wall {wall_r:.2f}x (paired {wall_paired:.2f}x); target >= {target:.2f}x: "
        f"node-side {passed(node_r >= target)}, wall {passed(wall_r >= target)}"
    )
    plan = [r.plan_s for r in tool if r.plan_s is not None]
    tail = [r.tail_s for r in tool if r.tail_s is not None]
    tool_node, tool_wall = med([r.node_s for r in tool]), med([r.wall_s for r in tool])
    print(
        f"    tool wall, median parts: planning (call -> driver start) {med(plan):.3f} s, "
        f"driver {tool_node:.3f} s, tail (driver end -> done status) {med(tail):.3f} s; "
        f"wall / node-side {tool_wall / tool_node:.3f}"
    )
    v = Verdict(site, tree, streams[0], node_r, wall_r, target, plan_s=med(plan), tool_node_s=tool_node)
    v.wall_over_node = tool_wall / tool_node
    v.raw_node_s = med([r.node_s for r in raw])
    hand = runs.get("hand")
    if hand:
        v.hand = hand[0].streams
        series(f"{v.hand} rsyncs by hand, node-side", tree, [r.node_s for r in hand])
        series(f"{v.hand} rsyncs by hand, wall", tree, [r.wall_s for r in hand])
        v.hand_node, hand_paired = ratio([r.node_s for r in hand], [r.node_s for r in tool])
        v.hand_wall, _ = ratio([r.wall_s for r in hand], [r.wall_s for r in tool])
        v.hand_ceiling = med([r.node_s for r in raw]) / med([r.node_s for r in hand])
        print(
            f"    tool/hand-run ({v.hand} at once): node-side {v.hand_node:.2f}x (paired {hand_paired:.2f}x), "
            f"wall {v.hand_wall:.2f}x; target >= {TARGET_HAND:.2f}x: {passed(v.hand_node >= TARGET_HAND)}; "
            f"hand-run ceiling vs one raw rsync: {v.hand_ceiling:.2f}x"
        )
    return v


async def phase_main(
    site: Site,
    node: DataNode,
    tool: Tool,
    dests: Destinations,
    trees: tuple[Tree, Tree],
    rounds: int,
    streams: int | None,
) -> list[Verdict]:
    big, small = trees
    hand = streams or default_streams(small.files, small.bytes)
    forced = f"streams={streams}" if streams else f"the tool's default streams ({hand} for tree B)"
    print(f"\n[1 {site.name}] tool vs raw rsync and {hand} rsyncs by hand, {rounds} rounds interleaved ({forced})")
    variants: list[Variant] = [
        ("raw A", raw_variant(node, dests, big)),
        ("tool A", tool_variant(tool, dests, big, streams)),
        ("raw B", raw_variant(node, dests, small)),
        ("tool B", tool_variant(tool, dests, small, streams)),
        ("hand B", raw_variant(node, dests, small, hand, "hand")),
    ]
    runs = await interleave(rounds, variants)
    kind = "lat" if site.latency else "tmpfs"
    return [
        report_tree(site, big, {"raw": runs["raw A"], "tool": runs["tool A"]}, TARGET_A),
        report_tree(
            site, small, {"raw": runs["raw B"], "tool": runs["tool B"], "hand": runs["hand B"]}, TARGET_B[kind]
        ),
    ]


async def phase_sweep(
    site: Site, node: DataNode, tool: Tool, dests: Destinations, tree: Tree, rounds: int, counts: list[int]
) -> None:
    print(
        f"\n[2 {site.name}] {tree.describe()}: the tool at forced stream counts, {rounds} rounds interleaved with "
        "raw rsync (one, and several by hand)"
    )
    variants: list[Variant] = [("raw", raw_variant(node, dests, tree))]
    variants += [(f"s{n}", tool_variant(tool, dests, tree, n)) for n in counts]
    variants += [(f"p{n}", raw_variant(node, dests, tree, n, "hand")) for n in counts if n > 1]
    runs = await interleave(rounds, variants)
    raw_node = [r.node_s for r in runs["raw"]]
    raw_wall = [r.wall_s for r in runs["raw"]]
    print(
        f"\n    {'variant':<12} {'node-side':>10} {'MB/s':>8} {'x raw':>7}   {'wall':>8} {'MB/s':>8} {'x raw':>7}"
        f"   {'planning':>8}"
    )
    print(
        f"    {'raw rsync':<12} {med(raw_node):>8.3f} s {tree.bytes / MB / med(raw_node):>8.1f} {'1.00x':>7}   "
        f"{med(raw_wall):>6.3f} s {tree.bytes / MB / med(raw_wall):>8.1f} {'1.00x':>7}   {'-':>8}"
    )
    for n in counts:
        rs = runs[f"s{n}"]
        node_s, wall_s = med([r.node_s for r in rs]), med([r.wall_s for r in rs])
        plan = med([r.plan_s for r in rs if r.plan_s is not None])
        print(
            f"    {f'tool s={n}':<12} {node_s:>8.3f} s {tree.bytes / MB / node_s:>8.1f} "
            f"{med(raw_node) / node_s:>6.2f}x   {wall_s:>6.3f} s {tree.bytes / MB / wall_s:>8.1f} "
            f"{med(raw_wall) / wall_s:>6.2f}x   {plan:>6.3f} s"
        )
    for n in counts:
        if n > 1:
            rs = runs[f"p{n}"]
            node_s, wall_s = med([r.node_s for r in rs]), med([r.wall_s for r in rs])
            print(
                f"    {f'raw {n}x dirs':<12} {node_s:>8.3f} s {tree.bytes / MB / node_s:>8.1f} "
                f"{med(raw_node) / node_s:>6.2f}x   {wall_s:>6.3f} s {tree.bytes / MB / wall_s:>8.1f} "
                f"{med(raw_wall) / wall_s:>6.2f}x   {'-':>8}"
            )
    print(
        f"    (raw Nx dirs: N `rsync -a` by hand at once, the {len(tree.top)} top-level folders dealt round-robin: "
        "what parallel streams can give here now)"
    )


@dataclass
class PlanFigure:
    site: str
    files: int
    plan_s: float  # the start call until the driver starts
    call_s: float  # the start call (wait_s=0) until its result
    listing_s: float  # the `find -printf` listing alone on the node, cold
    rss_mib: float
    hwm_mib: float


async def phase_plan(
    lab: Lab, site: Site, node: DataNode, tool: Tool, base: str, dests: Destinations, sizes: list[int]
) -> list[PlanFigure]:
    print(f"\n[3 {site.name}] planning alone, trees of {', '.join(map(str, sizes))} files of 4 KiB")
    out = []
    for n in sizes:
        tree = make_small_tree(lab, site, f"{base}/plan-{n}", n)
        try:
            drop_caches(site)
            listing = await time_listing(node, tree)
            drop_caches(site)
            dest = dests.fresh(f"plan-{n}")
            t0 = time.perf_counter()
            res, t_epoch = await tool.start(tree, dest, None, 0)
            call = time.perf_counter() - t0
            tid = res["transfer"]["id"]
            started_file = tool.folder(tid) / "started"
            for _ in range(100):
                if started_file.exists() and started_file.read_text().strip():
                    break
                await asyncio.sleep(0.05)
            plan = float(started_file.read_text()) - t_epoch
            rss, hwm = server_memory()
            await tool.stop(tid)
            await asyncio.sleep(0.5)
            dests.drop(dest, None)
        finally:
            remove(site, tree.path)
        fig = PlanFigure(site.name, n, plan, call, listing, rss, hwm)
        print(
            f"    {n:>7} files: planning {plan:6.3f} s (the call {call:6.3f} s; the listing alone on the node "
            f"{listing:6.3f} s); server RSS {rss:6.1f} MiB, peak {hwm:6.1f} MiB"
        )
        out.append(fig)
    return out


def planning_steps(listing: str) -> tuple[float, float]:
    """What the server does with a source's listing: parse it, then plan (cut into units, balance the streams)."""
    ins = t.Inspected(True, "none", "/lustre/home/acct-hpc/u/src", "/vault/home/acct-hpc/u/dst")
    t0 = time.perf_counter()
    entries = t.parse_find(listing)
    t1 = time.perf_counter()
    t.plan("data-000000000000", NODE, "copy", ins, entries, None, overwrite=False, run=1, why=None, started=0)
    return t1 - t0, time.perf_counter() - t1


def pure_planning(sizes: list[int]) -> list[tuple[int, float, float, float]]:
    """The planning steps of this process for n files: parse the listing, split over the default streams.

    Returns (n, parse s, split s, peak MiB of both) per size, from a synthetic `find -printf` listing.
    """
    out = []
    for n in sizes:
        per = -(-n // SUBDIRS)
        listing = "".join(f"d {SMALL} d{d}\0" for d in range(SUBDIRS)) + "".join(
            f"f {SMALL} d{i // per}/f{i:06d}\0" for i in range(n)
        )
        parse, split = planning_steps(listing)  # timed without tracemalloc, which slows allocation
        tracemalloc.start()
        planning_steps(listing)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        out.append((n, parse, split, peak))
    return out


async def time_listing(node: DataNode, tree: Tree) -> float:
    """The `find -printf` the tool runs to list a source for a fresh destination, alone on the node."""
    q = shlex.quote(tree.path)
    out = await node.sh(
        f"s=$(date +%s.%N); find {q} -mindepth 1 -printf '%y %s %P\\0' >/dev/null; e=$(date +%s.%N); echo $s $e"
    )
    start, end = map(float, out.split())
    return end - start


async def exec_round_trip(node: DataNode) -> float:
    t0 = time.perf_counter()
    await node.sh("true")
    return time.perf_counter() - t0


# -- main -----------------------------------------------------------------------------------------


def free_bytes(site: Site, node_path: str) -> int:
    return shutil.disk_usage(site.local(node_path)).free


@dataclass
class SiteResult:
    verdicts: list[Verdict]
    plans: list[PlanFigure]


async def run_site(lab: Lab, site: Site, args: argparse.Namespace, tag: str, log: TextIO) -> SiteResult:
    src_base = f"{lab.personal('lustre')}/{tag}"
    dst_base = f"{lab.personal('vault')}/{tag}"
    rounds = args.lat_rounds if site.latency else args.rounds
    print(f"\n== {site.describe()}", flush=True)
    need_src = args.big_mb * MB + args.files * SMALL
    need_dst = max(args.big_mb * MB, args.files * SMALL)
    for where, need in ((lab.personal("lustre"), need_src), (lab.personal("vault"), need_dst)):
        free = free_bytes(site, where)
        if free < need * 1.1 + 50 * MB:
            sys.exit(
                f"{site.name} {where}: {free / MB:.0f} MB free, the bench needs about {need * 1.1 / MB + 50:.0f} MB"
            )
    node = await DataNode.connect(lab, site)
    tool: Tool | None = None
    verdicts: list[Verdict] = []
    plans: list[PlanFigure] = []
    try:
        t0 = time.perf_counter()
        trees = make_trees(lab, site, src_base, args.big_mb, args.files)
        site.local(dst_base).mkdir(parents=True)
        give_to_user(lab, site.local(dst_base))
        print(f"trees made in {src_base} in {time.perf_counter() - t0:.1f} s; destinations under {dst_base}")
        dests = Destinations(site, dst_base)
        async with mcp_server(lab, site, log) as client:
            tool = Tool(client, node, site, lab.home)
            await tool.call({"action": "list", "limit": 1})  # opens the server's SSH connection (not timed)
            verdicts = await phase_main(site, node, tool, dests, trees, rounds, args.streams)
            if args.sweep and site.name in args.sweep_pools:
                counts = [int(x) for x in args.sweep.split(",")]
                await phase_sweep(site, node, tool, dests, trees[1], rounds, counts)
            drop_caches(site)
            listing = await time_listing(node, trees[1])
            trips = [await exec_round_trip(node) for _ in range(10)]
            print(
                "\n    planning (before the driver starts) is 5 SSH commands (probe, inspect, status, find, tmux"
                "\n    start) and one SFTP write of the file lists; for scale: one bare `true` over a warm asyncssh"
                f"\n    connection takes {med(trips) * 1000:.0f} ms (median of 10), and the `find -printf` listing of"
                f" tree B alone {listing:.3f} s on the node (cold)"
            )
            if args.plan_files and site.name in args.plan_pools:
                for tree in trees:
                    remove(site, tree.path)  # room for the bigger trees
                sizes = [int(x) for x in args.plan_files.split(",")]
                plans = await phase_plan(lab, site, node, tool, src_base, dests, sizes)
    finally:
        if tool is not None:
            await tool.cleanup()
        remove(site, src_base)
        remove(site, dst_base)
        await node.close()
    return SiteResult(verdicts, plans)


def summary(results: list[SiteResult], plan_pure: list[tuple[int, float, float, float]]) -> None:
    print("\n## Summary (medians over rounds; x = raw or hand-run time / tool time, node-side (wall))\n")
    print(
        "| pool | tree | streams | tool vs 1 raw rsync | target | tool vs N rsyncs by hand | target | "
        "hand-run ceiling | tool wall / node-side | target | planning |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for res in results:
        for v in res.verdicts:
            name = "A: 1 file" if v.tree.files == 1 else f"B: {v.tree.files} files"
            lat = v.site.latency
            hand = f"{v.hand_node:.2f}x ({v.hand_wall:.2f}x), N={v.hand}" if v.hand else "-"
            hand_t = f">= {TARGET_HAND:.2f}x {passed(v.hand_node >= TARGET_HAND)}" if v.hand and lat else "-"
            ceiling = f"{v.hand_ceiling:.2f}x" if v.hand else "-"
            won = f"{v.wall_over_node:.3f}"
            won_t = (
                f"<= {TARGET_WALL_OVER_NODE:.2f} {passed(v.wall_over_node <= TARGET_WALL_OVER_NODE)}"
                if lat and v.hand
                else "-"
            )
            print(
                f"| {v.site.name} | {name} ({v.tree.bytes / MB:.0f} MB) | {v.streams} | "
                f"{v.node_ratio:.2f}x ({v.wall_ratio:.2f}x) | "
                f">= {v.raw_target:.2f}x {passed(v.node_ratio >= v.raw_target)} | "
                f"{hand} | {hand_t} | {ceiling} | {won} | {won_t} | {v.plan_s:.2f} s |"
            )
    plans = [p for res in results for p in res.plans]
    if plans:
        print("\n| pool | files | planning (call -> driver start) | listing alone on the node | server RSS (peak) |")
        print("|---|---:|---:|---:|---:|")
        for p in plans:
            print(
                f"| {p.site} | {p.files} | {p.plan_s:.2f} s | {p.listing_s:.2f} s | "
                f"{p.rss_mib:.0f} ({p.hwm_mib:.0f}) MiB |"
            )
    if plan_pure:
        print("\n| files | parse the listing | split over the streams | peak memory of both (this process) |")
        print("|---:|---:|---:|---:|")
        for n, parse, split, peak in plan_pure:
            print(f"| {n} | {parse:.3f} s | {split:.3f} s | {peak:.1f} MiB |")


async def main_async(args: argparse.Namespace) -> int:
    lab = setup_lab()
    sites = lab.sites(args.pools)
    tag = f"bench-transfer-{uuid.uuid4().hex[:8]}"
    t_start = time.perf_counter()
    print(f"lab: as {lab.user}; python {sys.version.split()[0]}; {load()}")
    print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    results = []
    try:
        with (lab.tmp / "server.log").open("a") as log:
            for site in sites:
                results.append(await run_site(lab, site, args, tag, log))
    finally:
        shutil.rmtree(lab.tmp, ignore_errors=True)
    sizes = [int(x) for x in args.plan_files.split(",")] if args.plan_files else []
    summary(results, pure_planning(sizes) if sizes else [])
    print(f"\n(total bench time {time.perf_counter() - t_start:.0f} s; {load()}; removed what it made)")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--pools", default=",".join(POOLS), help=f"pools to measure on, of {', '.join(POOLS)}")
    ap.add_argument("--rounds", "-n", type=int, default=3, help="rounds of every phase on tmpfs (default 3)")
    ap.add_argument("--lat-rounds", type=int, default=2, help="rounds on the latency pools (default 2)")
    ap.add_argument("--big-mb", type=int, default=500, help="size of tree A's one file in MB (default 500)")
    ap.add_argument("--files", type=int, default=20000, help="4 KiB files in tree B (default 20000)")
    ap.add_argument("--streams", type=int, default=None, help="force the tool's streams in phase 1 (default: its own)")
    ap.add_argument("--sweep", default="", help="stream counts for phase 2 on tree B, e.g. 1,2,4,8 ('' skips)")
    ap.add_argument("--sweep-pools", default=None, help="pools of the sweep (default: all of --pools)")
    ap.add_argument("--plan-files", default="", help="tree sizes for planning alone, e.g. 20000,200000 ('' skips)")
    ap.add_argument("--plan-pools", default=None, help="pools of the planning phase (default: all of --pools)")
    args = ap.parse_args()
    args.pools = [p for p in args.pools.split(",") if p]
    args.sweep_pools = args.sweep_pools.split(",") if args.sweep_pools else args.pools
    args.plan_pools = args.plan_pools.split(",") if args.plan_pools else args.pools
    if bad := [p for p in args.pools + args.sweep_pools + args.plan_pools if p not in POOLS]:
        ap.error(f"unknown pool(s) {', '.join(bad)}: use {', '.join(POOLS)}")
    if args.rounds < 1 or args.lat_rounds < 1 or args.big_mb < 1 or args.files < SUBDIRS:
        ap.error("--rounds, --lat-rounds and --big-mb must be >= 1, --files >= 8")
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
