"""core.transfer: the two ends, the streams, the rsync argv and driver script, and reading the state back."""

from __future__ import annotations

import os
import random
import re
import shlex
import subprocess
from collections import Counter
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from sjtu_hpc_mcp.core import transfer as t
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import load_platform

P = load_platform()

DATA = "data.hpc.sjtu.edu.cn"
SYDATA = "sydata.hpc.sjtu.edu.cn"
REL = "home/acct-hpc/hpcrobot"
HOME = "/lustre/home/acct-hpc/hpcrobot"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


# -- parse_location --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        pytest.param(HOME + "/x", t.Spec("path", HOME + "/x"), id="absolute"),
        pytest.param("/archive/a:b", t.Spec("path", "/archive/a:b"), id="absolute with a colon"),
        pytest.param("lustre:x/y", t.Spec("pool", "x/y", "/lustre"), id="pool:relative"),
        pytest.param("dssg:a b/c", t.Spec("pool", "a b/c", "/dssg"), id="pool:relative with a space"),
        pytest.param("archive:a:b", t.Spec("pool", "a:b", "/archive"), id="pool:relative with a colon"),
        pytest.param("vault:x", t.Spec("pool", "x", "/vault"), id="vault:x"),
        pytest.param("union:x", t.Spec("pool", "x", "/union"), id="union:x"),
        pytest.param("lustre", t.Spec("pool", None, "/lustre"), id="bare pool"),
        pytest.param("lustre:", t.Spec("pool", None, "/lustre"), id="bare pool with a colon"),
        pytest.param("cold", t.Spec("pool", None, "cold"), id="cold"),
        pytest.param("cold:", t.Spec("pool", None, "cold"), id="cold with a colon"),
        pytest.param("cold:x/y", t.Spec("pool", "x/y", "cold"), id="cold:relative"),
        pytest.param("local:/home/u/x", t.Spec("local", "/home/u/x"), id="local:/abs"),
        pytest.param("lustre:..", t.Spec("pool", "..", "/lustre"), id="pool:.. parses (resolving refuses it)"),
    ],
)
def test_parse_location(text: str, spec: t.Spec) -> None:
    assert t.parse_location(text) == spec


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("results", id="relative without a pool"),
        pytest.param("./results", id="dot-relative"),
        pytest.param("~/x", id="tilde"),
        pytest.param("-rf", id="a flag"),
        pytest.param("lustre:/etc/passwd", id="pool:/abs"),
        pytest.param("cold:/x", id="cold:/abs"),
        pytest.param("lustre:-x", id="pool:-flag"),
        pytest.param("cold:--delete", id="cold:--flag"),
        pytest.param("archive:--rsh=sh", id="pool:--rsh"),
        pytest.param(HOME + "/x\x00y", id="NUL"),
        pytest.param("lustre:a\nb", id="newline"),
        pytest.param(HOME + "\r", id="carriage return"),
        pytest.param("", id="empty"),
        pytest.param("scratch:x", id="unknown pool scratch:x"),
        pytest.param("scratch", id="unknown bare pool"),
        pytest.param("Lustre:x", id="pool names are lower case"),
        pytest.param("local:", id="local without a path"),
        pytest.param("local", id="local without a colon"),
    ],
)
def test_parse_location_refuses(text: str) -> None:
    with pytest.raises(HpcError) as err:
        t.parse_location(text)
    assert err.value.code == "E_PATH"


# -- resolving the ends ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (HOME + "/a/./b//c", HOME + "/a/b/c"),
        ("lustre:results", HOME + "/results"),
        ("dssg:results", "/dssg/" + REL + "/results"),
        ("archive:r", "/archive/" + REL + "/r"),
        ("cold:ds/a", "/union/" + REL + "/ds/a"),
        ("union:ds", "/union/" + REL + "/ds"),
        ("lustre:a/../b", HOME + "/b"),
    ],
)
def test_resolve_source(text: str, path: str) -> None:
    assert t.resolve_source(P, t.parse_location(text), REL) == path


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("lustre", "E_PATH"),  # a pool but no folder
        ("cold", "E_PATH"),
        ("local:/home/u/x", "E_PATH"),  # a local source is not resolved here
        ("lustre:..", "E_NOT_YOURS"),
        ("lustre:../../acct-other/otheruser/x", "E_NOT_YOURS"),
        ("/lustre/home/acct-other/otheruser/x", "E_NOT_YOURS"),
        ("/lustre/home/acct-hpc/hpcrobot2/x", "E_NOT_YOURS"),
    ],
)
def test_resolve_source_refuses(text: str, code: str) -> None:
    with pytest.raises(HpcError) as err:
        t.resolve_source(P, t.parse_location(text), REL)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("text", "source", "cold_pool", "path"),
    [
        ("archive", HOME + "/results", None, "/archive/" + REL + "/results"),
        ("dssg", HOME + "/a/b c", None, "/dssg/" + REL + "/a/b c"),
        ("lustre", "/archive/" + REL + "/r", None, HOME + "/r"),
        ("cold", HOME + "/results", "/vault", "/vault/" + REL + "/results"),
        ("cold", HOME + "/results", "/archive", "/archive/" + REL + "/results"),
        ("cold:backup/r", HOME + "/results", "/vault", "/vault/" + REL + "/backup/r"),
        ("archive:elsewhere", HOME + "/results", None, "/archive/" + REL + "/elsewhere"),
        ("archive", HOME, None, "/archive/" + REL),  # the whole personal folder: same root there
        ("/archive/" + REL + "/x/../y", HOME + "/results", None, "/archive/" + REL + "/y"),
    ],
)
def test_resolve_destination(text: str, source: str, cold_pool: str | None, path: str) -> None:
    assert t.resolve_destination(P, t.parse_location(text), source, REL, cold_pool) == path


@pytest.mark.parametrize(
    ("text", "cold_pool", "code"),
    [
        ("cold", None, "E_DF"),  # cold needs the chosen pool
        ("cold:x", None, "E_DF"),
        ("local:/home/u/x", None, "E_PATH"),
        ("/archive/home/acct-other/otheruser", None, "E_NOT_YOURS"),
        ("archive:../../acct-other/otheruser", None, "E_NOT_YOURS"),
    ],
)
def test_resolve_destination_refuses(text: str, cold_pool: str | None, code: str) -> None:
    with pytest.raises(HpcError) as err:
        t.resolve_destination(P, t.parse_location(text), HOME + "/results", REL, cold_pool)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("lustre", HOME),
        ("archive", "/archive/" + REL),
        ("cold", "/union/" + REL),
        ("cold:x", "/union/" + REL + "/x"),
        ("lustre:x", HOME + "/x"),
        ("/vault/" + REL + "/x", "/vault/" + REL + "/x"),
    ],
)
def test_resolve_storage_path(text: str, path: str) -> None:
    assert t.resolve_storage_path(P, t.parse_location(text), REL) == path


