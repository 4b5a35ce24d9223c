"""Reading a person's file on a node: its head, its tail, or the lines holding a fixed string, bounded,
with line numbers and continuation by byte offset; and `stat`. Pure: the request's checks, the script and
what its output means.

One round trip: the script (`sh -c READ_SH sh ARG…`, every value a positional argument) resolves the path
on the node (`realpath -m`), refuses it there unless it lies in one of the person's own folders (so a link
out is refused whether or not its target exists: nothing is said about other people's files), then
stats and reads it; `parse_read` / `parse_stat` check the resolved path again with `policy.confine`.
Only coreutils and grep run: realpath, stat, head, tail, tr, wc, cut, base64 (the bytes come back
base64-encoded, so offsets are exact whatever the file holds).

- A file whose first 8 KiB hold a NUL byte is binary and refused (E_BINARY), as git and grep judge it.
- The pattern is data: `grep -F` (a fixed string, never a regex) after `-e`, so `-rf` is searched for,
  not obeyed; with ignore_case, ASCII letters match either case (the node runs in the C locale).
- Control characters are shown escaped (`\\x1b`, `\\r`, `\\x00`); bytes that are not UTF-8 as `\\xff`; a tab and
  a backslash as they are.
- Line numbers count newlines before the window; past COUNT_MAX bytes that costs too much and they are left out.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from .errors import HpcError
from .platform import Platform
from .policy import Route, confine, data_route, personal_root
from .results import Table

ReadMode = Literal["head", "tail", "match"]
READ_MODES: tuple[ReadMode, ...] = ("head", "tail", "match")
MAX_BYTES = 64 * 1024
MIN_BYTES = 1024
DEFAULT_BYTES = 16 * 1024
MAX_LINES = 1000
DEFAULT_LINES = 100
MAX_PATTERN = 256
MAX_OFFSET = 2**62  # the node's shell arithmetic is 64-bit
COUNT_MAX = 256 * 1024 * 1024  # line numbers are counted up to this many bytes before the window
LINE_CUT = 2048  # match: each matching line is cut to this many bytes
PROBE_BYTES = 8192
READ_S = 30.0

# $1 path, $2 mode (head|tail|match|stat), $3 offset ("" = none), $4 max bytes, $5 lines, $6 pattern,
# $7 "i" for ignore case, $8 COUNT_MAX, $9 LINE_CUT, then the person's own folders.
READ_SH = r"""
export LC_ALL=C
p=$1 mode=$2 off=$3 max=$4 n=$5 pat=$6 icase=$7 cmax=$8 cut=$9
shift 9
r=$(realpath -m -- "$p" 2>/dev/null) || { echo @missing; exit 0; }
case $r in *'
'*) echo @badname; exit 0 ;; esac
ok=
for root in "$@"; do case $r in "$root" | "$root"/*) ok=1 ;; esac; done
[ -n "$ok" ] || { echo "@outside $r"; exit 0; }
[ -e "$r" ] || { echo @missing; exit 0; }
echo "@path $r"
st=$(stat -c '%s %Y %f %a %U %G' -- "$r") || exit 1
echo "@stat $st"
[ -f "$r" ] || exit 0
[ -r "$r" ] || { echo @unreadable; exit 0; }
nul=$(head -c 8192 -- "$r" | tr -dc '\000' | wc -c)
echo "@nul $nul"
[ "$mode" != stat ] && [ "$nul" -eq 0 ] || exit 0
size=${st%% *}
if [ "$mode" = tail ]; then
  end=${off:-$size}; [ "$end" -le "$size" ] || end=$size
  start=$((end > max ? end - max : 0))
else
  start=${off:-0}; [ "$start" -le "$size" ] || start=$size
fi
echo "@start $start"
if [ "$start" -gt 0 ] && [ "$start" -le "$cmax" ]; then echo "@base $(head -c "$start" -- "$r" | wc -l)"; fi
echo @data
case $mode in
  head) tail -c +$((start + 1)) -- "$r" | head -c "$max" ;;
  tail) tail -c +$((start + 1)) -- "$r" | head -c $((end - start)) ;;
  match) tail -c +$((start + 1)) -- "$r" | grep -a -n -b -F ${icase:+-i} -e "$pat" | cut -b "1-$cut" |
           head -n $((n + 1)) | head -c $((max + cut + 1)) ;;
esac | base64 -w 0
echo
echo @end
"""

_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_RECORD = re.compile(rb"^(\d+):(\d+):")


# -- the request ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadRequest:
    path: str  # as resolved for the pool (t.resolve_storage_path), before the node resolves links
    mode: ReadMode = "tail"
    lines: int = DEFAULT_LINES
    max_bytes: int = DEFAULT_BYTES
    offset: int | None = None  # head/match: start here; tail: end here (continue with next_offset)
    pattern: str | None = None
    ignore_case: bool = False


def _whole(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HpcError("E_ARG", f"{field} must be a whole number from {low} to {high}.", f"Give {field} in that range.")
    return value


def check_pattern(pattern: object) -> str:
    """A fixed string to search for: one line of text, no control characters but tab; `-x` is just text."""
    if not isinstance(pattern, str) or not pattern:
        raise HpcError("E_ARG", "match needs a pattern: the text to look for.", "Give pattern, e.g. NaN or ERROR.")
    if len(pattern) > MAX_PATTERN:
        raise HpcError("E_ARG", f"The pattern is longer than {MAX_PATTERN} characters.", "Search for a shorter text.")
    if _CONTROL.search(pattern):
        raise HpcError(
            "E_ARG",
            "The pattern holds a newline or another control character.",
            "Give one line of plain text; it is matched as a fixed string (no regular expressions).",
        )
    return pattern


def read_request(
    path: str,
    mode: str = "tail",
    *,
    lines: int = DEFAULT_LINES,
    max_bytes: int = DEFAULT_BYTES,
    offset: int | None = None,
    pattern: str | None = None,
    ignore_case: bool = False,
) -> ReadRequest:
    """The read as asked, every value checked before anything runs."""
    if mode not in READ_MODES:
        raise HpcError("E_ARG", f"Unknown read mode {mode!r}.", "Use head, tail or match.")
    if mode == "match":
        pattern = check_pattern(pattern)
    elif pattern is not None or ignore_case:
        raise HpcError("E_ARG", f"{mode} does not take a pattern.", "Use mode match to find lines holding a text.")
    return ReadRequest(
        path=path,
        mode=mode,
        lines=_whole(lines, "lines", 1, MAX_LINES),
        max_bytes=_whole(max_bytes, "max_bytes", MIN_BYTES, MAX_BYTES),
        offset=None if offset is None else _whole(offset, "offset", 0, MAX_OFFSET),
        pattern=pattern,
        ignore_case=ignore_case,
    )


def read_route(platform: Platform, path: str) -> Route:
    """A node that sees the path's pool: the login node of its (first) node group for hot storage,
    a data node for cold storage (login nodes may not mount it)."""
    st = platform.storage_of(path)
    if st.kind == "cold":
        return data_route(platform, st.root)
    group = platform.group(st.groups[0])
    return Route(group.job_entry, group.name, f"login node of node group {group.name}, which mounts {st.root}")


def personal_roots(platform: Platform, rel: str) -> list[str]:
    """The person's own folder in every pool: where the node lets a resolved path lie."""
    return [personal_root(platform, root, rel) for root in platform.storage]


def _argv(path: str, mode: str, roots: list[str], req: ReadRequest | None = None) -> list[str]:
    off = "" if req is None or req.offset is None else str(req.offset)
    max_bytes = str(req.max_bytes if req else MIN_BYTES)
    lines = str(req.lines if req else 1)
    pattern = (req.pattern or "") if req else ""
    icase = "i" if req and req.ignore_case else ""
    args = [path, mode, off, max_bytes, lines, pattern, icase, str(COUNT_MAX), str(LINE_CUT)]
    return ["sh", "-c", READ_SH, "sh", *args, *roots]


def read_argv(req: ReadRequest, roots: list[str]) -> list[str]:
    """The argv that reads the file (roots: personal_roots)."""
    return _argv(req.path, req.mode, roots, req)


def stat_argv(path: str, roots: list[str]) -> list[str]:
    return _argv(path, "stat", roots)


# -- what came back -------------------------------------------------------------------------------


def escape_text(data: bytes) -> str:
    """Bytes as text a model can read safely: control characters and non-UTF-8 bytes written as escapes."""
    text = data.decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1], text)


class FileStat(BaseModel):
    path: str
    kind: Literal["file", "dir", "link", "other"]
    size: int
    modified: str  # ISO 8601, UTC
    mode: str  # octal permissions, e.g. 644
    owner: str
    group: str
    binary: bool | None = None  # regular files: a NUL byte in the first 8 KiB


class FileRead(BaseModel):
    path: str
    mode: ReadMode
    size: int
    modified: str
    lines: Table  # columns line (number, or null past COUNT_MAX) and text
    shown_bytes: int
    truncated: bool  # more lies beyond what is shown, in the direction of the read
    next_offset: int | None = None  # pass as offset (same mode) to continue
    cut_lines: list[int] = []  # lines longer than what is shown of them


@dataclass
class _Output:
    markers: dict[str, str]
    data: bytes | None


def _markers(out: str) -> _Output:
    markers: dict[str, str] = {}
    data: bytes | None = None
    lines = out.split("\n")
    for i, line in enumerate(lines):
        if line == "@data":
            if i + 2 < len(lines) and lines[i + 2] == "@end":
                try:
                    data = base64.b64decode(lines[i + 1], validate=True)
                except (binascii.Error, ValueError):
                    data = None
            break
        if line.startswith("@"):
            key, _, value = line[1:].partition(" ")
            markers[key] = value
    return _Output(markers, data)


_KINDS = {0o100000: "file", 0o040000: "dir", 0o120000: "link"}


def _stat(platform: Platform, rel: str, given: str, o: _Output, node: str) -> FileStat:
    m = o.markers
    if "missing" in m:
        raise HpcError("E_NOT_FOUND", f"{given} does not exist on {node}.", "Check the path (manage_storage list).")
    if "outside" in m or "badname" in m:
        where = m.get("outside") or given
        raise HpcError(
            "E_NOT_YOURS",
            f"{given} resolves to {where}, outside your own folders (a symlink points out).",
            "Read a file inside your own folders; the link's target is not yours to read here.",
        )
    path = confine(platform, m.get("path", ""), rel)
    parts = m.get("stat", "").split(" ")
    if len(parts) != 6 or not parts[0].isdigit() or not parts[1].lstrip("-").isdigit():
        raise HpcError("E_REMOTE", f"stat of {path} on {node} gave no usable answer.", "Try again in a moment.")
    try:
        raw_mode = int(parts[2], 16)
        modified = datetime.fromtimestamp(int(parts[1]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        raise HpcError("E_REMOTE", f"stat of {path} on {node} gave no usable answer.", "Try again.") from None
    kind = _KINDS.get(raw_mode & 0o170000, "other")
    nul = m.get("nul")
    return FileStat(
        path=path,
        kind=kind,
        size=int(parts[0]),
        modified=modified,
        mode=parts[3],
        owner=parts[4],
        group=parts[5],
        binary=None if nul is None else nul.strip() != "0",
    )


def parse_stat(out: str, platform: Platform, rel: str, given: str, node: str) -> FileStat:
    """What stat_argv printed (the path is confined again here)."""
    return _stat(platform, rel, given, _markers(out), node)


def parse_read(out: str, req: ReadRequest, platform: Platform, rel: str, node: str) -> FileRead:
    """What read_argv printed: the lines shown, their numbers, and where to continue."""
    o = _markers(out)
    st = _stat(platform, rel, req.path, o, node)
    if st.kind != "file":
        what = {"dir": "folder", "link": "symbolic link"}.get(st.kind, "special file (a pipe, socket or device)")
        raise HpcError(
            "E_NOT_A_FILE",
            f"{st.path} is a {what}, not a file.",
            "Use manage_storage list on a folder; read its files.",
        )
    if "unreadable" in o.markers:
        raise HpcError("E_REMOTE", f"{st.path} is not readable on {node} (permissions).", "Check its permissions.")
    if st.binary:
        raise HpcError(
            "E_BINARY",
            f"{st.path} is a binary file ({st.size} bytes; it holds NUL bytes), so it is not shown as text.",
            "Copy it to this computer with transfer_data (destination local:/path) and open it there.",
        )
    start_text = o.markers.get("start", "")
    if o.data is None or not start_text.isdigit():
        raise HpcError("E_REMOTE", f"Reading {st.path} on {node} was cut off.", "Try again, or read fewer bytes.")
    start = int(start_text)
    base_text = o.markers.get("base")
    base = 0 if start == 0 else int(base_text) if base_text and base_text.isdigit() else None
    window = _Window(req, st.size, start, base, o.data)
    rows, next_offset, cut = window.match() if req.mode == "match" else window.lines()
    shown = sum(len(text.encode()) for _, text in rows)
    return FileRead(
        path=st.path,
        mode=req.mode,
        size=st.size,
        modified=st.modified,
        lines=Table(columns=["line", "text"], rows=[[n, t] for n, t in rows], total=len(rows)),
        shown_bytes=shown,
        truncated=next_offset is not None,
        next_offset=next_offset,
        cut_lines=[n for n in cut if n is not None],
    )


Row = tuple[int | None, str]


@dataclass(frozen=True)
class _Window:
    req: ReadRequest
    size: int
    start: int
    base: int | None  # newlines before start (None: not counted)
    data: bytes

    def _number(self, index: int) -> int | None:
        return None if self.base is None else self.base + 1 + index

    def lines(self) -> tuple[list[Row], int | None, list[int | None]]:
        return self._head() if self.req.mode == "head" else self._tail()

    def _fits(self, used: int, text: str, kept: int) -> tuple[bool, int]:
        """Whether one more line fits in lines and max_bytes (the first always does), and the bytes then used."""
        used += len(text.encode())
        return kept == 0 or (kept < self.req.lines and used <= self.req.max_bytes), used

    def _head(self) -> tuple[list[Row], int | None, list[int | None]]:
        pieces = self.data.split(b"\n")
        complete = [p + b"\n" for p in pieces[:-1]]
        if pieces[-1] and (not complete or self.start + len(self.data) >= self.size):
            complete.append(pieces[-1])  # the file's last line without a newline, or one line longer than max_bytes
        rows: list[Row] = []
        cut: list[int | None] = []
        end, used = self.start, 0
        for i, piece in enumerate(complete):
            text = escape_text(piece.rstrip(b"\n"))
            fits, used = self._fits(used, text, len(rows))
            if not fits:
                break
            rows.append((self._number(i), text))
            end += len(piece)
            if not piece.endswith(b"\n") and end < self.size:
                cut.append(self._number(i))
        return rows, (end if end < self.size else None), cut

    def _tail(self) -> tuple[list[Row], int | None, list[int | None]]:
        data = self.data[:-1] if self.data.endswith(b"\n") else self.data
        if not data:
            return [], (self.start if self.start > 0 else None), []
        pieces = data.split(b"\n")
        # The first piece may begin mid-line (unless the window starts the file): the next read backwards
        # shows it whole. A window of one piece is one line longer than max_bytes: its end is shown, cut.
        first = 1 if self.start > 0 and len(pieces) > 1 else 0
        cut = [self._number(0)] if self.start > 0 and len(pieces) == 1 else []
        kept: list[Row] = []
        used = 0
        offset = self.start + len(data) + 1
        for i in range(len(pieces) - 1, first - 1, -1):
            text = escape_text(pieces[i])
            fits, used = self._fits(used, text, len(kept))
            if not fits:
                break
            kept.append((self._number(i), text))
            offset -= len(pieces[i]) + 1
        return kept[::-1], (offset if offset > 0 else None), cut

    def match(self) -> tuple[list[Row], int | None, list[int | None]]:
        records = self.data.split(b"\n")
        ragged = records.pop() != b""  # the byte cap cut the last record
        parsed: list[tuple[int | None, int, bytes, bool]] = []
        for rec in records:
            m = _RECORD.match(rec)
            if m is None:
                continue
            number = None if self.base is None else self.base + int(m.group(1))
            parsed.append((number, int(m.group(2)), rec[m.end() :], len(rec) >= LINE_CUT))
        rows: list[Row] = []
        cut: list[int | None] = []
        used = 0
        for number, _, text, was_cut in parsed[: self.req.lines]:
            shown = escape_text(text)
            used += len(shown.encode())
            if rows and used > self.req.max_bytes:
                break
            rows.append((number, shown))
            if was_cut:
                cut.append(number)
        if len(parsed) > len(rows):
            return rows, self.start + parsed[len(rows)][1], cut
        if ragged and parsed:
            return rows, self.start + parsed[-1][1] + 1, cut
        return rows, None, cut
