"""Transfers between storage pools on a data node. Pure: no I/O.

- where the two ends are (`lustre:results`, `cold`, `/archive/home/…`, `local:/…`) and their checks;
- the rsync argv of each stream, split by size, and the driver script that runs them in tmux;
- reading back what the driver left in its state folder: progress, exit codes and their causes.

Fixed safety policy, not parameters: never `--delete`; without consent `--ignore-existing`, so no
existing destination file changes; partial files wait in a hidden folder, never under a real name;
a move deletes its source only after a checksum comparison found no difference.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from .errors import HpcError
from .platform import Platform, normalize_path
from .policy import check_streams, confine, default_streams, personal_root, resolve_personal

STATE_DIR = ".sjtu-hpc-mcp/transfers"  # under the login home of the data node
PARTIAL_DIR = ".sjtu-hpc-partial"  # + "-<id>": rsync keeps interrupted files here, in each destination folder
ARGS_MAX = 32 * 1024  # a stream's units go on its command line up to this many bytes, else in a --files-from list
SESSION_PREFIX = "mcp-xfer-"
ID_RE = re.compile(r"^(data|sydata)-[0-9a-f]{12}$")
LOCAL_ID_RE = re.compile(r"^local-[0-9a-f]{12}$")
POOL_NAMES = ("lustre", "dssg", "archive", "vault", "union")
VERIFY_FAILED = 200  # the driver's own exit codes: checksums differ, the source was kept;
SOURCE_KEPT = 201  # the copy was verified but the source could not be deleted
FILE_COST = 32 * 1024  # a file costs this much more than its bytes when streams are balanced (open, create, metadata)
MAX_LISTED = 50

Mode = Literal["copy", "move"]
State = Literal["running", "done", "failed", "cancelled"]


# -- where the ends are ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One end as the model wrote it."""

    kind: Literal["path", "pool", "local"]
    path: str | None = None  # absolute (path, local) or relative to the personal folder (pool)
    pool: str | None = None  # "/lustre" … or "cold"


def parse_location(text: str) -> Spec:
    """`/abs/path`, `POOL`, `POOL:relative/path`, `cold`, `cold:relative/path` or `local:/path`."""
    if not text or any(c in text for c in "\x00\n\r"):
        raise HpcError("E_PATH", "The path is empty or holds a control character.", "Give a plain path.")
    head, sep, rest = text.partition(":")
    if head == "local" and sep:
        if not rest:
            raise HpcError("E_PATH", "local: needs a path.", "Give local:/absolute/path on this computer.")
        return Spec("local", path=rest)
    if text.startswith("/"):
        return Spec("path", path=text)
    if head == "cold" or head in POOL_NAMES:
        if sep and (rest.startswith("/") or rest.startswith("-")):
            raise HpcError("E_PATH", f"{rest!r} must be relative to your own folder.", f"Write {head}:folder/file.")
        return Spec("pool", path=(rest or None) if sep else None, pool=head if head == "cold" else "/" + head)
    raise HpcError(
        "E_PATH",
        f"{text!r} is neither an absolute path nor POOL:relative/path.",
        "Write /lustre/home/<account>/<user>/…, lustre:results, archive:results, cold, or local:/path.",
    )


def resolve_source(platform: Platform, spec: Spec, rel: str) -> str:
    """The absolute source path, confined to the person's folders. Cold data without a pool: /union."""
    if spec.kind == "path":
        assert spec.path is not None
        return confine(platform, spec.path, rel)
    if spec.kind == "pool":
        if spec.path is None:
            raise HpcError("E_PATH", "The source names a pool but no folder.", "Write e.g. lustre:results.")
        pool = platform.cold_view if spec.pool == "cold" else spec.pool
        assert pool is not None
        return resolve_personal(platform, pool, spec.path, rel)
    raise HpcError("E_PATH", "A local source needs a remote destination.", "Give a pool or path as destination.")