def test_resolve_storage_path_refuses_other_users() -> None:
    with pytest.raises(HpcError, match="E_NOT_YOURS"):
        t.resolve_storage_path(P, t.parse_location("/archive/home/acct-other/otheruser"), REL)


# -- ids -------------------------------------------------------------------------------------------


def test_transfer_id_is_deterministic_and_node_prefixed() -> None:
    a = t.transfer_id(DATA, HOME + "/r", "/archive/" + REL + "/r", "copy")
    assert a == t.transfer_id(DATA, HOME + "/r", "/archive/" + REL + "/r", "copy")
    assert a.startswith("data-") and t.ID_RE.fullmatch(a)
    b = t.transfer_id(SYDATA, HOME + "/r", "/archive/" + REL + "/r", "copy")
    assert b.startswith("sydata-") and t.ID_RE.fullmatch(b)
    others = {
        t.transfer_id(DATA, HOME + "/r", "/archive/" + REL + "/r", "move"),
        t.transfer_id(DATA, HOME + "/s", "/archive/" + REL + "/r", "copy"),
        t.transfer_id(DATA, HOME + "/r", "/vault/" + REL + "/r", "copy"),
        b.replace("sydata-", "data-"),
    }
    assert a not in others and len(others) == 4


@pytest.mark.parametrize("node", [DATA, SYDATA])
def test_node_of_id_round_trips(node: str) -> None:
    assert t.node_of_id(P, t.transfer_id(node, HOME + "/a", "/vault/" + REL + "/a", "copy")) == node


@pytest.mark.parametrize(
    "bad",
    [
        "pilogin-0123456789ab",
        "sylogin-0123456789ab",
        "armlogin-0123456789ab",
        "local-0123456789ab",
        "data-0123456789aB",
        "data-0123456789a",
        "data-0123456789abc",
        "data-0123456789ab\n",
        " data-0123456789ab",
        "../data-0123456789ab",
        "data.hpc.sjtu.edu.cn",
        "",
    ],
)
def test_node_of_id_refuses(bad: str) -> None:
    with pytest.raises(HpcError) as err:
        t.node_of_id(P, bad)
    assert err.value.code == "E_ARG"


def test_session_name() -> None:
    assert t.session_name("data-0123456789ab") == "mcp-xfer-data-0123456789ab"


# -- what is to be copied --------------------------------------------------------------------------


def test_parse_find() -> None:
    out = "d 4096 sub\0f 10 sub/a b.txt\0l 7 link\0f 3 new\nline\0p 0 fifo\0garbage\0f x bad\0f 5 \0"
    assert t.parse_find(out) == [
        t.Entry("d", 4096, "sub"),
        t.Entry("f", 10, "sub/a b.txt"),
        t.Entry("l", 7, "link"),
        t.Entry("f", 3, "new\nline"),
        t.Entry("f", 0, "fifo"),  # other file types count as files
    ]
    assert t.parse_find("") == []


ITEMIZED = (
    ">f+++++++++ 10 new file.txt\n"
    ">f.st...... 20 changed.txt\n"
    ".f...p..... 30 perms.txt\n"
    "cd+++++++++ 4096 sub dir/\n"
    "cL+++++++++ 5 link\n"
    ">f+++++++++ 3 a\\#012b\n"
    ">f+++++++++ 4 tab\\#011x y\n"
    ".d..t...... 4096 ./\n"
    "sending incremental file list\n"
    "\n"
    'rsync: [sender] send_files failed to open "/x": Permission denied (13)\n'
)


def test_parse_itemized() -> None:
    items = t.parse_itemized(ITEMIZED)
    assert [(i.changes, i.size, i.path) for i in items] == [
        (">f+++++++++", 10, "new file.txt"),
        (">f.st......", 20, "changed.txt"),
        (".f...p.....", 30, "perms.txt"),
        ("cd+++++++++", 4096, "sub dir"),
        ("cL+++++++++", 5, "link"),
        (">f+++++++++", 3, "a\nb"),
        (">f+++++++++", 4, "tab\tx y"),
        (".d..t......", 4096, "."),
    ]


@pytest.mark.parametrize(
    ("line", "name"),
    [
        # rsync in the C locale escapes every non-ASCII byte: the bytes together are one UTF-8 name.
        pytest.param(
            ">f+++++++++ 0 \\#346\\#225\\#260\\#346\\#215\\#256 \\#303\\#274.txt", "数据 ü.txt", id="C locale"
        ),
        pytest.param(">f+++++++++ 0 数据 ü.txt", "数据 ü.txt", id="UTF-8 locale"),
        pytest.param(">f+++++++++ 0 a\u2028b\u0085c", "a\u2028b\u0085c", id="line separators printed raw"),
        pytest.param(">f+++++++++ 0 \\#377x", "\udcffx", id="a byte that is not UTF-8 survives"),
        pytest.param(">f+++++++++ 0 back\\#134#012slash", "back\\#012slash", id="an escaped backslash"),
        pytest.param(">f+++++++++ 0 a\\#0121", "a\n1", id="exactly three octal digits"),
        pytest.param(">f+++++++++ 0  lead and trail ", " lead and trail ", id="spaces kept"),
    ],
)
def test_parse_itemized_names(line: str, name: str) -> None:
    (it,) = t.parse_itemized("cd+++++++++ 4096 ./\n" + line + "\n")[1:]
    assert it.path == name
    assert t.file_list([it.path]) == name.encode("utf-8", "surrogateescape") + b"\0"


