"""core.files: reading a person's file on a node (head, tail, match; stat). The script runs here, with `sh`,
on real files in a temporary "platform" whose pools are folders under tmp_path, and its output is parsed
as the server parses the node's."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sjtu_hpc_mcp.core import files as f
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import Platform, load_platform, parse_platform

REL = "home/acct-hpc/hpcrobot"
NODE = "pilogin.hpc.sjtu.edu.cn"
POOLS = ("/lustre", "/dssg", "/archive", "/vault", "/union", "/scratch")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Platform, Path]]:
    """A platform whose pools are folders under tmp_path, and the person's folder in /lustre."""
    base = tmp_path.resolve()
    text = (Path(f.__file__).parent / "platform.toml").read_text(encoding="utf-8")
    for pool in POOLS:
        text = text.replace(f'"{pool}"', f'"{base}{pool}"')
    platform = parse_platform(text)
    for pool in POOLS:
        (base / pool.strip("/") / REL).mkdir(parents=True)
    yield platform, base / "lustre" / REL


def run(platform: Platform, argv: list[str]) -> str:
    assert argv[:2] == ["sh", "-c"] and argv[3] == "sh"
    r = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


def read(platform: Platform, path: Path | str, mode: str = "tail", **kw: object) -> f.FileRead:
    req = f.read_request(str(path), mode, **kw)  # type: ignore[arg-type]
    out = run(platform, f.read_argv(req, f.personal_roots(platform, REL)))
    return f.parse_read(out, req, platform, REL, NODE)


def stat(platform: Platform, path: Path | str) -> f.FileStat:
    out = run(platform, f.stat_argv(str(path), f.personal_roots(platform, REL)))
    return f.parse_stat(out, platform, REL, str(path), NODE)


def rows(r: f.FileRead) -> list[tuple[object, object]]:
    return [(row[0], row[1]) for row in r.lines.rows]


def numbered(n: int, first: int = 1) -> list[tuple[object, object]]:
    return [(i, f"line {i}") for i in range(first, first + n)]


def write_lines(path: Path, n: int, *, end: str = "\n") -> Path:
    path.write_text("\n".join(f"line {i}" for i in range(1, n + 1)) + end)
    return path


# -- the request ------------------------------------------------------------------------------------


def test_defaults_and_bounds() -> None:
    req = f.read_request("/lustre/x")
    assert (req.mode, req.lines, req.max_bytes, req.offset, req.pattern) == ("tail", 100, 16 * 1024, None, None)
    assert f.MAX_BYTES == 64 * 1024
    for bad in (
        {"lines": 0},
        {"lines": 1001},
        {"lines": True},
        {"max_bytes": 64 * 1024 + 1},
        {"max_bytes": 100},
        {"max_bytes": 2.5},
        {"offset": -1},
        {"offset": 2**62 + 1},
        {"offset": "10"},
    ):
        with pytest.raises(HpcError) as e:
            f.read_request("/lustre/x", "head", **bad)  # type: ignore[arg-type]
        assert e.value.code == "E_ARG", bad
    assert f.read_request("/lustre/x", "head", lines=1000, max_bytes=65536, offset=0).offset == 0


def test_modes_and_patterns() -> None:
    with pytest.raises(HpcError, match="Unknown read mode"):
        f.read_request("/lustre/x", "grep")
    with pytest.raises(HpcError, match="needs a pattern"):
        f.read_request("/lustre/x", "match")
    with pytest.raises(HpcError, match="does not take a pattern"):
        f.read_request("/lustre/x", "head", pattern="x")
    with pytest.raises(HpcError, match="does not take a pattern"):
        f.read_request("/lustre/x", "tail", ignore_case=True)
    for bad in ("", "a\nb", "a\rb", "\x1b[31m", "a\x00b", "x" * 257, "line\u2028sep"):
        with pytest.raises(HpcError) as e:
            f.read_request("/lustre/x", "match", pattern=bad)
        assert e.value.code == "E_ARG", repr(bad)
    for fine in ("-rf", "--help", "-e", "a\tb", ".*", "$(id)", "NaN", "损失", "x" * 256):
        assert f.read_request("/lustre/x", "match", pattern=fine).pattern == fine


def test_the_argv_carries_values_as_arguments_never_in_the_script() -> None:
    req = f.read_request("/lustre/home/a/u/x; rm -rf ~", "match", pattern="-rf $(id)", offset=5, ignore_case=True)
    argv = f.read_argv(req, ["/lustre/home/a/u"])
    assert argv[:4] == ["sh", "-c", f.READ_SH, "sh"]
    assert argv[4:] == [
        "/lustre/home/a/u/x; rm -rf ~",
        "match",
        "5",
        str(16 * 1024),
        "100",
        "-rf $(id)",
        "i",
        str(f.COUNT_MAX),
        str(f.LINE_CUT),
        "/lustre/home/a/u",
    ]
    assert f.stat_argv("/p", ["/r1", "/r2"])[4:6] == ["/p", "stat"]
    assert f.stat_argv("/p", ["/r1", "/r2"])[-2:] == ["/r1", "/r2"]


