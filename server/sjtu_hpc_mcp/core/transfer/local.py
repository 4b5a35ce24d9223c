"""Copies between the person's computer and a data node: the pure rules. No I/O; shell/local/ runs them.

- ids: the same copy asked for again gets the same id, so starting it again resumes it;
- partial files: `.<name>.sjtu-hpc-partial` next to the target, resumed from a chunk boundary;
- the plan: both sides' trees compared, what is copied, what exists already and what conflicts.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import HpcError

Direction = Literal["upload", "download"]
Kind = Literal["f", "d", "l", "o"]  # file, folder, symlink, other (fifo, socket, device)

PARTIAL_SUFFIX = ".sjtu-hpc-partial"
CHUNK = 1 << 20  # bytes per read/write call
DEPTH = 4  # chunks in flight per file
RESUME_BACKOFF = 2 * DEPTH * CHUNK  # writes can land out of order within the window: don't trust its tail


@dataclass(frozen=True)
class Stat:
    kind: Kind
    size: int = 0
    mtime: int = 0  # whole seconds: SFTP v3 carries no more
    mode: int = 0o644


@dataclass(frozen=True)
class PlanFile:
    path: str  # relative to the source; "" when the source is this file
    size: int
    mtime: int
    mode: int


@dataclass(frozen=True)
class Comparison:
    files: tuple[PlanFile, ...]
    dirs: tuple[str, ...]  # folders to create, parents first
    overwrites: list[str]  # destination files that exist with another size or mtime
    unchanged: int  # files already complete at the destination
    conflicts: list[str]  # a file where a folder goes, or the reverse
    skipped: list[str]  # symlinks inside the tree, fifos, sockets, devices


def local_transfer_id(node: str, direction: Direction, local: str, remote: str) -> str:
    """The same copy asked for again gets the same id: starting it again resumes it."""
    digest = hashlib.sha256(f"{node}\0{direction}\0{local}\0{remote}".encode()).hexdigest()[:12]
    return f"local-{digest}"


def partial_name(name: str) -> str:
    """`.<name>.sjtu-hpc-partial`, shortened with a hash when that would exceed 255 bytes."""
    full = f".{name}{PARTIAL_SUFFIX}"
    if len(full.encode("utf-8", "surrogateescape")) <= 255:
        return full
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    head = name.encode("utf-8", "surrogateescape")[:200].decode("utf-8", "ignore")
    return f".{head}~{digest}{PARTIAL_SUFFIX}"


def is_partial(name: str) -> bool:
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def link_target(root: str, rel: str, target: str) -> str:
    """Where a symlink at root/rel pointing to `target` leads, lexically (`..` folded)."""
    base = posixpath.dirname(posixpath.join(root, rel))
    return posixpath.normpath(posixpath.join(base, target))


def resume_offset(partial_size: int, source_size: int) -> int:
    """Where to continue a partial file: its size less the write window, on a chunk boundary."""
    if partial_size > source_size:
        return 0
    keep = max(0, partial_size - RESUME_BACKOFF)
    return keep - keep % CHUNK


def join(root: str, rel: str) -> str:
    return posixpath.join(root, rel) if rel else root


def compare(source: Mapping[str, Stat], dest: Mapping[str, Stat], source_is_dir: bool) -> Comparison:
    """What a copy does: `source` and `dest` map relative paths ("" is the root itself) to stats."""
    files: list[PlanFile] = []
    dirs: list[str] = []
    overwrites: list[str] = []
    conflicts: list[str] = []
    skipped: list[str] = []
    unchanged = 0
    for rel in sorted(source):
        s = source[rel]
        d = dest.get(rel)
        if s.kind == "d":
            if rel == "" and not source_is_dir:
                continue
            if d is not None and d.kind != "d":
                conflicts.append(rel or ".")
            elif d is None and rel:
                dirs.append(rel)
            continue
        if s.kind != "f":
            skipped.append(rel)
            continue
        if d is not None and d.kind == "d":
            conflicts.append(rel or ".")
            continue
        files.append(PlanFile(rel, s.size, s.mtime, s.mode))
        if d is None:
            continue
        if d.kind == "f" and d.size == s.size and d.mtime == s.mtime:
            unchanged += 1
        else:
            overwrites.append(rel or ".")
    return Comparison(tuple(files), tuple(dirs), overwrites, unchanged, conflicts, skipped)


def not_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# -- the plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalPlan:
    id: str
    node: str
    direction: Direction
    local: Path
    remote: str
    is_dir: bool
    files: tuple[PlanFile, ...]
    dirs: tuple[str, ...]
    bytes_total: int
    overwrites: list[str]  # relative paths ("." for a single file), all of them
    unchanged: int
    skipped: list[str]  # symlinks inside the tree and special files: not copied

    @property
    def source(self) -> str:
        return f"local:{self.local}" if self.direction == "upload" else self.remote

    @property
    def destination(self) -> str:
        return self.remote if self.direction == "upload" else f"local:{self.local}"

    @property
    def source_root(self) -> str:
        return str(self.local) if self.direction == "upload" else self.remote

    @property
    def dest_root(self) -> str:
        return self.remote if self.direction == "upload" else str(self.local)


def check_source(source: Mapping[str, Stat], src_root: str) -> None:
    """The scanned source may be copied: printable UTF-8 names, a file or folder at the top."""
    bad = next((rel for rel in source if not rel.isprintable() or not_utf8(rel)), None)
    if bad is not None:
        raise HpcError(
            "E_NAME",
            f"The name {bad!r} under {src_root} holds a control character or is not UTF-8.",
            "Rename it, or copy around it.",
        )
    if source[""].kind not in ("d", "f"):
        raise HpcError("E_PATH", f"{src_root} is neither a file nor a folder.", "Name a file or folder.")


def make_plan(
    node: str,
    direction: Direction,
    local: Path,
    remote: str,
    source: Mapping[str, Stat],
    dest: Mapping[str, Stat],
) -> LocalPlan:
    """The plan from both scanned sides (relative path -> stat, "" the root): refused on a type conflict."""
    src_root, dst_root = (str(local), remote) if direction == "upload" else (remote, str(local))
    is_dir = source[""].kind == "d"
    top = dest.get("")
    if top is not None and is_dir and top.kind != "d":
        raise HpcError(
            "E_DEST_NOT_DIR", f"{dst_root} exists and is not a folder.", "Name a folder (it may not exist yet)."
        )
    if top is not None and not is_dir and top.kind == "d":
        raise HpcError(
            "E_DEST_IS_DIR",
            f"{dst_root} is a folder; the destination is the file's own path.",
            f"Name the file's path inside it: {join(dst_root, posixpath.basename(src_root))}.",
        )
    c = compare(source, dest, is_dir)
    if c.conflicts:
        shown = ", ".join(c.conflicts[:5])
        raise HpcError(
            "E_TYPE_CONFLICT",
            f"{len(c.conflicts)} path(s) are a file on one side and a folder on the other ({shown}).",
            "Rename or remove them at the destination, or copy to a new folder.",
        )
    return LocalPlan(
        id=local_transfer_id(node, direction, str(local), remote),
        node=node,
        direction=direction,
        local=local,
        remote=remote,
        is_dir=is_dir,
        files=c.files,
        dirs=c.dirs,
        bytes_total=sum(f.size for f in c.files),
        overwrites=c.overwrites,
        unchanged=c.unchanged,
        skipped=c.skipped,
    )