@pytest.mark.parametrize(
    ("changes", "is_new", "transfers", "changes_existing"),
    [
        pytest.param(">f+++++++++", True, True, False, id="new file"),
        pytest.param(">f.st......", False, True, True, id="changed file"),
        pytest.param(">fc........", False, True, True, id="checksum differs"),
        pytest.param(".f...p.....", False, False, True, id="attribute-only file change"),
        pytest.param(".f..t......", False, False, True, id="time-only file change"),
        pytest.param("cd+++++++++", True, True, False, id="new dir"),
        pytest.param(".d..t......", False, False, False, id="dir time"),
        pytest.param("cL+++++++++", True, True, False, id="new symlink"),
        pytest.param("cL.st......", False, True, True, id="changed symlink"),
    ],
)
def test_itemized_properties(changes: str, is_new: bool, transfers: bool, changes_existing: bool) -> None:
    (it,) = t.parse_itemized(f"{changes} 1 name\n")
    assert (it.is_new, it.transfers, it.changes_existing_file) == (is_new, transfers, changes_existing)


def test_entries_from_itemized_keeps_what_transfers() -> None:
    entries = t.entries_from_itemized(t.parse_itemized(ITEMIZED))
    assert entries == [
        t.Entry("f", 10, "new file.txt"),
        t.Entry("f", 20, "changed.txt"),
        t.Entry("d", 0, "sub dir"),  # a folder's own size is not data to copy
        t.Entry("l", 5, "link"),
        t.Entry("f", 3, "a\nb"),
        t.Entry("f", 4, "tab\tx y"),
    ]


def test_overwrite_preview_and_differences() -> None:
    items = t.parse_itemized(ITEMIZED)
    assert t.overwrite_preview(items, 10) == ["changed.txt", "perms.txt"]
    assert t.overwrite_preview(items, 1) == ["changed.txt"]
    assert t.differences(items, 10) == ["new file.txt", "changed.txt", "link", "a\nb", "tab\tx y"]
    (single,) = t.parse_itemized(">f.st...... 9 \n")
    assert t.overwrite_preview([single], 5) == ["(the file itself)"]


# -- split_streams ---------------------------------------------------------------------------------


def _units(sizes: list[int]) -> dict[str, tuple[int, int, int]]:
    return {f"f{i:03d}": (s, 1, s) for i, s in enumerate(sizes)}


def _loads(lists: list[list[str]], units: dict[str, tuple[int, int, int]]) -> list[int]:
    return [sum(units[p][0] for p in lst) for lst in lists]


def _optimal(sizes: list[int], n: int) -> int:
    best = sum(sizes)
    for assign in product(range(n), repeat=len(sizes)):
        loads = [0] * n
        for s, i in zip(sizes, assign, strict=True):
            loads[i] += s
        best = min(best, max(loads))
    return best


def _check_partition(lists: list[list[str]], units: dict[str, tuple[int, int, int]], streams: int) -> None:
    flat = [p for lst in lists for p in lst]
    assert Counter(flat) == Counter(list(units)), "every unit exactly once"
    assert 1 <= len(lists) <= max(1, min(streams, len(units))), "never more lists than units or streams"
    assert all(lists) or lists == [[]]


