#!/usr/bin/env python3
"""Benchmark: `transfer_data start` through the MCP server against raw `rsync -a` on the same data node.

Needs the local lab (tests/lab/up; /var/tmp/sjtu-hpc-lab/lab.json) and the project installed in the
running interpreter. Prints figures; it is not a test. Everything runs against the data node
data.hpc.sjtu.edu.cn as the lab's user, with a fresh certificate signed by the lab's CA.

    python bench/bench_transfer.py [--rounds 3] [--big-mb 500] [--files 20000] [--streams N]
                                   [--sweep 1,2,4,8] [--dest-pool vault]

Two source trees are made in the user's /lustre folder (over SSH, so the user owns them):
  A: one file of --big-mb MB (10^6 bytes) of random data;
  B: --files files of 4 KiB of random data, spread over 8 subfolders.

Variants, interleaved round by round (the order flips every round, so machine noise hits both alike):
  raw:  `rsync -a SRC/ DST/` typed by hand on the data node, over one warm asyncssh connection; timed on
        the node (`date +%s.%N` around it) and on the client (wall time of the SSH command).
  tool: `transfer_data start` (wait_s=50, then `status` until done) through a real stdio MCP client,
        the server a subprocess with its SSH connection warmed by one `list` call; timed on the client
        from the start call to the done status (wall), and on the node by the result's `seconds`
        (the driver script's start to its end).
Every destination is a fresh folder in the cold pool (--dest-pool), deleted right after its run, so at
most one copy exists at a time. tmpfs pools have no page cache to drop.

The tool's wall time is split using the driver's own `started`/`ended` stamps from its state folder:
planning (the call until the driver starts: probe, inspect, listing the source, writing the file lists,
tmux), the driver itself, and the tail (the driver's end until the client holds the done status). The
lab's nodes are this machine, so node and client clocks are the same clock; that split is lab-only.

A last pass (--sweep) runs tree B with the tool at several forced stream counts, interleaved with one raw
rsync and with N raw rsyncs at once by hand (tree B's top-level folders dealt round-robin): what parallel
streams can give on this machine at that moment, with or without the tool.
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
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import asyncssh
from mcp import StdioServerParameters
from mcp.client import Client
from mcp.client.stdio import stdio_client

LAB_DIR = Path(os.environ.get("SJTU_HPC_LAB_DIR", "/var/tmp/sjtu-hpc-lab"))
NODE = "data.hpc.sjtu.edu.cn"
MB = 1_000_000
SMALL = 4096  # bytes per file of tree B
SUBDIRS = 8
WAIT_S = 50
STATE_DIR = ".sjtu-hpc-mcp/transfers"  # under the login home, as core.transfer.STATE_DIR
SESSION_PREFIX = "mcp-xfer-"  # as core.transfer.SESSION_PREFIX


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


# -- lab, credentials, the data node over SSH -------------------------------------------------------


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
    def home(self) -> str:
        return str(self.data["home"])

    def personal(self, pool: str) -> str:
        """The user's own folder in a pool: /<pool>/home/<account>/<user>."""
        return f"/{pool}/home/{self.data['account']}/{self.user}"

    def server_args(self) -> list[str]:
        return [
            "--workspace",
            str(self.workspace),
            "--known-hosts",
            str(self.data["known_hosts"]),
            "--host-map",
            str(self.data["host_map"]),
        ]


