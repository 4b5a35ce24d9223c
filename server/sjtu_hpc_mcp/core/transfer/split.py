"""What is to be copied: the source tree cut into units and the units balanced over streams. Pure: no I/O.

At most `MAX_STREAMS` parallel streams per transfer (docs/platform.md#storage, docs/platform.md#rules;
the limit itself lives in core/policy.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

FILE_COST = 32 * 1024  # a file costs this much more than its bytes when streams are balanced (open, create, metadata)


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