@pytest.mark.parametrize(
    ("sizes", "streams"),
    [
        pytest.param([1000] * 100, 4, id="equal sizes"),
        pytest.param([10**9] + [1000] * 100, 4, id="one huge and many small"),
        pytest.param([4096] * 2_000, 10, id="2000 small units"),
        pytest.param([2**i for i in range(30)], 3, id="powers of two"),
        pytest.param(list(range(1, 200)), 7, id="ramp"),
    ],
)
def test_split_streams_is_balanced(sizes: list[int], streams: int) -> None:
    units = _units(sizes)
    lists = t.split_streams(units, streams)
    _check_partition(lists, units, streams)
    loads = _loads(lists, units)
    assert len(lists) == min(streams, len(sizes))
    lower = max(max(sizes), -(-sum(sizes) // len(lists)))
    # Largest first onto the lightest: the spread never exceeds one unit, and near-optimal with many units.
    assert max(loads) - min(loads) <= max(sizes)
    assert max(loads) <= lower + max(s for s in sizes if s <= lower)
    if len(set(sizes)) == 1:
        assert max(loads) == lower


def test_split_streams_is_near_optimal_against_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(30):
        n = rng.choice([2, 3])
        sizes = [rng.choice([1, 2, 3, 5, 8, 13, 100, 1000]) * rng.randint(1, 9) for _ in range(rng.randint(2, 9))]
        units = _units(sizes)
        lists = t.split_streams(units, n)
        _check_partition(lists, units, n)
        best = _optimal(sizes, n)
        # Graham's bound for largest-first greedy scheduling.
        assert max(_loads(lists, units)) <= (4 / 3 - 1 / (3 * n)) * best + 1e-9, (sizes, lists)


def test_split_streams_classic_case() -> None:
    units = _units([3, 3, 2, 2, 2])
    assert sorted(_loads(t.split_streams(units, 2), units)) == [5, 7]  # largest first: 7, not the naive 8
    assert t.split_streams({}, 5) == [[]]


def _tree(folders: int, files: int, size: int = 4096) -> list[t.Entry]:
    entries: list[t.Entry] = []
    for d in range(folders):
        entries.append(t.Entry("d", 4096, f"d{d}"))
        entries += [t.Entry("f", size, f"d{d}/f{i}") for i in range(files)]
    return entries


def test_copy_units_keeps_whole_folders_when_they_balance() -> None:
    units = t.copy_units(_tree(8, 2500), 4)  # the bench's tree: 20,000 files in 8 folders
    assert sorted(units) == [f"d{d}" for d in range(8)]
    assert all(u == (2500 * (4096 + t.FILE_COST), 2500, 2500 * 4096) for u in units.values())
    lists = t.split_streams(units, 4)
    assert sorted(len(lst) for lst in lists) == [2, 2, 2, 2]


def test_copy_units_splits_only_what_is_too_heavy() -> None:
    entries = [*_tree(1, 100, 10**6), t.Entry("f", 10, "small.txt"), t.Entry("d", 0, "empty")]
    units = t.copy_units(entries, 4)
    # the one big folder is more than a stream's share: it is cut into its files; the rest stays whole
    assert "d0" not in units and {f"d0/f{i}" for i in range(100)} <= set(units)
    assert units["small.txt"] == (10 + t.FILE_COST, 1, 10) and units["empty"] == (0, 0, 0)
    assert sum(u[1] for u in units.values()) == 101 and sum(u[2] for u in units.values()) == 100 * 10**6 + 10


def test_copy_units_of_nested_folders_cover_every_file_once() -> None:
    entries = [
        t.Entry("d", 0, "a"),
        t.Entry("d", 0, "a/b"),
        *[t.Entry("f", 1000 * i, f"a/b/f{i}") for i in range(1, 50)],
        *[t.Entry("f", 10, f"a/g{i}") for i in range(5)],
        t.Entry("l", 3, "link"),
    ]
    for streams in (1, 2, 3, 10):
        units = t.copy_units(entries, streams)
        files = [e.path for e in entries if e.kind != "d"]
        covering = [[u for u in units if f == u or f.startswith(u + "/")] for f in files]
        assert all(len(c) == 1 for c in covering), (streams, units)
        assert sum(u[1] for u in units.values()) == len(files)


@pytest.mark.parametrize(("folders", "streams"), [(5, 4), (6, 4), (8, 6), (3, 2)])
def test_copy_units_cut_folders_until_the_streams_are_even(folders: int, streams: int) -> None:
    """Whole folders that do not deal evenly (5 over 4 streams: one stream gets 2) are cut into their files."""
    units = t.copy_units(_tree(folders, 100), streams)
    loads = [sum(units[u][0] for u in lst) for lst in t.split_streams(units, streams)]
    assert len(loads) == streams and max(loads) <= t.UNEVEN * sum(loads) / streams
    assert sum(u[1] for u in units.values()) == folders * 100


def test_copy_units_keep_folders_whole_when_nothing_evens_them() -> None:
    """One file heavier than a stream's share sets the pace: cutting the folders would not help."""
    entries = [*_tree(3, 10), t.Entry("f", 10**9, "huge")]
    assert sorted(t.copy_units(entries, 4)) == ["d0", "d1", "d2", "huge"]


def test_file_list_is_nul_separated() -> None:
    assert t.file_list(["a", "b c", "new\nline", "ü"]) == b"a\0b c\0new\nline\0\xc3\xbc\0"
    assert t.file_list([]) == b""
    assert t.file_list(["bad\udcff"]) == b"bad\xff\0"  # undecodable bytes from the node go back as they came


# -- argv --------------------------------------------------------------------------------------------

SRC, DST = HOME + "/results", "/archive/" + REL + "/results"


def _stream_meta(is_dir: bool, overwrite: bool, streams: int) -> t.Meta:
    return _meta(
        source=SRC,
        destination=DST,
        is_dir=is_dir,
        overwrite=overwrite,
        streams=streams,
        stream_files=[1] * streams,
        stream_bytes=[1] * streams,
    )


def _common(argv: list[str], overwrite: bool) -> None:
    assert argv[0] == "rsync"
    assert not [a for a in argv if a.startswith("--del") or a.startswith("--remove")], "never deletes"
    assert ("--ignore-existing" in argv) is (not overwrite)
    assert argv.count("--") == 1
    assert f"--partial-dir={t.PARTIAL_DIR}-data-0123456789ab" in argv and t.PARTIAL_DIR.startswith(".")
    assert "--info=progress2" in argv and "-n" not in argv
    assert argv.index("--") > max(i for i, a in enumerate(argv) if a.startswith("-") and a != "--")


@pytest.mark.parametrize("overwrite", [True, False])
def test_stream_argvs_of_a_file_and_of_one_whole_folder(overwrite: bool) -> None:
    (argv,), lists = t.stream_argvs(_stream_meta(False, overwrite, 1), "/state", [[]])
    _common(argv, overwrite)
    assert argv[-3:] == ["--", SRC, DST] and not lists
    (argv,), lists = t.stream_argvs(_stream_meta(True, overwrite, 1), "/state", [[]])
    _common(argv, overwrite)
    assert argv[-3:] == ["--", SRC + "/", DST + "/"] and "-R" not in argv and not lists


@pytest.mark.parametrize("overwrite", [True, False])
def test_stream_argvs_put_units_on_the_command_line(overwrite: bool) -> None:
    units = [["a", "-rf dir", "c/d"], ["b b"]]
    argvs, lists = t.stream_argvs(_stream_meta(True, overwrite, 2), "/state", units)
    assert not lists and len(argvs) == 2
    for argv, us in zip(argvs, units, strict=True):
        _common(argv, overwrite)
        assert "-R" in argv
        assert argv[argv.index("--") + 1 :] == [*(f"{SRC}/./{u}" for u in us), DST + "/"]


def test_stream_argvs_use_a_list_when_the_command_line_would_be_long() -> None:
    many = [f"folder-{i:05d}" for i in range(3000)]
    argvs, lists = t.stream_argvs(_stream_meta(True, False, 2), "/state", [many, ["x"]])
    _common(argvs[0], False)
    assert "--files-from=/state/list.0" in argvs[0] and "--from0" in argvs[0] and "-r" in argvs[0]
    assert argvs[0][-3:] == ["--", SRC + "/", DST + "/"]
    assert lists == {"/state/list.0": t.file_list(many)}
    assert argvs[1][-2:] == [f"{SRC}/./x", DST + "/"]


@pytest.mark.parametrize("is_dir", [True, False])
def test_dry_run_and_verify_change_nothing(is_dir: bool) -> None:
    ends = [SRC + "/", DST + "/"] if is_dir else [SRC, DST]
    for argv in (t.dry_run_argv(SRC, DST, is_dir), t.verify_argv(SRC, DST, is_dir)):
        assert argv[0] == "rsync" and "-n" in argv and "--itemize-changes" in argv
        assert argv[-3:] == ["--", *ends]
        assert not [a for a in argv if a.startswith("--del") or a.startswith("--remove")]
        assert "--out-format=%i %l %n" in argv
    assert "-c" in t.verify_argv(SRC, DST, is_dir)
    assert "-c" not in t.dry_run_argv(SRC, DST, is_dir)


def test_find_argv() -> None:
    assert t.find_argv(SRC) == ["find", SRC, "-mindepth", "1", "-printf", "%y %s %P\\0"]


# -- the driver script ------------------------------------------------------------------------------

EVIL = 'a b/$(touch /tmp/x)/`id`/it\'s "q"; rm -rf ~ & x|y >z <w *?[a] $HOME \\n'


def _meta(**kw: Any) -> t.Meta:
    base: dict[str, Any] = {
        "id": "data-0123456789ab",
        "node": DATA,
        "mode": "copy",
        "source": HOME + "/src",
        "destination": "/archive/" + REL + "/src",
        "is_dir": True,
        "overwrite": False,
        "streams": 1,
        "files": 10,
        "bytes": 1000,
        "stream_files": [10],
        "stream_bytes": [1000],
        "started": T0,
    }
    base.update(kw)
    return t.Meta(**base)


def _driver(mode: t.Mode, is_dir: bool = True, streams: int = 2) -> tuple[t.Meta, str, str]:
    m = _meta(
        mode=mode,
        is_dir=is_dir,
        source=HOME + "/" + EVIL,
        destination="/archive/" + REL + "/" + EVIL + " dst",
        streams=streams,
        stream_files=[1] * streams,
        stream_bytes=[1] * streams,
    )
    folder = HOME + "/.sjtu-hpc-mcp/transfers/" + EVIL
    units = [[f"{EVIL}-{i}"] for i in range(streams)] if is_dir else [[]]
    if not is_dir:
        m = m.model_copy(update={"streams": 1, "stream_files": [1], "stream_bytes": [1]})
    argvs, _ = t.stream_argvs(m.model_copy(update={"overwrite": mode == "move"}), folder, units)
    return m, folder, t.driver_script(m, folder, argvs)


def _tokens(line: str) -> list[str]:
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = ""
    return list(lex)


def _syntax_ok(script: str) -> None:
    r = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=10, check=False)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(("mode", "is_dir"), list(product(["copy", "move"], [True, False])))
def test_driver_script_quotes_every_value(mode: t.Mode, is_dir: bool) -> None:
    m, folder, script = _driver(mode, is_dir)
    _syntax_ok(script)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/sh"
    tokens = [tok for line in lines if not line.startswith("#") for tok in _tokens(line)]
    # Each hostile value reaches the shell as one word, exactly as written.
    mkdir_target = m.destination if is_dir else m.destination.rsplit("/", 1)[0]
    streams = [_tokens(line) for line in lines if line.startswith("rsync ")]
    assert len(streams) == (2 if is_dir else 1)
    ends: set[str] = set()
    for i, words in enumerate(streams):
        want = [f"{m.source}/./{EVIL}-{i}", m.destination + "/"] if is_dir else [m.source, m.destination]
        assert words[words.index("--") + 1 : words.index("--") + 1 + len(want)] == want
        assert words[words.index("--") + 1 + len(want)] == ">"
        ends |= set(want)
    lists: set[str] = set()
    assert f"D={folder}" in tokens and mkdir_target in tokens
    # No fragment of a hostile value is ever a word of its own.
    whole = {f"D={folder}", mkdir_target, *ends, *lists, m.source, m.source + "/"}  # a move: verify, rm
    assert {tok for tok in tokens if "touch" in tok or "x|y" in tok or "`id`" in tok} <= whole
    assert not [tok for tok in tokens if tok.startswith(("$(", "`", "~"))]
    assert ("rm" in tokens) is (mode == "move")


def test_driver_script_runs_streams_in_parallel_and_records_codes() -> None:
    _, _, script = _driver("copy", streams=3)
    for i in range(3):
        assert re.search(
            rf"^rsync .* > \"\$D/log\.{i}\" 2>&1 < /dev/null & p{i}=\$!; echo \$p{i} > \"\$D/pid\.{i}\"$", script, re.M
        )
        assert f'wait $p{i}; r=$?; echo $r > "$D/rc.{i}"; [ $r -eq 0 ] || rc=$r' in script
    # The final code is written atomically, last: a reader never sees a half-written rc.
    assert script.rstrip("\n").splitlines()[-2:] == ['echo $rc > "$D/rc.tmp"', 'mv "$D/rc.tmp" "$D/rc"']
    assert "rm" not in [tok for line in script.splitlines() for tok in _tokens(line)], "a copy never deletes"
    assert "source_removed" not in script
    assert "--delete" not in script
    assert "--ignore-existing" in script  # copy without consent: existing files untouched


def test_driver_script_mkdir_failure_ends_the_run() -> None:
    _, _, script = _driver("copy")
    (line,) = [ln for ln in script.splitlines() if ln.startswith("mkdir")]
    assert line.startswith("mkdir -p -- ")
    assert 'echo 3 > "$D/rc.tmp"; mv "$D/rc.tmp" "$D/rc"; exit 3;' in line


def test_driver_script_move_deletes_only_after_verification() -> None:
    m, _, script = _driver("move")
    _syntax_ok(script)
    lines = script.splitlines()
    rm_at = [i for i, ln in enumerate(lines) if "rm" in _tokens(ln)]
    assert len(rm_at) == 1
    r = rm_at[0]
    verify = shlex.join(t.verify_argv(m.source, m.destination, m.is_dir))
    assert lines[r - 3] == "if [ $rc -eq 0 ]; then", "only when every stream succeeded"
    assert lines[r - 2].strip().startswith(verify + ' > "$D/verify.out" 2>&1; r=$?')
    assert lines[r - 1].strip() == f'if [ $r -eq 0 ] && ! grep -q "{t.CONTENT_DIFF}" "$D/verify.out"; then'
    assert lines[r].strip() == (
        f'rm -rf -- {shlex.quote(m.source)} && date +%s > "$D/source_removed" || rc={t.SOURCE_KEPT}'
    )
    assert lines[r + 1].strip() == f"else rc={t.VERIFY_FAILED}; fi"
    assert lines[r + 2] == "fi"
    assert _tokens(lines[r].strip())[3] == m.source, "rm removes exactly the source"
    # rm sits after every wait: never while a stream still runs.
    assert r > max(i for i, ln in enumerate(lines) if ln.startswith("wait "))


@pytest.mark.parametrize(
    ("line", "differs"),
    [
        (">f+++++++++ 3 missing", True),
        (">fc........ 3 content", True),
        ("cL+++++++++ 3 link", True),
        (".f..t...... 3 time", False),  # attributes only: a cold NFS may force them
        (".f...p..... 3 perms", False),
        ("cd+++++++++ 0 newdir", False),
        (".d..t...... 0 dir", False),
        ("", False),
    ],
)
def test_move_verification_pattern(line: str, differs: bool) -> None:
    _, _, script = _driver("move")
    pattern = re.search(r'grep -q "([^"]+)"', script)
    assert pattern is not None
    assert bool(re.search(pattern.group(1), line)) is differs


def test_constant_scripts_are_valid_sh() -> None:
    for script in (t.PROBE_SH, t.INSPECT_SH, t.START_SH, t.STATUS_SH, t.LIST_SH, t.CANCEL_SH):
        _syntax_ok(script)
    assert t.sh_argv("echo", "$(x)", "-n") == ["sh", "-c", "echo", "sh", "$(x)", "-n"]


# -- what the node says back -------------------------------------------------------------------------


def test_sections() -> None:
    out = 'junk\0@session\n1\0@meta.json\n{"a": 1}\n\0@log.0\nl1\rl2\n\0@rc\n\0@x\0@now\n1700000000.5\n'
    assert t.sections(out) == {
        "session": "1",
        "meta.json": '{"a": 1}\n',
        "log.0": "l1\rl2\n",
        "rc": "",
        "x": "",
        "now": "1700000000.5\n",
    }
    assert t.sections("") == {}


def test_parse_probe() -> None:
    out = (
        "home /lustre/home/acct-hpc/my robot\n"
        "df /lustre 1000\ndf /dssg 2000\ndf /archive \ndf /vault 3000\ndf /union 4000\ndf /x abc\nnoise\n"
    )
    home, free = t.parse_probe(out)
    assert home == "/lustre/home/acct-hpc/my robot"
    assert free == {"/lustre": 1000, "/dssg": 2000, "/vault": 3000, "/union": 4000}  # /archive unknown: absent
    for bad in ("", "df /lustre 1\n", "home\n"):
        with pytest.raises(HpcError, match="E_HOME"):
            t.parse_probe(bad)


def test_parse_inspect() -> None:
    assert t.parse_inspect("dir\0none\0/s\0/d\0", "/s") == t.Inspected(True, "none", "/s", "/d")
    assert t.parse_inspect("file\0dir\0/s x\0/d\0", "/s") == t.Inspected(False, "dir", "/s x", "/d")
    assert t.parse_inspect("file\0file\0/s\nx\0/d\0", "/s") == t.Inspected(False, "file", "/s\nx", "/d")
    assert t.parse_inspect("file\0weird\0/s\0/d\0", "/s").dest_exists == "none"
    for bad in ("missing\n", "", "dir\0none\0"):
        with pytest.raises(HpcError) as err:
            t.parse_inspect(bad, "/lustre/x")
        assert err.value.code == "E_NOT_FOUND" and "/lustre/x" in str(err.value)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        pytest.param("  1,234,567  45%   12.34MB/s    0:00:05 (xfr#12, to-chk=88/100)\n", (1234567, 12), id="commas"),
        pytest.param(
            "\r      32,768   0%    0.00kB/s    0:00:00  \r  1,048,576 100%  100.00MB/s    0:00:00 "
            "(xfr#1, to-chk=0/1)\n",
            (1048576, 1),
            id="carriage returns: the last wins",
        ),
        pytest.param("      524288  50%    1.00MB/s    0:00:00", (524288, 0), id="digits only, no xfr"),
        pytest.param("  2,000  10%  1.00kB/s  0:00:10 (xfr#3, ir-chk=1000/2000)\r", (2000, 3), id="ir-chk"),
        pytest.param("  1.234.567  45%  1,00MB/s  0:00:05\n", (1234567, 0), id="period separators"),
        pytest.param(
            "  100  1%  1.00kB/s  0:00:01 (xfr#1, to-chk=9/10)\n"
            'rsync: [receiver] write failed on "/x": No space left on device (28)\n'
            "rsync error: error in file IO (code 11) at receiver.c(381) [receiver=3.2.7]\n",
            (100, 1),
            id="errors after the last progress",
        ),
        pytest.param("rsync error: some files vanished (code 24)\n", None, id="no progress"),
        pytest.param("", None, id="empty"),
    ],
)
def test_last_progress(log: str, expected: tuple[int, int] | None) -> None:
    p = t.last_progress(log)
    assert (None if p is None else (p.bytes, p.files)) == expected


