"""The pure rules of local copies (core.transfer.local): ids, partial names, resume points, the comparison."""

from __future__ import annotations

import pytest

from sjtu_hpc_mcp.core.platform import within
from sjtu_hpc_mcp.core.transfer import LOCAL_ID_RE
from sjtu_hpc_mcp.core.transfer.local import (
    CHUNK,
    RESUME_BACKOFF,
    PlanFile,
    Stat,
    compare,
    is_partial,
    link_target,
    local_transfer_id,
    partial_name,
    resume_offset,
)


def test_id_is_deterministic_and_well_formed() -> None:
    a = local_transfer_id("data.hpc.sjtu.edu.cn", "upload", "/home/p/x", "/lustre/home/a/u/x")
    assert LOCAL_ID_RE.fullmatch(a)
    assert a == local_transfer_id("data.hpc.sjtu.edu.cn", "upload", "/home/p/x", "/lustre/home/a/u/x")
    assert a != local_transfer_id("data.hpc.sjtu.edu.cn", "download", "/home/p/x", "/lustre/home/a/u/x")
    assert a != local_transfer_id("sydata.hpc.sjtu.edu.cn", "upload", "/home/p/x", "/lustre/home/a/u/x")


def test_partial_name() -> None:
    assert partial_name("data.bin") == ".data.bin.sjtu-hpc-partial"
    assert is_partial(partial_name("data.bin")) and not is_partial("data.bin")
    long = "é" * 127  # 254 bytes
    p = partial_name(long)
    assert len(p.encode()) <= 255 and is_partial(p) and p != partial_name("é" * 126 + "a")


@pytest.mark.parametrize(
    ("partial", "size", "offset"),
    [
        (0, 100, 0),
        (RESUME_BACKOFF, 10 * RESUME_BACKOFF, 0),
        (RESUME_BACKOFF + CHUNK + 5, 10 * RESUME_BACKOFF, CHUNK),
        (3 * RESUME_BACKOFF, 3 * RESUME_BACKOFF, 2 * RESUME_BACKOFF),
        (101, 100, 0),  # larger than the source: start over
    ],
)
def test_resume_offset(partial: int, size: int, offset: int) -> None:
    assert resume_offset(partial, size) == offset
    assert offset % CHUNK == 0 and offset <= max(0, partial - RESUME_BACKOFF)


@pytest.mark.parametrize(
    ("root", "rel", "target", "is_inside"),
    [
        ("/r", "a/l", "b", True),
        ("/r", "a/l", "../b", True),
        ("/r", "a/l", "../../b", False),
        ("/r", "l", "/etc/passwd", False),
        ("/r", "l", "/r/x", True),
        ("/r", "l", "/rx", False),
        ("/r", "l", ".", True),
    ],
)
def test_link_targets(root: str, rel: str, target: str, is_inside: bool) -> None:
    assert within(link_target(root, rel, target), root) is is_inside


F = Stat("f", 10, 100, 0o644)


def test_compare_folder() -> None:
    source = {
        "": Stat("d"),
        "a": Stat("d"),
        "a/new": F,
        "a/same": F,
        "a/other": F,
        "link": Stat("l"),
        "fifo": Stat("o"),
        "x": Stat("d"),
    }
    dest = {"": Stat("d"), "a": Stat("d"), "a/same": F, "a/other": Stat("f", 10, 99)}
    c = compare(source, dest, True)
    assert [f.path for f in c.files] == ["a/new", "a/other", "a/same"]
    assert c.dirs == ("x",) and c.overwrites == ["a/other"] and c.unchanged == 1
    assert c.skipped == ["fifo", "link"] and c.conflicts == []


def test_compare_conflicts_and_single_file() -> None:
    c = compare({"": Stat("d"), "a": Stat("d"), "b": F}, {"": Stat("d"), "a": F, "b": Stat("d")}, True)
    assert c.conflicts == ["a", "b"]
    c = compare({"": F}, {}, False)
    assert c.files == (PlanFile("", 10, 100, 0o644),) and c.dirs == () and c.overwrites == []
    c = compare({"": F}, {"": Stat("f", 11, 100)}, False)
    assert c.overwrites == ["."]
    c = compare({"": F}, {"": Stat("l")}, False)  # a link at the target: replaced only with overwrite
    assert c.overwrites == ["."]
