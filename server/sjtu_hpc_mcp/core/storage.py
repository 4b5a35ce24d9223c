"""Storage acts on a data node (list, usage, mkdir, remove): the scripts and what their output means. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel

from .account import human_bytes
from .transfer import Entry

USAGE_S = 20  # du is cut off after this; the figure is then a lower bound
REMOVE_SCAN_S = 20

# `sh -c SCRIPT sh ARG…`: values are positional arguments, never code.
LIST_SH = r"""
d=$1; n=$2
[ -e "$d" ] || { echo missing; exit 0; }
if [ ! -d "$d" ]; then find "$d" -maxdepth 0 -printf '%f\t%y\t%s\t%T@\0'; printf '\0@total\n1'; exit 0; fi
find "$d" -mindepth 1 -maxdepth 1 -printf '%P\t%y\t%s\t%T@\0' 2>/dev/null | LC_ALL=C sort -z | head -z -n "$n"
printf '\0@total\n'; find "$d" -mindepth 1 -maxdepth 1 -printf x 2>/dev/null | wc -c
"""

USAGE_SH = r"""
timeout "$2" du -b -d 1 -- "$1" 2>/dev/null; echo "@rc $?"
"""

SCAN_SH = r"""
[ -e "$1" ] || [ -L "$1" ] || { echo missing; exit 0; }
[ -d "$1" ] || { find "$1" -maxdepth 0 -printf '%y %s %f\0'; printf '\0@rc\n0'; exit 0; }
timeout "$2" find "$1" -mindepth 1 -printf '%y %s %P\0' 2>/dev/null; printf '\0@rc\n%s' $?
"""


class DirEntry(BaseModel):
    name: str
    kind: str
    size: int
    modified: str


def _kind(letter: str) -> str:
    return {"d": "dir", "f": "file", "l": "link"}.get(letter, "other")


def parse_list(out: str) -> tuple[list[DirEntry], int]:
    body, _, total = out.partition("\0@total\n")
    entries: list[DirEntry] = []
    for rec in body.split("\0"):
        parts = rec.rsplit("\t", 3)  # the name first (sorted by), which may itself hold a tab
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        try:
            stamp = datetime.fromtimestamp(float(parts[3]), UTC).strftime("%Y-%m-%d %H:%M")
        except (ValueError, OverflowError):  # a time no calendar holds (some file systems allow it)
            stamp = ""
        entries.append(DirEntry(name=parts[0], kind=_kind(parts[1]), size=int(parts[2]), modified=stamp))
    count = int(total.strip()) if total.strip().isdigit() else len(entries)
    return entries, count


class Usage(BaseModel):
    path: str
    bytes: int
    size: str | None = None
    complete: bool
    largest: list[tuple[str, int]] = []


def parse_usage(out: str, path: str, limit: int = 10) -> Usage:
    """`du -b -d 1` lines and its exit code; cut off by the time bound, the sum of what finished."""
    rc = 0
    rows: list[tuple[str, int]] = []
    for line in out.splitlines():
        if line.startswith("@rc "):
            rc = int(line[4:]) if line[4:].strip().isdigit() else 1
            continue
        size, _, name = line.partition("\t")
        if size.isdigit():
            rows.append((name, int(size)))
    total = next((n for name, n in rows if name.rstrip("/") == path.rstrip("/")), None)
    children = [(name.rsplit("/", 1)[-1], n) for name, n in rows if name.rstrip("/") != path.rstrip("/")]
    complete = rc == 0 and total is not None
    figure = total if total is not None else sum(n for _, n in children)
    largest = sorted(children, key=lambda r: -r[1])[:limit]
    return Usage(path=path, bytes=figure, size=human_bytes(figure), complete=complete, largest=largest)


class RemovalPreview(BaseModel):
    path: str
    files: int
    dirs: int
    bytes: int
    size: str | None = None
    first: list[str] = []
    complete: bool


def parse_scan(out: str, path: str, entries: Sequence[Entry], limit: int = 20) -> RemovalPreview:
    rc = out.rpartition("\0@rc\n")[2].strip()
    files = [e for e in entries if e.kind != "d"]
    total = sum(e.size for e in files)
    return RemovalPreview(
        path=path,
        files=len(files),
        dirs=sum(1 for e in entries if e.kind == "d"),
        bytes=total,
        size=human_bytes(total),
        first=sorted(e.path for e in entries)[:limit],
        complete=rc == "0",
    )