def test_error_lines() -> None:
    log = (
        "  100  1%  1.00kB/s  0:00:01 (xfr#1, to-chk=9/10)\r"
        "sending incremental file list\n"
        'rsync: [sender] link_stat "/x" failed: No such file or directory (2)\n'
        "mkdir: cannot create directory '/y': Permission denied\n"
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)\n"
        "   \n"
    )
    assert t.error_lines(log) == [
        'rsync: [sender] link_stat "/x" failed: No such file or directory (2)',
        "mkdir: cannot create directory '/y': Permission denied",
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)",
    ]
    many = "".join(f"rsync: error {i}\n" for i in range(9)) + "rsync: " + "x" * 1000 + "\n"
    lines = t.error_lines(many, limit=3)
    assert lines[:2] == ["rsync: error 7", "rsync: error 8"] and len(lines[2]) == 300


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (11, "I/O"),
        (12, "data stream"),
        (20, "signal"),
        (23, "partial"),
        (24, "vanished"),
        (30, "timeout"),
        (t.VERIFY_FAILED, "verification failed"),
        (127, "not installed"),
        (99, "code 99"),
    ],
)
def test_cause_of(code: int, words: str) -> None:
    cause, fix = t.cause_of(code, ["rsync: some other error"])
    assert words in cause and fix
    if code == t.VERIFY_FAILED:
        assert "source was kept" in cause and "Nothing was deleted" in fix