def resolve_destination(platform: Platform, spec: Spec, source: str, rel: str, cold_pool: str | None) -> str:
    """The absolute destination. A bare pool (or `cold`) means the source's own path in that pool."""
    if spec.kind == "path":
        assert spec.path is not None
        return confine(platform, spec.path, rel)
    if spec.kind != "pool":
        raise HpcError("E_PATH", "A local destination needs a remote source.", "Give a pool or path as source.")
    pool = spec.pool
    if pool == "cold":
        if cold_pool is None:
            raise HpcError("E_DF", "No cold pool was chosen.", "Try again.")
        pool = cold_pool
    assert pool is not None
    if spec.path is not None:
        return resolve_personal(platform, pool, spec.path, rel)
    inside = normalize_path(source)[len(personal_root(platform, source, rel)) :]
    return confine(platform, personal_root(platform, pool, rel) + inside, rel)


def resolve_storage_path(platform: Platform, spec: Spec, rel: str) -> str:
    """A path for a storage act: a bare pool is the person's own folder there; cold data is read via /union."""
    if spec.kind == "pool" and spec.path is None:
        pool = platform.cold_view if spec.pool == "cold" else spec.pool
        assert pool is not None
        return personal_root(platform, pool, rel)
    return resolve_source(platform, spec, rel)


def transfer_id(node: str, source: str, destination: str, mode: Mode) -> str:
    """The same transfer asked for again gets the same id: starting it again resumes it."""
    digest = hashlib.sha256(f"{node}\0{source}\0{destination}\0{mode}".encode()).hexdigest()[:12]
    return f"{node.split('.', 1)[0]}-{digest}"


def node_of_id(platform: Platform, transfer: str) -> str:
    if not ID_RE.fullmatch(transfer):
        raise HpcError("E_ARG", f"{transfer!r} is not a transfer id.", "Use an id from transfer_data list or start.")
    short = transfer.split("-", 1)[0]
    return next(n for n in platform.data_nodes if n.split(".", 1)[0] == short)


def session_name(transfer: str) -> str:
    return SESSION_PREFIX + transfer


# -- what is to be copied ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    kind: Literal["f", "d", "l"]
    size: int
    path: str  # relative to the source folder ("" for a single file)


def parse_find(out: str) -> list[Entry]:
    """`find SRC -mindepth 1 -printf '%y %s %P\\0'` -> entries (other file types count as files)."""
    entries: list[Entry] = []
    for rec in out.split("\0"):
        kind, _, rest = rec.partition(" ")
        size, _, path = rest.partition(" ")
        if not path or not size.isdigit():
            continue
        entries.append(Entry("d" if kind == "d" else "l" if kind == "l" else "f", int(size), path))
    return entries


_ESC = re.compile(r"\\#([0-7]{3})")
_ITEM = re.compile(r"^([<>ch.*][fdLDS][^ ]{9}) (\d+) (.*)$")


@dataclass(frozen=True)
class Itemized:
    changes: str
    size: int
    path: str

    @property
    def is_new(self) -> bool:
        return set(self.changes[2:]) == {"+"}

    @property
    def transfers(self) -> bool:
        return self.changes[0] in "<>c"

    @property
    def changes_existing_file(self) -> bool:
        return self.changes[1] in "fL" and not self.is_new


def parse_itemized(out: str) -> list[Itemized]:
    """`rsync -n -i --out-format='%i %l %n'` lines; rsync writes odd bytes in names as \\#ooo."""
    items: list[Itemized] = []
    for line in out.split("\n"):  # not splitlines(): a name may hold U+2028 and the like, printed raw
        m = _ITEM.match(line)
        if m:
            items.append(Itemized(m.group(1), int(m.group(2)), _unescape(m.group(3)).rstrip("/")))
    return items


def _unescape(name: str) -> str:
    """\\#ooo is one byte of the name (in the C locale every non-ASCII byte): UTF-8 names decode whole."""
    parts = _ESC.split(name)  # text, octal, text, octal, …
    raw = b"".join(
        bytes([int(p, 8) & 0xFF]) if i % 2 else p.encode("utf-8", "surrogateescape") for i, p in enumerate(parts)
    )
    return raw.decode("utf-8", "surrogateescape")