def test_the_script_is_valid_sh_and_uses_only_coreutils_and_grep() -> None:
    r = subprocess.run(["sh", "-n"], input=f.READ_SH, capture_output=True, text=True, timeout=10, check=False)
    assert r.returncode == 0, r.stderr
    assert 'grep -a -n -b -F ${icase:+-i} -e "$pat"' in f.READ_SH, "the pattern follows -e: never an option"


def test_routes() -> None:
    p = load_platform()
    assert f.read_route(p, "/lustre/home/a/u/x").node == "pilogin.hpc.sjtu.edu.cn"
    assert f.read_route(p, "/dssg/home/a/u/x").node == "sylogin.hpc.sjtu.edu.cn"
    assert f.read_route(p, "/archive/home/a/u/x").node == "data.hpc.sjtu.edu.cn"
    assert f.read_route(p, "/union/home/a/u/x").node in p.data_nodes
    assert f.personal_roots(p, "home/a/u") == [f"{root}/home/a/u" for root in p.storage]
    with pytest.raises(HpcError) as e:
        f.read_route(p, "/etc/passwd")
    assert e.value.code == "E_PATH"


def test_escape_text() -> None:
    assert f.escape_text(b"plain\ttab") == "plain\ttab"
    assert f.escape_text(b"\x1b[31mred\x1b[0m\rback\x00\x7f") == "\\x1b[31mred\\x1b[0m\\rback\\x00\\x7f"
    assert f.escape_text(b"\xff\xfe ok \xe6\x8d\x9f") == "\\xff\\xfe ok 损"
    assert f.escape_text("a\u2028b\u0085c".encode()) == "a\\u2028b\\x85c"


# -- reading real files -------------------------------------------------------------------------------


