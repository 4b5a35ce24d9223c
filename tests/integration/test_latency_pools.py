"""The lab's latency pools (tests/lab/latency-pools, latfs.c): latency and bandwidth are really applied.

Files are made in each pool's backing tmpfs directly (no latency), then read through the FUSE pool,
whose kernel cache has never seen them: every stat is a lookup request, every read goes to the daemon.
Needs the lab (tests/lab/up, as root); a few seconds in all.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.conftest import LAB_DIR, make_user_cert

pytestmark = pytest.mark.lab

MB = 1_000_000
SLACK_S = 0.02  # latfs.c SLACK_NS: a stream may run ahead of its rate by this much


def latency_json() -> dict[str, Any]:
    path = LAB_DIR / "latency.json"
    if not path.exists():
        pytest.fail(f"the latency pools are not up ({path} missing): run tests/lab/up as root")
    return dict(json.loads(path.read_text()))


PROFILES = ["lustre-like", "nfs-like"]


@pytest.fixture(params=PROFILES)
def pool(request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, Any], Path, Path]]:
    """(profile, a fresh folder in its backing store, the same folder through the FUSE pool)."""
    profile = latency_json()["profiles"][request.param]
    name = f"latency-test-{uuid.uuid4().hex[:8]}"
    backing = Path(profile["backing"]) / name
    backing.mkdir()
    try:
        yield profile, backing, Path(profile["mount"]) / name
    finally:
        shutil.rmtree(backing, ignore_errors=True)


def test_every_lookup_pays_the_metadata_latency(pool: tuple[dict[str, Any], Path, Path]) -> None:
    profile, backing, through = pool
    for i in range(100):
        (backing / f"f{i}").write_bytes(b"x")
    t0 = time.perf_counter()
    for i in range(100):
        os.stat(through / f"f{i}")
    took = time.perf_counter() - t0
    floor = 100 * profile["meta_us"] / 1e6
    assert floor <= took < 4 * floor + 0.5, (took, floor)


def test_parallel_streams_overlap_their_latency(pool: tuple[dict[str, Any], Path, Path]) -> None:
    """Four threads stat 50 files each: the daemon is multi-threaded, so far less than 4 × one thread."""
    profile, backing, through = pool
    for t in range(4):
        (backing / f"t{t}").mkdir()
        for i in range(50):
            (backing / f"t{t}" / f"f{i}").write_bytes(b"x")

    def stat_all(t: int) -> None:
        for i in range(50):
            os.stat(through / f"t{t}" / f"f{i}")

    threads = [threading.Thread(target=stat_all, args=(t,)) for t in range(4)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - t0
    serial = 200 * profile["meta_us"] / 1e6
    assert took < 0.6 * serial, (took, serial)


def test_each_stream_is_held_to_its_bandwidth(pool: tuple[dict[str, Any], Path, Path]) -> None:
    """One file reads at the per-stream rate; two files read at once get that rate each."""
    profile, backing, through = pool
    size = 24 * MB
    for name in ("a", "b"):
        (backing / name).write_bytes(os.urandom(size))
    expected = size / (profile["mbps"] * MB)
    floor = expected - SLACK_S

    def read(name: str) -> None:
        with (through / name).open("rb") as f:
            while f.read(1 << 20):
                pass

    t0 = time.perf_counter()
    read("a")
    one = time.perf_counter() - t0
    assert floor <= one < 3 * expected + 0.3, (one, expected)

    threads = [threading.Thread(target=read, args=(n,)) for n in ("a", "b")]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    two = time.perf_counter() - t0
    assert floor <= two < 1.6 * one, (two, one)  # per stream, not per pool


@pytest.mark.anyio
@pytest.mark.parametrize("name", PROFILES)
async def test_its_data_node_sees_the_pool_as_the_platform_pools(lab: dict[str, Any], name: str) -> None:
    latency = latency_json()
    profile = latency["profiles"][name]
    key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]), lab["user"])
    async with asyncssh.connect(
        profile["node"]["host"],
        port=profile["node"]["port"],
        username=lab["user"],
        client_keys=[(key, asyncssh.import_certificate(cert))],
        known_hosts=latency["known_hosts"],
        agent_path=None,
        config=[],
        preferred_auth="publickey",
        connect_timeout=15,
    ) as conn:
        out = (await conn.run("df -P /lustre /dssg /archive /vault; cd && pwd", check=True)).stdout
    lines = str(out).splitlines()
    assert {line.split()[0] for line in lines[1:5]} == {f"lab-lat-{name}"}
    assert lines[5] == lab["home"]