def entries_from_itemized(items: Sequence[Itemized]) -> list[Entry]:
    out: list[Entry] = []
    for it in items:
        if it.transfers and it.path not in ("", "."):
            kind: Literal["f", "d", "l"] = "d" if it.changes[1] == "d" else "l" if it.changes[1] == "L" else "f"
            out.append(Entry(kind, it.size if kind != "d" else 0, it.path))
    return out


# An itemized line of a file or symlink whose content differs or is missing (not only its attributes:
# a cold NFS may force a group or permissions, and that must not fail every move).
CONTENT_DIFF = "^[<>ch][fL]"


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def copy_units(entries: Sequence[Entry], streams: int) -> dict[str, tuple[int, int, int]]:
    """The tree cut into units a stream copies with `rsync -r`: folders whole where possible, else files.

    Listing every file in `--files-from` costs rsync far more than recursing into folders (measured on
    the lab: one stream of 20,000 listed files ran at 0.7× a plain `rsync -a`), so the cut starts at
    the top-level entries and splits the heaviest folder into its children only while there are
    fewer units than streams, or one unit is heavier than a stream's share. Returns unit -> (cost,
    files, bytes), where cost is the bytes plus a per-file cost.
    """
    files = [e for e in entries if e.kind != "d"]
    children: dict[str, set[str]] = {}
    weight: dict[str, list[int]] = {}  # path -> [cost, files, bytes] of everything under it (or itself)
    for e in entries:
        path = e.path
        while True:
            parent = _parent(path)
            children.setdefault(parent, set()).add(path)
            if parent == "":
                break
            path = parent
    for e in files:
        path = e.path
        while path:
            w = weight.setdefault(path, [0, 0, 0])
            w[0] += e.size + FILE_COST
            w[1] += 1
            w[2] += e.size
            path = _parent(path)
    total = sum(e.size + FILE_COST for e in files)
    units = set(children.get("", ()))
    share = total / max(1, streams)
    while True:
        splittable = [u for u in units if children.get(u)]
        if not splittable:
            break
        heaviest = max(splittable, key=lambda u: (weight.get(u, [0])[0], u))
        if len(units) >= streams and weight.get(heaviest, [0])[0] <= share:
            break
        units.remove(heaviest)
        units |= children[heaviest]
    return {u: (w[0], w[1], w[2]) for u in sorted(units) for w in [weight.get(u, [0, 0, 0])]}


def split_streams(units: Mapping[str, tuple[int, int, int]], streams: int) -> list[list[str]]:
    """Units balanced over the streams by their cost (heaviest first to the lightest stream)."""
    n = max(1, min(streams, len(units)))
    heap = [(0, i) for i in range(n)]
    lists: list[list[str]] = [[] for _ in range(n)]
    for path, (cost, _, _) in sorted(units.items(), key=lambda kv: (-kv[1][0], kv[0])):
        load, i = heapq.heappop(heap)
        lists[i].append(path)
        heapq.heappush(heap, (load + cost, i))
    return [lst for lst in lists if lst] or [[]]


def file_list(paths: Sequence[str]) -> bytes:
    """A `--files-from --from0` list: any name, newlines included."""
    return b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)


# -- what runs on the node --------------------------------------------------------------------------


def partial_dir(transfer: str) -> str:
    """Per transfer: a resume finds its own partial files, and every stream's command line names its id."""
    return f"{PARTIAL_DIR}-{transfer}"


def _rsync_base(transfer: str, overwrite: bool, bwlimit_kib: int) -> list[str]:
    argv = ["rsync", "-a", f"--partial-dir={partial_dir(transfer)}", "--info=progress2", "--no-human-readable"]
    if bwlimit_kib > 0:
        argv.append(f"--bwlimit={bwlimit_kib}")
    return argv if overwrite else [*argv, "--ignore-existing"]