@pytest.mark.parametrize(
    "line",
    [
        'rsync: [receiver] write failed on "/archive/x": No space left on device (28)',
        'rsync: [receiver] close failed on "/x": Disk quota exceeded (122)',
    ],
)
@pytest.mark.parametrize("code", [11, 12, 23])
def test_cause_of_full_destination(line: str, code: int) -> None:
    cause, fix = t.cause_of(code, ["rsync error: error in file IO (code 11)", line])
    assert "full" in cause and "quota" in cause
    assert "manage_storage free" in fix


# -- read_status -----------------------------------------------------------------------------------


def _found(m: t.Meta | None = None, **parts: str) -> dict[str, str]:
    found = {"meta.json": t.meta_json(m or _meta()), "session": "0", "now": str(T0 + 10)}
    found.update(parts)
    return found


def test_status_running() -> None:
    s = t.read_status(_found(session="1", **{"log.0": "\r   500  50%  1.00MB/s  0:00:01 (xfr#5, to-chk=5/10)"}))
    assert s.state == "running"
    assert (s.bytes_done, s.bytes_total, s.files_done, s.files_total) == (500, 1000, 5, 10)
    assert s.percent == 50.0
    assert s.rate_bytes_per_s == 50 and s.eta_s == 10  # 500 B in 10 s; 500 B left
    assert s.started == "2023-11-14T22:13:20Z" and s.seconds == 10.0
    assert s.ended is None and s.exit_code is None and s.cause is None
    assert s.source_removed is None  # a copy removes nothing
    assert s.survives_restart