def setup_lab() -> Lab:
    path = LAB_DIR / "lab.json"
    if not path.exists():
        sys.exit(f"the lab is not up ({path} missing): run tests/lab/up as root")
    data = json.loads(path.read_text())
    ca = asyncssh.read_private_key(data["ca_key"])
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(
        key, f"bench-{data['user']}", principals=[data["user"]], valid_after=now - 60, valid_before=now + 6 * 3600
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


class DataNode:
    """One asyncssh connection to the data node as the lab's user: the by-hand baseline and the chores."""

    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, lab: Lab) -> DataNode:
        node = lab.data["nodes"][NODE]
        conn = await asyncssh.connect(
            node["host"],
            int(node["port"]),
            username=lab.user,
            client_keys=[(lab.key, asyncssh.import_certificate(lab.cert_text))],
            known_hosts=str(lab.data["known_hosts"]),
            agent_path=None,
            config=[],
            preferred_auth="publickey",
        )
        return cls(conn)

    async def sh(self, command: str, timeout: float = 600) -> str:
        p = await self.conn.run(command, check=False, timeout=timeout)
        if p.exit_status != 0:
            raise RuntimeError(f"on {NODE}: {command[:200]!r} failed ({p.exit_status}): {str(p.stderr)[-400:]}")
        return str(p.stdout)

    async def close(self) -> None:
        self.conn.close()
        await self.conn.wait_closed()


# -- the trees ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    key: str  # "A" or "B"
    path: str
    files: int
    bytes: int
    top: tuple[str, ...]  # its top-level entries

    def describe(self) -> str:
        if self.files == 1:
            return f"tree A: one file of {self.bytes / MB:.0f} MB"
        return f"tree B: {self.files} files of {SMALL // 1024} KiB = {self.bytes / MB:.1f} MB in {SUBDIRS} subfolders"


async def make_trees(node: DataNode, base: str, big_mb: int, files: int) -> tuple[Tree, Tree]:
    big = Tree("A", f"{base}/big", 1, big_mb * MB, ("data.bin",))
    small = Tree("B", f"{base}/small", files, files * SMALL, tuple(f"d{i}" for i in range(min(SUBDIRS, files))))
    q = shlex.quote
    await node.sh(f"mkdir -p {q(big.path)} && head -c {big.bytes} /dev/urandom > {q(big.path + '/data.bin')}")
    # one `split` per subfolder writes its files in one process (a loop of 20,000 `head` would take long)
    per, extra = divmod(files, SUBDIRS)
    parts = []
    for i in range(SUBDIRS):
        n = per + (1 if i < extra else 0)
        if n:
            d = q(f"{small.path}/d{i}")
            parts.append(f"mkdir -p {d} && head -c {n * SMALL} /dev/urandom | split -b {SMALL} -a 5 -d - {d}/f")
    await node.sh(" && ".join(parts))
    for tree in (big, small):
        if await count(node, tree.path) != (tree.files, tree.bytes):
            raise RuntimeError(f"{tree.path} was not made as planned")
    return big, small


async def count(node: DataNode, path: str) -> tuple[int, int]:
    """Regular files under a path and their bytes."""
    out = await node.sh(
        f"find {shlex.quote(path)} -type f -printf '%s\\n' | awk '{{n++; b+=$1}} END {{print n+0, b+0}}'"
    )
    files, size = out.split()
    return int(files), int(size)


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

    def __init__(self, node: DataNode, base: str) -> None:
        self.node = node
        self.base = base
        self.count = 0

    def fresh(self, label: str) -> str:
        self.count += 1
        return f"{self.base}/{label}-{self.count}"

    async def drop(self, path: str, tree: Tree | None) -> None:
        """Delete a destination; with a tree, first check the copy is complete (files and bytes)."""
        q = shlex.quote(path)
        if tree is not None:
            files, size = await count(self.node, path)
            if (files, size) != (tree.files, tree.bytes):
                raise RuntimeError(f"{path}: {files} files, {size} B copied; wanted {tree.files}, {tree.bytes} B")
        await self.node.sh(f"rm -rf -- {q}")


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
    return Run(node_s=float(end) - float(start), wall_s=wall)