def stream_argvs(
    meta: Meta, folder: str, lists: Sequence[Sequence[str]], bwlimit_kib: int = 0
) -> tuple[list[list[str]], dict[str, bytes]]:
    """Each stream's rsync argv, and the --files-from lists the longer ones need (path -> content).

    A stream's units go on its command line (`-R SRC/./unit`): measured on the lab, a --files-from
    costs rsync about a tenth more CPU. Only a stream whose units would make a long command line
    reads them from a list. One stream of a folder is a plain recursive copy; a file is copied as itself.
    """
    base = _rsync_base(meta.id, meta.overwrite, bwlimit_kib)
    src, dst = meta.source, meta.destination
    if not meta.is_dir:
        return [[*base, "--", src, dst]], {}
    if len(lists) == 1 and not lists[0]:
        return [[*base, "--", src + "/", dst + "/"]], {}
    argvs: list[list[str]] = []
    files: dict[str, bytes] = {}
    for i, units in enumerate(lists):
        if sum(len(u) + len(src) + 4 for u in units) <= ARGS_MAX:
            argvs.append([*base, "-R", "--", *(f"{src}/./{u}" for u in units), dst + "/"])
        else:
            path = f"{folder}/list.{i}"
            files[path] = file_list(units)
            argvs.append([*base, "-r", f"--files-from={path}", "--from0", "--", src + "/", dst + "/"])
    return argvs, files


def dry_run_argv(source: str, destination: str, is_dir: bool) -> list[str]:
    """What a copy would do, item by item; changes nothing."""
    ends = [source + "/", destination + "/"] if is_dir else [source, destination]
    return ["rsync", "-a", "-n", "--itemize-changes", "--out-format=%i %l %n", "--", *ends]


def verify_argv(source: str, destination: str, is_dir: bool) -> list[str]:
    """A checksum comparison: any file it lists differs (or is missing) at the destination."""
    ends = [source + "/", destination + "/"] if is_dir else [source, destination]
    return ["rsync", "-a", "-c", "-n", "--itemize-changes", "--out-format=%i %l %n", "--", *ends]


def find_argv(source: str) -> list[str]:
    return ["find", source, "-mindepth", "1", "-printf", "%y %s %P\\0"]


class Meta(BaseModel):
    """The state folder's meta.json: what a fresh server needs to report on the transfer."""

    id: str = Field(pattern=ID_RE.pattern)
    node: str
    mode: Mode
    source: str
    destination: str
    is_dir: bool
    overwrite: bool
    streams: int
    files: int
    bytes: int
    stream_files: list[int]
    stream_bytes: list[int]
    started: float
    run: int = 1
    cold_choice: str | None = None

    @model_validator(mode="after")
    def _one_figure_per_stream(self) -> Meta:
        if not len(self.stream_files) == len(self.stream_bytes) == self.streams:
            raise ValueError("one file count and one byte count per stream")
        return self


def driver_script(meta: Meta, folder: str, argvs: Sequence[Sequence[str]]) -> str:
    """The shell script tmux runs: the streams in parallel, their exit codes, then a move's checks.

    Every value is quoted with shlex; nothing the model wrote is ever interpreted by the shell.
    """
    q = shlex.quote
    d = q(folder)
    mkdir = meta.destination if meta.is_dir else posixpath.dirname(meta.destination)
    lines = [
        "#!/bin/sh",
        f"# sjtu-hpc-mcp transfer {meta.id} ({meta.mode}), run {meta.run}",
        f"D={d}",
        'echo $$ > "$D/pid"',
        'date +%s.%N > "$D/started"',
        f'mkdir -p -- {q(mkdir)} 2> "$D/log.0" || {{ echo 3 > "$D/rc.0"; echo 3 > "$D/rc.tmp"; '
        'mv "$D/rc.tmp" "$D/rc"; exit 3; }',
        "rc=0",
    ]
    for i, argv in enumerate(argvs):
        lines.append(f'{shlex.join(argv)} > "$D/log.{i}" 2>&1 < /dev/null & p{i}=$!; echo $p{i} > "$D/pid.{i}"')
    for i in range(len(argvs)):
        lines.append(f'wait $p{i}; r=$?; echo $r > "$D/rc.{i}"; [ $r -eq 0 ] || rc=$r')
    if meta.mode == "move":
        lines += [
            "if [ $rc -eq 0 ]; then",
            f'  {shlex.join(verify_argv(meta.source, meta.destination, meta.is_dir))} > "$D/verify.out" 2>&1; r=$?',
            f'  if [ $r -eq 0 ] && ! grep -q "{CONTENT_DIFF}" "$D/verify.out"; then',
            f'    rm -rf -- {q(meta.source)} && date +%s > "$D/source_removed" || rc={SOURCE_KEPT}',
            f"  else rc={VERIFY_FAILED}; fi",
            "fi",
        ]
    lines += ['date +%s.%N > "$D/ended"', 'echo $rc > "$D/rc.tmp"', 'mv "$D/rc.tmp" "$D/rc"', ""]
    return "\n".join(lines)