def test_status_running_uses_the_driver_start_time() -> None:
    s = t.read_status(
        _found(session="1", started=f"{T0 + 5}\n", **{"log.0": "  500  50%  1.00MB/s  0:00:01 (xfr#5, to-chk=5/10)"})
    )
    assert s.started == "2023-11-14T22:13:25Z" and s.rate_bytes_per_s == 100 and s.eta_s == 5


def test_status_running_before_any_progress() -> None:
    s = t.read_status(_found(session="1"))
    assert s.state == "running" and s.bytes_done == 0 and s.percent == 0.0
    assert s.rate_bytes_per_s is None and s.eta_s is None


def test_status_done() -> None:
    s = t.read_status(_found(rc="0\n", ended=f"{T0 + 4}\n", **{"rc.0": "0\n", "log.0": ""}))
    assert s.state == "done" and s.exit_code == 0
    assert (s.bytes_done, s.files_done, s.percent) == (1000, 10, 100.0)
    assert s.ended == "2023-11-14T22:13:24Z" and s.seconds == 4.0 and s.rate_bytes_per_s == 250
    assert s.eta_s is None and s.cause is None and s.errors == []


def test_status_done_even_while_tmux_lingers() -> None:
    assert t.read_status(_found(session="1", rc="0")).state == "done"


def test_status_failed_with_code() -> None:
    log = (
        "  300  30%  1.00kB/s  0:00:01 (xfr#3, to-chk=7/10)\n"
        'rsync: [sender] send_files failed to open "/x": Permission denied (13)\n'
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338)\n"
    )
    s = t.read_status(_found(rc="23\n", ended=f"{T0 + 3}", **{"rc.0": "23\n", "log.0": log}))
    assert s.state == "failed" and s.exit_code == 23
    assert s.cause is not None and "partial" in s.cause and s.fix
    assert s.errors[0].startswith("rsync: [sender] send_files failed") and len(s.errors) == 2
    assert (s.bytes_done, s.files_done) == (300, 3)
    assert s.ended == "2023-11-14T22:13:23Z" and s.eta_s is None


def test_status_failed_full_destination() -> None:
    log = 'rsync: [receiver] write failed on "/archive/x": No space left on device (28)\n'
    s = t.read_status(_found(rc="11", **{"rc.0": "11", "log.0": log}))
    assert s.state == "failed" and s.exit_code == 11
    assert s.cause is not None and "full" in s.cause


def test_status_interrupted() -> None:
    s = t.read_status(_found(**{"log.0": "  200  20%  1.00kB/s  0:00:01 (xfr#2, to-chk=8/10)"}))
    assert s.state == "failed" and s.exit_code is None
    assert s.cause is not None and s.cause.startswith("interrupted")
    assert s.fix is not None and "again" in s.fix
    assert s.bytes_done == 200


def test_status_interrupted_after_a_stream_failed() -> None:
    s = t.read_status(_found(**{"rc.0": "20"}))
    assert s.state == "failed" and s.exit_code is None
    assert s.cause is not None and "signal" in s.cause


def test_status_cancelled() -> None:
    s = t.read_status(_found(session="1", cancelled=f"{T0 + 2}\n", **{"rc.0": "20"}))
    assert s.state == "cancelled"
    assert s.cause is not None and "cancelled" in s.cause and s.fix is not None and "resume" in s.fix
    assert s.ended == "2023-11-14T22:13:22Z" and s.eta_s is None


def test_status_move() -> None:
    m = _meta(mode="move", overwrite=True)
    done = t.read_status(_found(m, rc="0", source_removed=f"{int(T0) + 9}\n"))
    assert done.state == "done" and done.source_removed is True
    kept = t.read_status(_found(m, rc=str(t.VERIFY_FAILED), **{"rc.0": "0"}))
    assert kept.state == "failed" and kept.source_removed is False and kept.exit_code == t.VERIFY_FAILED
    assert kept.cause is not None and "verification failed" in kept.cause
    running = t.read_status(_found(m, session="1"))
    assert running.source_removed is False


def test_status_streams_count_planned_bytes_when_done() -> None:
    m = _meta(streams=3, files=10, bytes=1000, stream_files=[4, 3, 3], stream_bytes=[600, 300, 100])
    s = t.read_status(
        _found(
            m,
            session="1",
            **{
                "rc.0": "0\n",
                "log.0": "  10  1%  1.00kB/s  0:00:01 (xfr#1, to-chk=3/4)",  # stale: rc 0 counts the plan
                "log.1": "  150  50%  1.00kB/s  0:00:01 (xfr#1, to-chk=2/3)",
            },
        )
    )
    assert (s.bytes_done, s.files_done, s.percent, s.streams) == (750, 5, 75.0, 3)
    over = t.read_status(_found(m, session="1", **{"log.2": "  99999 100%  1.00kB/s  0:00:01 (xfr#99, to-chk=0/3)"}))
    assert (over.bytes_done, over.files_done) == (100, 3), "a stream never counts beyond its plan"


def test_status_percent_is_rounded_and_empty_transfers_are_safe() -> None:
    m = _meta(bytes=3, stream_bytes=[3])
    assert t.read_status(_found(m, session="1", **{"log.0": " 1 33% 1B/s 0:00:01"})).percent == 33.3
    empty = _meta(bytes=0, files=0, stream_bytes=[0], stream_files=[0])
    assert t.read_status(_found(empty, session="1")).percent == 0.0
    assert t.read_status(_found(empty, rc="0")).percent == 100.0


def test_status_carries_run_and_cold_choice() -> None:
    m = _meta(run=3, cold_choice="/vault has the most free space")
    s = t.read_status(_found(m, session="1"))
    assert s.run == 3 and s.cold_choice == "/vault has the most free space"
    assert (s.id, s.node, s.mode, s.source, s.destination) == (m.id, DATA, "copy", m.source, m.destination)


def test_status_refuses_a_broken_meta() -> None:
    with pytest.raises(ValueError):
        t.read_status({"meta.json": "{", "session": "1"})


# -- read_list -------------------------------------------------------------------------------------


