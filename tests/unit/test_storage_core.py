"""core.storage: what the list, usage and removal-scan scripts print, and what it means."""

from __future__ import annotations

import subprocess

import pytest

from sjtu_hpc_mcp.core import storage as st
from sjtu_hpc_mcp.core.transfer import Entry, parse_find

P = "/lustre/home/acct-hpc/hpcrobot/data"


def _listing(*records: str, total: str | None = None) -> str:
    out = "".join(r + "\0" for r in records)
    return out + (f"\0@total\n{total}\n" if total is not None else "")


# -- list --------------------------------------------------------------------------------------------


def test_parse_list() -> None:
    out = _listing(
        "b\tf\t10\t1700000000.5000000000",
        "a\tb\td\t4096\t1700000060.0000000000",  # a tab in the name
        "new\nline\tl\t7\t1700000120.0",
        "fifo\tp\t0\t1700000180.0",
        total="9",
    )
    entries, total = st.parse_list(out)
    assert [(e.name, e.kind, e.size, e.modified) for e in entries] == [
        ("b", "file", 10, "2023-11-14 22:13"),
        ("a\tb", "dir", 4096, "2023-11-14 22:14"),
        ("new\nline", "link", 7, "2023-11-14 22:15"),
        ("fifo", "other", 0, "2023-11-14 22:16"),
    ], "the node's order is kept: sorting is left to the node (LC_ALL=C sort)"
    assert total == 9, "the count of every entry, beyond the ones listed"


def test_parse_list_skips_what_it_cannot_read() -> None:
    out = _listing(
        "ok\tf\t1\t1700000000",
        "short\tf\t1",
        "size\tf\tbig\t1700000000",
        "bad time\tf\t2\tyesterday",
        "far future\tf\t3\t1e20",
        "",
        total="x",
    )
    entries, total = st.parse_list(out)
    assert [(e.name, e.modified) for e in entries] == [
        ("ok", "2023-11-14 22:13"),
        ("bad time", ""),
        ("far future", ""),
    ]
    assert total == 3, "without a count: the entries read"


def test_parse_list_of_a_file_and_of_nothing() -> None:
    entries, total = st.parse_list("x.txt\tf\t5\t1700000000.0\0\0@total\n1")
    assert [e.name for e in entries] == ["x.txt"] and total == 1
    assert st.parse_list("\0@total\n0\n") == ([], 0)
    assert st.parse_list("") == ([], 0)


# -- usage -------------------------------------------------------------------------------------------


def test_parse_usage_complete() -> None:
    out = f"4096\t{P}/a b\n8192\t{P}/c\n100\t{P}/x\ty\n20000\t{P}\n@rc 0\n"
    u = st.parse_usage(out, P)
    assert u.complete and u.bytes == 20000 and u.path == P
    assert u.size == "19.5 KiB"
    assert u.largest == [("c", 8192), ("a b", 4096), ("x\ty", 100)]


def test_parse_usage_cut_off_is_a_lower_bound() -> None:
    out = f"4096\t{P}/a\n8192\t{P}/b\n@rc 124\n"
    u = st.parse_usage(out, P)
    assert not u.complete
    assert u.bytes == 4096 + 8192, "the folders du finished, summed"
    assert u.largest == [("b", 8192), ("a", 4096)]
    nothing = st.parse_usage("@rc 124\n", P)
    assert (nothing.bytes, nothing.complete, nothing.largest) == (0, False, [])


def test_parse_usage_with_unreadable_parts_is_incomplete() -> None:
    u = st.parse_usage(f"10\t{P}/a\n30\t{P}\n@rc 1\n", P)
    assert u.bytes == 30 and not u.complete


def test_parse_usage_largest_is_bounded_and_the_path_may_end_in_a_slash() -> None:
    rows = "".join(f"{i}\t{P}/d{i}\n" for i in range(1, 30))
    u = st.parse_usage(rows + f"999\t{P}/\n@rc 0\n", P + "/", limit=3)
    assert u.complete and u.bytes == 999
    assert u.largest == [("d29", 29), ("d28", 28), ("d27", 27)]


def test_parse_usage_of_a_file() -> None:
    u = st.parse_usage(f"123\t{P}/f.bin\n@rc 0\n", P + "/f.bin")
    assert (u.bytes, u.complete, u.largest) == (123, True, [])


def test_parse_usage_without_an_exit_code_is_not_trusted_blindly() -> None:
    u = st.parse_usage(f"5\t{P}\n@rc x\n", P)
    assert u.bytes == 5 and not u.complete


# -- remove: what would go -------------------------------------------------------------------------


def _scan(records: list[str], rc: str) -> str:
    return "".join(r + "\0" for r in records) + f"\0@rc\n{rc}"


def test_parse_scan() -> None:
    out = _scan(["d 4096 sub", "f 100 sub/a", "f 50 b c", "l 9 link", "d 4096 sub/empty"], "0")
    entries = parse_find(out.rpartition("\0@rc\n")[0])
    r = st.parse_scan(out, P, entries)
    assert (r.path, r.files, r.dirs, r.bytes, r.complete) == (P, 3, 2, 159, True)
    assert r.size == "159 B"
    assert r.first == ["b c", "link", "sub", "sub/a", "sub/empty"]


def test_parse_scan_cut_off_and_bounded() -> None:
    entries = [Entry("f", 1, f"f{i:03d}") for i in range(100)]
    r = st.parse_scan(_scan([], "124"), P, entries, limit=5)
    assert not r.complete and r.files == 100 and r.bytes == 100
    assert r.first == ["f000", "f001", "f002", "f003", "f004"]
    assert not st.parse_scan("no marker at all", P, []).complete


def test_parse_scan_of_a_single_file() -> None:
    out = _scan(["f 2048 x.bin"], "0")
    r = st.parse_scan(out, P + "/x.bin", parse_find(out.rpartition("\0@rc\n")[0]))
    assert (r.files, r.dirs, r.bytes, r.first, r.complete) == (1, 0, 2048, ["x.bin"], True)


# -- the scripts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", [st.LIST_SH, st.USAGE_SH, st.SCAN_SH])
def test_scripts_are_valid_sh_and_take_values_as_arguments(script: str) -> None:
    r = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=10, check=False)
    assert r.returncode == 0, r.stderr
    assert "$1" in script and "$2" in script