class Tool:
    """transfer_data through a stdio MCP client; remembers every transfer id it started (for cleanup)."""

    def __init__(self, client: Client, node: DataNode, home: str) -> None:
        self.client = client
        self.node = node
        self.home = home
        self.ids: set[str] = set()

    async def call(self, args: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.call_tool("transfer_data", args)
        text = "".join(getattr(c, "text", "") for c in r.content)
        if r.is_error or r.structured_content is None:
            raise RuntimeError(f"transfer_data {args} failed: {text}")
        return dict(r.structured_content)

    async def run(self, tree: Tree, dest: str, streams: int | None) -> Run:
        args: dict[str, Any] = {"action": "start", "source": tree.path, "destination": dest, "wait_s": WAIT_S}
        if streams is not None:
            args["streams"] = streams
        t_epoch, t0 = time.time(), time.perf_counter()
        res = await self.call(args)
        xfer = res.get("transfer")
        if xfer is None:  # a preview: nothing started
            raise RuntimeError(f"transfer_data start did not start: {res.get('summary')}")
        self.ids.add(xfer["id"])
        while xfer["state"] == "running":
            res = await self.call({"action": "status", "transfer_id": xfer["id"], "wait_s": WAIT_S})
            xfer = res["transfer"]
        wall = time.perf_counter() - t0
        t_done = t_epoch + wall
        if xfer["state"] != "done":
            raise RuntimeError(f"transfer {xfer['id']} ended {xfer['state']}: {xfer.get('cause')} {xfer.get('errors')}")
        plan = res.get("plan") or {}
        if plan and plan.get("files") != tree.files:
            raise RuntimeError(f"the tool planned {plan.get('files')} files, the tree has {tree.files}")
        # the driver's own stamps (date +%s.%N on the node, the same clock as ours in the lab)
        folder = shlex.quote(f"{self.home}/{STATE_DIR}/{xfer['id']}")
        started, ended = map(float, (await self.node.sh(f"cat {folder}/started {folder}/ended")).split())
        return Run(
            node_s=float(xfer["seconds"]),
            wall_s=wall,
            streams=int(xfer["streams"]),
            plan_s=started - t_epoch,
            tail_s=t_done - ended,
        )

    async def cleanup(self) -> None:
        """Stop any of our transfers still running (an interrupted bench) and remove their state folders."""
        for tid in sorted(self.ids):
            folder = shlex.quote(f"{self.home}/{STATE_DIR}/{tid}")
            session = shlex.quote(f"={SESSION_PREFIX}{tid}")
            await self.node.sh(f"tmux kill-session -t {session} 2>/dev/null; rm -rf -- {folder}")


@asynccontextmanager
async def mcp_server(lab: Lab, log: TextIO) -> AsyncIterator[Client]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SJTU_HPC_")}
    params = StdioServerParameters(command=sys.executable, args=["-m", "sjtu_hpc_mcp", *lab.server_args()], env=env)
    async with Client(stdio_client(params, errlog=log)) as client:
        yield client


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


def raw_variant(node: DataNode, dests: Destinations, tree: Tree, parallel: int = 1) -> Callable[[], Awaitable[Run]]:
    async def go() -> Run:
        dest = dests.fresh(f"raw-{tree.key}-p{parallel}")
        try:
            run = await raw_rsync(node, tree, dest, parallel)
        except BaseException:
            await dests.drop(dest, None)
            raise
        await dests.drop(dest, tree)
        return run

    return go


def tool_variant(tool: Tool, dests: Destinations, tree: Tree, streams: int | None) -> Callable[[], Awaitable[Run]]:
    async def go() -> Run:
        dest = dests.fresh(f"tool-{tree.key}-s{streams or 'default'}")
        try:
            run = await tool.run(tree, dest, streams)
        except BaseException:
            await dests.drop(dest, None)
            raise
        await dests.drop(dest, tree)
        return run

    return go


def mbps(tree: Tree, seconds: float) -> str:
    return f"{tree.bytes / MB / seconds:8.1f} MB/s"


def series(label: str, tree: Tree, xs: list[float]) -> None:
    print(
        f"    {label:<26} median {med(xs):7.3f} s {mbps(tree, med(xs))}   "
        f"min {min(xs):7.3f} s  max {max(xs):7.3f} s  (n={len(xs)})"
    )


def ratio(raw: list[float], tool: list[float]) -> tuple[float, float]:
    """tool/raw throughput (raw time / tool time): of the medians, and the median of the per-round ratios."""
    return med(raw) / med(tool), med([r / t for r, t in zip(raw, tool, strict=True)])


@dataclass
class Verdict:
    tree: Tree
    streams: int
    node_ratio: float
    wall_ratio: float
    target: float


def report_tree(tree: Tree, runs: dict[str, list[Run]], target: float) -> Verdict:
    raw, tool = runs["raw"], runs["tool"]
    streams = sorted({r.streams for r in tool})
    print(f"\n  {tree.describe()}; tool streams: {', '.join(map(str, streams))}")
    series("raw rsync, node-side", tree, [r.node_s for r in raw])
    series("raw rsync, wall", tree, [r.wall_s for r in raw])
    series("tool, node-side (seconds)", tree, [r.node_s for r in tool])
    series("tool, wall (start..done)", tree, [r.wall_s for r in tool])
    node_r, node_paired = ratio([r.node_s for r in raw], [r.node_s for r in tool])
    wall_r, wall_paired = ratio([r.wall_s for r in raw], [r.wall_s for r in tool])
    print(
        f"    tool/raw throughput: node-side {node_r:.2f}x (paired {node_paired:.2f}x), "
        f"wall {wall_r:.2f}x (paired {wall_paired:.2f}x); target >= {target:.2f}x: "
        f"node-side {'PASS' if node_r >= target else 'FAIL'}, wall {'PASS' if wall_r >= target else 'FAIL'}"
    )
    plan = [r.plan_s for r in tool if r.plan_s is not None]
    tail = [r.tail_s for r in tool if r.tail_s is not None]
    print(
        f"    tool wall, median parts: planning (call -> driver start) {med(plan):.3f} s, "
        f"driver {med([r.node_s for r in tool]):.3f} s, tail (driver end -> done status) {med(tail):.3f} s"
    )
    return Verdict(tree, streams[0], node_r, wall_r, target)


async def phase_main(
    node: DataNode, tool: Tool, dests: Destinations, trees: tuple[Tree, Tree], rounds: int, streams: int | None
) -> list[Verdict]:
    big, small = trees
    forced = f"streams={streams}" if streams else "the tool's default streams"
    print(f"\n[1] tool vs raw rsync, {rounds} rounds interleaved ({forced}, wait_s={WAIT_S})")
    variants: list[Variant] = [
        ("raw A", raw_variant(node, dests, big)),
        ("tool A", tool_variant(tool, dests, big, streams)),
        ("raw B", raw_variant(node, dests, small)),
        ("tool B", tool_variant(tool, dests, small, streams)),
    ]
    runs = await interleave(rounds, variants)
    return [
        report_tree(big, {"raw": runs["raw A"], "tool": runs["tool A"]}, 0.95),
        report_tree(small, {"raw": runs["raw B"], "tool": runs["tool B"]}, 1.6),
    ]


async def phase_sweep(
    node: DataNode, tool: Tool, dests: Destinations, tree: Tree, rounds: int, counts: list[int]
) -> None:
    print(
        f"\n[2] {tree.describe()}: the tool at forced stream counts, {rounds} rounds interleaved with raw rsync "
        "(one, and several by hand)"
    )
    variants: list[Variant] = [("raw", raw_variant(node, dests, tree))]
    variants += [(f"s{n}", tool_variant(tool, dests, tree, n)) for n in counts]
    variants += [(f"p{n}", raw_variant(node, dests, tree, n)) for n in counts if n > 1]
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


async def free_bytes(node: DataNode, path: str) -> int:
    return int((await node.sh(f"df -P -B1 -- {shlex.quote(path)} | awk 'NR==2 {{print $4}}'")).strip())


async def main_async(args: argparse.Namespace) -> int:
    lab = setup_lab()
    tag = f"bench-transfer-{uuid.uuid4().hex[:8]}"
    src_base = f"{lab.personal('lustre')}/{tag}"
    dst_base = f"{lab.personal(args.dest_pool)}/{tag}"
    t_start = time.perf_counter()
    print(f"lab: {NODE} as {lab.user}; python {sys.version.split()[0]}; {load()}")
    node = await DataNode.connect(lab)
    tool: Tool | None = None
    try:
        need_src = args.big_mb * MB + args.files * SMALL
        need_dst = max(args.big_mb * MB, args.files * SMALL)
        for where, need in ((lab.personal("lustre"), need_src), (lab.personal(args.dest_pool), need_dst)):
            free = await free_bytes(node, where)
            if free < need * 1.1 + 50 * MB:
                sys.exit(f"{where}: {free / MB:.0f} MB free, the bench needs about {need * 1.1 / MB + 50:.0f} MB")
        t0 = time.perf_counter()
        trees = await make_trees(node, src_base, args.big_mb, args.files)
        await node.sh(f"mkdir -p {shlex.quote(dst_base)}")
        print(f"trees made in {src_base} in {time.perf_counter() - t0:.1f} s; destinations under {dst_base}")
        dests = Destinations(node, dst_base)
        with (lab.tmp / "server.log").open("a") as log:
            async with mcp_server(lab, log) as client:
                tool = Tool(client, node, lab.home)
                await tool.call({"action": "list", "limit": 1})  # opens the server's SSH connection (not timed)
                verdicts = await phase_main(node, tool, dests, trees, args.rounds, args.streams)
                if args.sweep:
                    counts = [int(x) for x in args.sweep.split(",")]
                    await phase_sweep(node, tool, dests, trees[1], args.rounds, counts)
        listing = [await time_listing(node, trees[1]) for _ in range(3)]
        trips = [await exec_round_trip(node) for _ in range(10)]
        print(
            "\n    planning (before the driver starts) is 5 SSH commands (probe, inspect, status, find, tmux start)\n"
            f"    and one SFTP write of the file lists; for scale: one bare `true` over a warm asyncssh connection\n"
            f"    takes {med(trips) * 1000:.0f} ms (median of 10), and the `find -printf` listing of tree B alone "
            f"{med(listing):.3f} s on the node (median of 3)"
        )
    finally:
        if tool is not None:
            await tool.cleanup()
        await node.sh(f"rm -rf -- {shlex.quote(src_base)} {shlex.quote(dst_base)}")
        await node.close()
        shutil.rmtree(lab.tmp, ignore_errors=True)

    print("\n## Summary (median over rounds; tool/raw = raw time / tool time)\n")
    print("| tree | streams | node-side tool/raw | wall tool/raw | target | node-side | wall |")
    print("|---|---:|---:|---:|---:|---|---|")
    for v in verdicts:
        name = "A: 1 file" if v.tree.files == 1 else f"B: {v.tree.files} files"
        print(
            f"| {name} ({v.tree.bytes / MB:.0f} MB) | {v.streams} | {v.node_ratio:.2f}x | {v.wall_ratio:.2f}x | "
            f">= {v.target:.2f}x | {'PASS' if v.node_ratio >= v.target else 'FAIL'} | "
            f"{'PASS' if v.wall_ratio >= v.target else 'FAIL'} |"
        )
    print(f"\n(total bench time {time.perf_counter() - t_start:.0f} s; {load()}; cleaned up {src_base}, {dst_base},")
    print(f" and {len(tool.ids) if tool else 0} transfer state folders)")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rounds", "-n", type=int, default=3, help="rounds of every phase (default 3)")
    ap.add_argument("--big-mb", type=int, default=500, help="size of tree A's one file in MB (default 500)")
    ap.add_argument("--files", type=int, default=20000, help="4 KiB files in tree B (default 20000)")
    ap.add_argument("--streams", type=int, default=None, help="force the tool's streams in phase 1 (default: its own)")
    ap.add_argument("--sweep", default="1,2,4,8", help="stream counts for phase 2 on tree B ('' to skip)")
    ap.add_argument("--dest-pool", choices=("vault", "archive"), default="vault", help="cold pool for destinations")
    args = ap.parse_args()
    if args.rounds < 1 or args.big_mb < 1 or args.files < SUBDIRS:
        ap.error("--rounds and --big-mb must be >= 1, --files >= 8")
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