# Constant scripts run with `sh -c SCRIPT sh ARG…`: the values are positional arguments, never code.

PROBE_SH = r"""
printf 'home %s\n' "$(cd && pwd -P)"
for p in "$@"; do printf 'df %s %s\n' "$p" "$(df -P -B1 -- "$p" 2>/dev/null | awk 'NR==2 {print $4}')"; done
"""

EXISTING_SH = r"""
for p; do [ -e "$p" ] && printf '%s\n' "$p"; done; exit 0
"""

INSPECT_SH = r"""
src=$(realpath -e -- "$1" 2>/dev/null) || { echo "missing"; exit 0; }
dst=$(realpath -m -- "$2")
if [ -d "$src" ]; then t=dir; else t=file; fi
if [ -d "$dst" ]; then e=dir; elif [ -e "$dst" ]; then e=file; else e=none; fi
printf '%s\0%s\0%s\0%s\0' "$t" "$e" "$src" "$dst"
"""

START_SH = r"""
D=$1; S=$2
if tmux has-session -t "=$S" 2>/dev/null; then echo running; exit 0; fi
rm -f "$D/rc" "$D/started" "$D/ended" "$D/cancelled" "$D"/rc.* "$D"/pid.* "$D/verify.out" "$D/source_removed"
tmux new-session -d -s "$S" "sh '$D/run.sh'" && echo started
"""

STATUS_SH = r"""
D=$1; S=$2; n=${3:-0}
[ -f "$D/meta.json" ] || { echo "unknown"; exit 0; }
i=0
while [ "$i" -lt "$n" ] && [ ! -f "$D/rc" ] && [ ! -f "$D/cancelled" ]; do sleep 0.1; i=$((i + 1)); done
if tmux has-session -t "=$S" 2>/dev/null; then printf '\0@session\n1'; else printf '\0@session\n0'; fi
for f in meta.json rc cancelled started ended source_removed; do
  [ -f "$D/$f" ] && { printf '\0@%s\n' "$f"; head -c 65536 "$D/$f"; }
done
for f in "$D"/rc.* "$D"/log.*; do [ -f "$f" ] && { printf '\0@%s\n' "${f##*/}"; tail -c 4096 "$f"; }; done
printf '\0@now\n'; date +%s.%N
"""

LIST_SH = r"""
cd "$1" 2>/dev/null || exit 0
printf '\0@sessions\n'; tmux ls -F '#{session_name}' 2>/dev/null
printf '\0@now\n'; date +%s.%N
for t in $(ls -1t | head -n "$2"); do
  for f in meta.json rc cancelled started ended source_removed; do
    [ -f "$t/$f" ] && { printf '\0@%s/%s\n' "$t" "$f"; head -c 65536 "$t/$f"; }
  done
  [ -f "$t/rc" ] && continue
  for f in "$t"/rc.* "$t"/log.*; do [ -f "$f" ] && { printf '\0@%s\n' "$f"; tail -c 4096 "$f"; }; done
done
"""

CANCEL_SH = r"""
D=$1; S=$2
[ -f "$D/meta.json" ] || { echo "unknown"; exit 0; }
[ -f "$D/rc" ] && { echo "finished"; exit 0; }
date +%s.%N > "$D/cancelled"
tmux kill-session -t "=$S" 2>/dev/null
for sig in TERM KILL; do
  for f in "$D"/pid.*; do
    [ -f "$f" ] || continue; p=$(cat "$f")
    pkill -"$sig" -P "$p" 2>/dev/null; kill -"$sig" "$p" 2>/dev/null
  done
  sleep 0.3
done
left=0
for f in "$D"/pid.*; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && left=$((left + 1)); done
echo "cancelled $left"
"""