def test_read_list() -> None:
    a = _meta(id="data-aaaaaaaaaaaa", started=T0 + 100)
    b = _meta(id="data-bbbbbbbbbbbb", started=T0 + 200)
    c = _meta(id="sydata-cccccccccccc", node=SYDATA, started=T0 + 300)
    found = {
        "sessions": "mcp-xfer-data-bbbbbbbbbbbb\nmcp-xfer-sydata-cccccccccccc\nother\n",
        "now": f"{T0 + 400}\n",
        "data-aaaaaaaaaaaa/meta.json": t.meta_json(a),
        "data-aaaaaaaaaaaa/rc": "0\n",
        "data-bbbbbbbbbbbb/meta.json": t.meta_json(b),
        "sydata-cccccccccccc/meta.json": t.meta_json(c),
        "data-broken00000/meta.json": "{half",
        "data-old000000000/meta.json": '{"id": "data-old000000000"}',
        "data-norc00000000/rc": "0",  # no meta.json: not a transfer
    }
    listed = t.read_list(found, DATA, 10)
    assert [s.id for s in listed] == [b.id, a.id], "this node's only, newest first, broken ones skipped"
    assert [s.state for s in listed] == ["running", "done"]
    assert [s.id for s in t.read_list(found, DATA, 1)] == [b.id]
    (only,) = t.read_list(found, SYDATA, 10)
    assert only.id == c.id and only.state == "running"
    assert t.read_list({}, DATA, 10) == []


def _listed_by_the_list_script(tmp_path: Path, count: int, limit: int) -> list[t.TransferStatus]:
    """`count` finished transfers on the data node, started one second apart (folder mtimes alike), read back
    by the node's own list script (run here with sh) and read_list, as DataNodes.transfers does."""
    state = tmp_path / "transfers"
    for i in range(count):
        tid = f"data-{i:012x}"
        folder = state / tid
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(t.meta_json(_meta(id=tid, started=T0 + i)))
        (folder / "rc").write_text("0\n")
        os.utime(folder, (T0 + i, T0 + i))
    out = subprocess.run(
        t.sh_argv(t.LIST_SH, str(state), str(limit)), capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return t.read_list(t.sections(out), DATA, limit)


def test_the_list_gives_the_newest_50_transfers_of_a_data_node(tmp_path: Path) -> None:
    """README: the newest 50 transfers per data node by default (transfer_data list's default limit)."""
    from sjtu_hpc_mcp.app import build_server
    from sjtu_hpc_mcp.settings import Settings

    assert t.MAX_LISTED == 50
    tools = {x.name: x for x in build_server(Settings(workspace=tmp_path))._tool_manager.list_tools()}
    assert tools["transfer_data"].parameters["properties"]["limit"]["default"] == t.MAX_LISTED
    listed = _listed_by_the_list_script(tmp_path, 55, t.MAX_LISTED)
    assert len(listed) == 50
    assert [s.id for s in listed] == [f"data-{i:012x}" for i in range(54, 4, -1)], "newest first, oldest 5 left out"
    assert {s.state for s in listed} == {"done"}


def test_a_larger_list_limit_shows_more_than_the_newest_50(tmp_path: Path) -> None:
    """README: the newest 50 by default; `limit` (up to 1,000) shows more."""
    assert len(_listed_by_the_list_script(tmp_path, 55, 100)) == 55


def test_meta_json_round_trips() -> None:
    m = _meta(source=HOME + "/" + EVIL, cold_choice="x")
    assert t.Meta.model_validate_json(t.meta_json(m)) == m


# -- planning a run, and the checks on the resolved ends ------------------------------------------------


def test_empty_files_are_spread_over_the_streams_too() -> None:
    lists = t.split_streams(t.copy_units([t.Entry("f", 0, f"e{i}") for i in range(100)], 4), 4)
    assert sorted(len(lst) for lst in lists) == [25, 25, 25, 25]


def test_plan_counts_each_streams_files_and_bytes() -> None:
    ins = t.Inspected(True, "none", "/lustre/home/acct-hpc/u/src", "/vault/home/acct-hpc/u/src")
    entries = [t.Entry("d", 0, "d"), *[t.Entry("f", 1000 * i, f"d/f{i}") for i in range(1, 201)]]
    meta, lists = t.plan(
        "data-0123456789ab",
        "data.hpc.sjtu.edu.cn",
        "copy",
        ins,
        entries,
        4,
        overwrite=False,
        run=2,
        why=None,
        started=5.0,
    )
    assert meta.streams == len(lists) == 4 and meta.files == 200 and sum(meta.stream_files) == 200
    assert meta.bytes == sum(meta.stream_bytes) == sum(1000 * i for i in range(1, 201))
    assert sorted(p for lst in lists for p in lst) == sorted(f"d/f{i}" for i in range(1, 201))
    assert meta.run == 2 and meta.started == 5.0
    single = t.Inspected(False, "none", "/lustre/home/acct-hpc/u/a.bin", "/vault/home/acct-hpc/u/a.bin")
    meta, lists = t.plan(
        "data-0123456789ab",
        "data.hpc.sjtu.edu.cn",
        "copy",
        single,
        [t.Entry("f", 7, "")],
        None,
        overwrite=False,
        run=1,
        why=None,
        started=0.0,
    )
    assert (meta.streams, meta.stream_files, meta.stream_bytes, lists) == (1, [1], [7], [[]])


def test_meta_refuses_figures_that_do_not_match_its_streams() -> None:
    ins = t.Inspected(True, "none", "/lustre/home/acct-hpc/u/src", "/vault/home/acct-hpc/u/src")
    meta, _ = t.plan(
        "data-0123456789ab",
        "data.hpc.sjtu.edu.cn",
        "copy",
        ins,
        [t.Entry("f", 1, "a")],
        1,
        overwrite=False,
        run=1,
        why=None,
        started=0.0,
    )
    broken = meta.model_dump() | {"streams": 3}
    with pytest.raises(ValueError):
        t.Meta.model_validate(broken)
    with pytest.raises(ValueError):
        t.Meta.model_validate(meta.model_dump() | {"id": "pilogin-0123456789ab"})


def test_a_full_pool_is_named_from_a_real_rsync_log() -> None:
    log = (Path(__file__).parents[1] / "lab" / "recorded" / "rsync_pool_full.log").read_text()
    errors = t.error_lines(log)
    assert any("No space left on device" in e for e in errors)  # it follows a progress update on its line
    assert t.cause_of(11, errors)[0] == "the destination is full or your quota is exhausted"
