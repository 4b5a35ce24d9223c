"""What runs on the data node: the meta a status reads back, the tmux driver script, the helper scripts.

Pure: this module writes the scripts and parses what they print; shell/data.py runs them for ops/transfers.py.
A move deletes its source only after a checksum comparison found no difference (docs/platform.md#storage).
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ..errors import HpcError
from ..policy import check_streams, default_streams
from .locations import ID_RE, Mode
from .rsync import CONTENT_DIFF, verify_argv
from .split import Entry, copy_units, split_streams

VERIFY_FAILED = 200  # the driver's own exit codes: checksums differ, the source was kept;
SOURCE_KEPT = 201  # the copy was verified but the source could not be deleted


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
    files = sum(1 for e in entries if e.kind != "d")
    total = sum(e.size for e in entries if e.kind != "d")
    n = check_streams(streams) if streams else default_streams(files, total)
    units = copy_units(entries, n) if ins.is_dir and n > 1 else {}
    lists = split_streams(units, n) if units else [[]]  # one stream: a plain recursive copy, no list
    per_stream = [[units[u] for u in lst] for lst in lists] if units else [[(0, files, total)]]
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
            files=files,
            bytes=total,
            stream_files=[sum(u[1] for u in us) for us in per_stream],
            stream_bytes=[sum(u[2] for u in us) for us in per_stream],
            started=started,
            run=run,
            cold_choice=why,
        ),
        lists,
    )


def meta_json(meta: Meta) -> str:
    return json.dumps(meta.model_dump(), separators=(",", ":"))