def sh_argv(script: str, *args: str) -> list[str]:
    return ["sh", "-c", script, "sh", *args]


def parse_probe(out: str) -> tuple[str, dict[str, int]]:
    home, free = "", {}
    for line in out.splitlines():
        parts = line.split(" ")
        if parts[0] == "home" and len(parts) >= 2:
            home = line[5:]
        elif parts[0] == "df" and len(parts) == 3 and parts[2].isdigit():
            free[parts[1]] = int(parts[2])
    if not home:
        raise HpcError("E_HOME", "The data node did not report your home folder.", "Try again in a moment.")
    return home, free


@dataclass(frozen=True)
class Inspected:
    is_dir: bool
    dest_exists: Literal["dir", "file", "none"]
    source: str
    destination: str


def parse_inspect(out: str, source: str) -> Inspected:
    parts = out.split("\0")
    if out.strip() == "missing" or len(parts) < 4:
        raise HpcError(
            "E_NOT_FOUND", f"{source} does not exist on the data node.", "Check the path (manage_storage list)."
        )
    e = parts[1]
    return Inspected(parts[0] == "dir", e if e in ("dir", "file") else "none", parts[2], parts[3])  # type: ignore[arg-type]


def sections(out: str) -> dict[str, str]:
    """The `\\0@name\\n…` framed output of the status and list scripts."""
    found: dict[str, str] = {}
    for chunk in out.split("\0@")[1:]:
        name, _, body = chunk.partition("\n")
        found[name] = body
    return found


# -- reading the state back -----------------------------------------------------------------------

_PROGRESS = re.compile(r"^\s*([\d,.']+)\s+(\d+)%\s+\S+\s+\S+(?:\s+\(xfr#(\d+),)?")

_CAUSES: dict[int, tuple[str, str]] = {
    1: ("rsync refused its arguments", "Report it: the server built a command rsync does not accept."),
    2: ("rsync versions are incompatible", "Report it to hpc@sjtu.edu.cn."),
    3: ("a source or destination folder could not be opened", "Check that both exist and you may write there."),
    5: ("rsync could not start", "Try again; report it if it persists."),
    10: ("a socket I/O error", "Start the transfer again; it resumes."),
    11: ("a file I/O error at the destination", "Check free space and permissions, then start again; it resumes."),
    12: ("the data stream broke (often a full destination or a killed process)", "Check free space; start again."),
    20: ("rsync was stopped by a signal", "Start the transfer again; it resumes where it stopped."),
    23: ("a partial transfer: some files could not be copied", "Read the errors, fix them, start again to resume."),
    24: ("some source files vanished while copying", "The source changed; start again when it is quiet."),
    30: ("a timeout sending or receiving data", "The storage stalled; start again to resume."),
    35: ("a timeout waiting for a connection", "Start again to resume."),
    127: ("rsync is not installed on the node", "Tell hpc@sjtu.edu.cn."),
    SOURCE_KEPT: (
        "the copy was verified but the source could not be deleted",
        "The destination is complete. Check the source's permissions, then delete it with manage_storage remove.",
    ),
    VERIFY_FAILED: (
        "verification failed: the destination differs from the source, so the source was kept",
        "Nothing was deleted. Start the move again (it copies what differs), or check the files with verify=true.",
    ),
}
_FULL = re.compile(r"No space left on device|Disk quota exceeded|quota", re.IGNORECASE)


def cause_of(code: int, errors: Sequence[str]) -> tuple[str, str]:
    if any(_FULL.search(e) for e in errors):
        return (
            "the destination is full or your quota is exhausted",
            "Free space (manage_storage free shows it), or copy to the other cold pool; start again to resume.",
        )
    return _CAUSES.get(code, (f"rsync exited with code {code}", "Read the errors; start again to resume."))