def test_tail_of_a_10_mb_log_is_bounded_fast_and_numbered(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    log = home / "run1" / "log.txt"
    log.parent.mkdir()
    width = len("step 000001 loss 0.123456 accuracy 0.987654\n")
    with log.open("w") as out:
        for i in range(1, 300_001):
            out.write(f"step {i:06d} loss 0.123456 accuracy 0.987654\n")  # 13 MB
    started = time.monotonic()
    r = read(platform, log, "tail", lines=20)
    assert time.monotonic() - started < 2.0
    assert rows(r) == [(i, f"step {i:06d} loss 0.123456 accuracy 0.987654") for i in range(299_981, 300_001)]
    assert r.size == log.stat().st_size and r.shown_bytes <= f.DEFAULT_BYTES
    assert r.truncated and r.next_offset == r.size - 20 * width
    assert r.path == str(log) and r.modified.endswith("Z")
    small = read(platform, log, "tail", max_bytes=1024, lines=1000)
    assert small.shown_bytes <= 1024 and len(small.lines.rows) == 1024 // width


def test_head_and_its_continuation_cover_the_file_once(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = write_lines(home / "a.txt", 250)
    seen: list[tuple[object, object]] = []
    offset: int | None = 0
    calls = 0
    while offset is not None:
        r = read(platform, path, "head", lines=100, max_bytes=1024, offset=offset)
        seen += rows(r)
        offset, calls = r.next_offset, calls + 1
        assert r.truncated == (offset is not None)
    assert seen == numbered(250) and calls == 3, "100 lines a call"
    assert rows(read(platform, path, "head", lines=3)) == numbered(3)


def test_tail_continues_backwards(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = write_lines(home / "b.txt", 300, end="")  # no newline at the end
    seen: list[tuple[object, object]] = []
    offset: int | None = None
    while True:
        r = read(platform, path, "tail", lines=1000, max_bytes=1024, offset=offset)
        seen = rows(r) + seen
        if r.next_offset is None:
            break
        offset = r.next_offset
    assert seen == numbered(300)


def test_match_finds_fixed_strings_with_line_numbers_and_continues(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = home / "slurm-123.out"
    lines = [f"step {i} loss {'NaN' if i % 7 == 0 else '0.5'}" for i in range(1, 501)]
    path.write_text("\n".join(lines) + "\n")
    found: list[tuple[object, object]] = []
    offset: int | None = None
    while True:
        r = read(platform, path, "match", pattern="NaN", lines=10, offset=offset)
        found += rows(r)
        if r.next_offset is None:
            break
        offset = r.next_offset
    assert found == [(i, f"step {i} loss NaN") for i in range(7, 501, 7)]
    assert rows(read(platform, path, "match", pattern="nan", ignore_case=True, lines=2)) == found[:2]
    assert rows(read(platform, path, "match", pattern="nan")) == []


def test_a_pattern_is_text_never_an_option_or_a_regex(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = home / "c.txt"
    path.write_text("plain\n-rf here\nuse --help\ndot.star\ndotXstar\n$(id)\n")
    assert rows(read(platform, path, "match", pattern="-rf")) == [(2, "-rf here")]
    assert rows(read(platform, path, "match", pattern="--help")) == [(3, "use --help")]
    assert rows(read(platform, path, "match", pattern="dot.star")) == [(4, "dot.star")]
    assert rows(read(platform, path, "match", pattern=".*")) == []
    assert rows(read(platform, path, "match", pattern="$(id)")) == [(6, "$(id)")]


def test_control_characters_and_other_bytes_are_shown_escaped(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = home / "d.txt"
    text = b"".join(b"padding %04d\n" % i for i in range(1, 1001))  # 13 kB: the NUL below is past the probe
    path.write_bytes(text + b"\x1b[31mred\x1b[0m\n50%\r100%\n\xff\xfe latin\n\x00 late NUL\n")
    assert rows(read(platform, path, "tail", lines=4)) == [
        (1001, "\\x1b[31mred\\x1b[0m"),
        (1002, "50%\\r100%"),
        (1003, "\\xff\\xfe latin"),
        (1004, "\\x00 late NUL"),
    ]
    assert stat(platform, path).binary is False


def test_binary_files_are_refused(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = home / "result.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 64)
    for mode, kw in (("head", {}), ("tail", {}), ("match", {"pattern": "HDF"})):
        with pytest.raises(HpcError) as e:
            read(platform, path, mode, **kw)
        assert e.value.code == "E_BINARY" and "transfer_data" in str(e.value)
    assert stat(platform, path).binary is True


def test_symlinks_out_and_other_peoples_files_are_refused(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    other = home.parent / "otheruser"
    other.mkdir()
    secret = other / "secret.txt"
    secret.write_text("secret\n")
    (home / "link").symlink_to(secret)
    (home / "dirlink").symlink_to(other)
    outside = home.parents[3] / "etc.txt"  # under tmp_path, in no pool
    outside.write_text("outside\n")
    (home / "far").symlink_to(outside)
    for path in (home / "link", home / "dirlink" / "secret.txt", secret, home / "far", home / ".." / "otheruser"):
        with pytest.raises(HpcError) as e:
            read(platform, path)
        assert e.value.code == "E_NOT_YOURS", path
        with pytest.raises(HpcError) as e:
            stat(platform, path)
        assert e.value.code == "E_NOT_YOURS"


def test_links_within_the_persons_folders_are_followed(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    target = home.parents[3] / "archive" / REL / "old.txt"  # the person's own folder in another pool
    target.write_text("kept\n")
    (home / "old").symlink_to(target)
    r = read(platform, home / "old", "head")
    assert rows(r) == [(1, "kept")] and r.path == str(target)


def test_a_dangling_link_out_is_refused_not_missing(lab: tuple[Platform, Path]) -> None:
    """Whether another person's file exists (or their folder is closed) is not told: the link points out."""
    platform, home = lab
    other = home.parents[1] / "acct-other" / "otheruser"
    other.mkdir(parents=True)
    (home / "theirs").symlink_to(other / "secret.txt")
    (home / "dangling").symlink_to(home / "gone.txt")
    for link, code in (("theirs", "E_NOT_YOURS"), ("dangling", "E_NOT_FOUND")):
        with pytest.raises(HpcError) as e:
            read(platform, home / link)
        assert e.value.code == code, link
        with pytest.raises(HpcError) as e:
            stat(platform, home / link)
        assert e.value.code == code, link


def test_missing_folders_and_special_files(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    with pytest.raises(HpcError) as e:
        read(platform, home / "nope.txt")
    assert e.value.code == "E_NOT_FOUND"
    with pytest.raises(HpcError) as e:
        read(platform, home)
    assert e.value.code == "E_NOT_A_FILE" and "folder" in e.value.message
    os.mkfifo(home / "fifo")
    with pytest.raises(HpcError) as e:
        read(platform, home / "fifo")
    assert e.value.code == "E_NOT_A_FILE"


def test_stat(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = write_lines(home / "e.txt", 3)
    os.chmod(path, 0o640)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    s = stat(platform, path)
    assert (s.path, s.kind, s.size, s.mode, s.modified, s.binary) == (
        str(path),
        "file",
        path.stat().st_size,
        "640",
        "2023-11-14T22:13:20Z",
        False,
    )
    assert s.owner and s.group
    d = stat(platform, home)
    assert (d.kind, d.binary) == ("dir", None)


def test_long_lines_are_cut_and_continued(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    path = home / "long.txt"
    path.write_text("short\n" + "x" * 5000 + " NaN\nend\n")
    head = read(platform, path, "head", max_bytes=1024)
    assert rows(head) == [(1, "short")], "a partial line after a whole one waits for the next call"
    rest = read(platform, path, "head", max_bytes=1024, offset=head.next_offset)
    assert rows(rest) == [(2, "x" * 1024)] and rest.cut_lines == [2]
    tail = read(platform, path, "tail", max_bytes=1024, offset=path.stat().st_size - 4)
    assert rows(tail) == [(2, "x" * 1019 + " NaN")] and tail.cut_lines == [2]
    match = read(platform, path, "match", pattern="NaN")
    [(number, text)] = rows(match)
    assert number == 2 and len(text) < f.LINE_CUT and match.cut_lines == [2] and match.next_offset is None


def test_empty_files_offsets_past_the_end_and_a_last_line_without_newline(lab: tuple[Platform, Path]) -> None:
    platform, home = lab
    empty = home / "empty.txt"
    empty.write_text("")
    for mode, kw in (("head", {}), ("tail", {}), ("match", {"pattern": "x"})):
        r = read(platform, empty, mode, **kw)
        assert (r.lines.total, r.truncated, r.next_offset) == (0, False, None)
    path = write_lines(home / "f.txt", 3, end="")
    assert rows(read(platform, path, "head")) == numbered(3)
    assert rows(read(platform, path, "tail", lines=1)) == [(3, "line 3")]
    assert rows(read(platform, path, "head", offset=10**9)) == []
    assert rows(read(platform, path, "tail", offset=10**9)) == numbered(3)


def test_line_numbers_are_left_out_past_the_counting_limit(
    lab: tuple[Platform, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, home = lab
    path = write_lines(home / "g.txt", 2000)
    monkeypatch.setattr(f, "COUNT_MAX", 10)
    r = read(platform, path, "tail", lines=2, max_bytes=1024)
    assert rows(r) == [(None, "line 1999"), (None, "line 2000")]
    assert rows(read(platform, path, "head", lines=1)) == [(1, "line 1")], "from the start: no counting needed"


# -- output the parser must not trust ----------------------------------------------------------------


def _out(path: str, data: str = "bGluZQo=", *, end: bool = True) -> str:
    head = f"@path {path}\n@stat 5 1700000000 81a4 644 u g\n@nul 0\n@start 0\n@data\n{data}\n"
    return head + ("@end\n" if end else "")


def test_the_resolved_path_is_confined_again_here() -> None:
    p = load_platform()
    req = f.read_request("/lustre/home/acct-hpc/hpcrobot/x", "head")
    ok = f.parse_read(_out("/lustre/home/acct-hpc/hpcrobot/x"), req, p, REL, NODE)
    assert [r[1] for r in ok.lines.rows] == ["line"]
    with pytest.raises(HpcError) as e:
        f.parse_read(_out("/lustre/home/acct-other/otheruser/x"), req, p, REL, NODE)
    assert e.value.code == "E_NOT_YOURS"


@pytest.mark.parametrize(
    "out",
    [
        _out("/lustre/home/acct-hpc/hpcrobot/x", end=False),
        _out("/lustre/home/acct-hpc/hpcrobot/x", data="not base64!"),
        "@path /lustre/home/acct-hpc/hpcrobot/x\n@stat garbage\n",
        "@path /lustre/home/acct-hpc/hpcrobot/x\n@stat 5 x 81a4 644 u g\n",
        "",
    ],
    ids=["cut-off", "bad-data", "bad-stat", "bad-time", "nothing"],
)
def test_output_cut_off_or_garbled_is_an_error(out: str) -> None:
    req = f.read_request("/lustre/home/acct-hpc/hpcrobot/x", "head")
    with pytest.raises(HpcError) as e:
        f.parse_read(out, req, load_platform(), REL, NODE)
    assert e.value.code in ("E_REMOTE", "E_NOT_YOURS", "E_PATH")


def test_unreadable_files() -> None:
    out = "@path /lustre/home/acct-hpc/hpcrobot/x\n@stat 5 1700000000 81a4 000 u g\n@unreadable\n"
    with pytest.raises(HpcError, match="not readable"):
        f.parse_read(out, f.read_request("/lustre/home/acct-hpc/hpcrobot/x"), load_platform(), REL, NODE)