def _number(text: str) -> int:
    digits = re.sub(r"\D", "", text)
    return int(digits) if digits else 0


@dataclass(frozen=True)
class StreamProgress:
    bytes: int
    files: int


def last_progress(log: str) -> StreamProgress | None:
    for line in reversed(re.split(r"[\r\n]", log)):
        m = _PROGRESS.match(line)
        if m:
            return StreamProgress(_number(m.group(1)), int(m.group(3) or 0))
    return None


def error_lines(log: str, limit: int = 5) -> list[str]:
    """rsync's complaints in a stream's log; one may follow a progress update on the same line."""
    lines: list[str] = []
    for ln in re.split(r"[\r\n]", log):
        if _PROGRESS.match(ln):
            at = ln.find("rsync")
            if at < 0:
                continue
            ln = ln[at:]
        ln = ln.strip()
        if ln and ("rsync" in ln or "error" in ln.lower() or "denied" in ln):
            lines.append(ln[:300])
    return lines[-limit:]


class TransferStatus(BaseModel):
    id: str
    node: str
    state: State
    mode: Mode
    source: str
    destination: str
    streams: int
    files_total: int
    files_done: int
    bytes_total: int
    bytes_done: int
    percent: float
    rate_bytes_per_s: int | None = None
    eta_s: int | None = None
    started: str
    ended: str | None = None
    seconds: float | None = None
    exit_code: int | None = None
    cause: str | None = None
    fix: str | None = None
    errors: list[str] = []
    source_removed: bool | None = None
    run: int = 1
    survives_restart: bool = True
    cold_choice: str | None = None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(text: str | None) -> int | None:
    t = (text or "").strip()
    return int(t) if t.lstrip("-").isdigit() else None


def _time(text: str | None) -> float | None:
    try:
        return float((text or "").strip())
    except ValueError:
        return None


def read_status(found: Mapping[str, str], now: float | None = None) -> TransferStatus:
    """What the state folder says: the driver's exit codes, rsync's last progress lines, markers."""
    meta = Meta.model_validate_json(found["meta.json"])
    now = now if now is not None else (_time(found.get("now")) or 0.0)
    rc = _int(found.get("rc"))
    running = (found.get("session", "").strip() == "1") and rc is None
    done_bytes = done_files = 0
    errors: list[str] = []
    codes: list[int] = []
    for i in range(meta.streams):
        code = _int(found.get(f"rc.{i}"))
        log = found.get(f"log.{i}", "")
        errors += error_lines(log)
        if code == 0:
            done_bytes += meta.stream_bytes[i]
            done_files += meta.stream_files[i]
            continue
        if code is not None:
            codes.append(code)
        p = last_progress(log)
        if p is not None:
            done_bytes += min(p.bytes, meta.stream_bytes[i])
            done_files += min(p.files, meta.stream_files[i])
    state: State
    if rc == 0:
        state = "done"
    elif "cancelled" in found:
        state = "cancelled"
    elif running:
        state = "running"
    else:
        state = "failed"
    ended = _time(found.get("ended")) or _time(found.get("cancelled"))
    began = _time(found.get("started")) or meta.started
    elapsed = max(1e-3, (ended if ended and not running else now) - began)
    rate = int(done_bytes / elapsed) if done_bytes else None
    s = TransferStatus(
        id=meta.id,
        node=meta.node,
        state=state,
        mode=meta.mode,
        source=meta.source,
        destination=meta.destination,
        streams=meta.streams,
        files_total=meta.files,
        files_done=meta.files if state == "done" else done_files,
        bytes_total=meta.bytes,
        bytes_done=meta.bytes if state == "done" else done_bytes,
        percent=100.0 if state == "done" else round(100 * done_bytes / meta.bytes, 1) if meta.bytes else 0.0,
        rate_bytes_per_s=rate,
        eta_s=int((meta.bytes - done_bytes) / rate) if state == "running" and rate else None,
        started=_iso(began),
        seconds=round(elapsed, 3),
        ended=_iso(ended) if ended and state != "running" else None,
        exit_code=rc,
        errors=errors[-5:],
        source_removed=("source_removed" in found) if meta.mode == "move" else None,
        cold_choice=meta.cold_choice,
        run=meta.run,
    )
    if state == "failed":
        code = rc if rc not in (None, 0) else next(iter(codes), None)
        if code is None:
            s.cause = "interrupted: the driver on the node stopped before finishing (node restart or tmux killed)"
            s.fix = "Start the same transfer again; it resumes where it stopped."
        else:
            s.cause, s.fix = cause_of(code, errors)
    elif state == "cancelled":
        s.cause, s.fix = "cancelled; what was copied stays", "Start the same transfer again to resume it."
    return s


def read_list(found: Mapping[str, str], node: str, limit: int) -> list[TransferStatus]:
    """The list script's output -> statuses of the transfers this node ran, newest first."""
    sessions = set(found.get("sessions", "").split())
    now = _time(found.get("now")) or 0.0
    ids = list(dict.fromkeys(k.split("/", 1)[0] for k in found if k.endswith("/meta.json")))
    out: list[TransferStatus] = []
    for t in ids:
        parts = {k.split("/", 1)[1]: v for k, v in found.items() if k.startswith(t + "/")}
        parts["session"] = "1" if session_name(t) in sessions else "0"
        parts["now"] = str(now)
        try:
            st = read_status(parts)
        except (ValueError, IndexError):
            continue  # a state folder from another version, or half written: skip it
        if st.node == node:
            out.append(st)
    return sorted(out, key=lambda s: s.started, reverse=True)[:limit]


def overwrite_preview(items: Sequence[Itemized], limit: int, file_name: str = "(the file itself)") -> list[str]:
    """Existing destination files the copy would change (a single file's item has no path: its name)."""
    return [it.path or file_name for it in items if it.changes_existing_file][:limit]


def plan(
    tid: str,
    node: str,
    mode: Mode,
    ins: Inspected,
    entries: Sequence[Entry],
    streams: int | None,
    *,
    overwrite: bool,
    run: int,
    why: str | None,
    started: float,
) -> tuple[Meta, list[list[str]]]:
    """What the driver is to run: the files balanced over the streams, and the meta a status reads back."""
    files = {e.path: e.size for e in entries if e.kind != "d"}
    total = sum(files.values())
    n = check_streams(streams) if streams else default_streams(len(files), total)
    units = copy_units(entries, n) if ins.is_dir and n > 1 else {}
    lists = split_streams(units, n) if units else [[]]  # one stream: a plain recursive copy, no list
    per_stream = [[units[u] for u in lst] for lst in lists] if units else [[(0, len(files), total)]]
    return (
        Meta(
            id=tid,
            node=node,
            mode=mode,
            source=ins.source,
            destination=ins.destination,
            is_dir=ins.is_dir,
            overwrite=overwrite,
            streams=len(lists),
            files=len(files),
            bytes=total,
            stream_files=[sum(u[1] for u in us) for us in per_stream],
            stream_bytes=[sum(u[2] for u in us) for us in per_stream],
            started=started,
            run=run,
            cold_choice=why,
        ),
        lists,
    )


def differences(items: Sequence[Itemized], limit: int) -> list[str]:
    """Files whose content differs or is missing at the destination (attribute changes do not count)."""
    return [it.path or "(the file itself)" for it in items if re.match(CONTENT_DIFF, it.changes)][:limit]


def meta_json(meta: Meta) -> str:
    return json.dumps(meta.model_dump(), separators=(",", ":"))


# -- which pools an act involves ---------------------------------------------------------------------


def pool_of(platform: Platform, spec: Spec, role: str) -> str:
    """The storage root an end is on, before anything is resolved: enough to pick the data node."""
    if spec.kind == "path":
        assert spec.path is not None
        return platform.storage_of(spec.path).root
    if spec.pool == "cold":
        return platform.cold_view if role == "source" else platform.cold_pools[0]
    assert spec.pool is not None
    return spec.pool


def space_pools(platform: Platform) -> list[str]:
    """The pools whose free space a transfer may need (the union view over the cold pools is not one)."""
    return [root for root, st in platform.storage.items() if not st.union_of]
