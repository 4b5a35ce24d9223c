"""What is to be copied: the source tree cut into units and the units balanced over streams. Pure: no I/O.

At most `MAX_STREAMS` parallel streams per transfer (docs/platform.md#storage, docs/platform.md#rules;
the limit itself lives in core/policy.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

FILE_COST = 32 * 1024  # a file costs this much more than its bytes when streams are balanced (open, create, metadata)


@dataclass(frozen=True, slots=True)
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

    One pass over the entries: each is filed under its parent and a file's weight goes to its own folder
    only; folders then pass their weight up, deepest first. Nothing is kept per file but the entry itself
    (a 200,000-file tree: bench/bench_transfer.py --plan-files).
    """
    children: dict[str, list[Entry]] = {}
    folders: set[str] = set()  # every folder filed under its parent, listed or only implied by a path in it
    own: dict[str, list[int]] = {}  # folder -> [cost, files, bytes] of the files directly in it
    total = 0
    for e in entries:
        if e.kind == "d":
            if e.path in folders:
                continue
            folders.add(e.path)
        parent = _parent(e.path)
        children.setdefault(parent, []).append(e)
        if e.kind != "d":
            cost = e.size + FILE_COST
            total += cost
            w = own.setdefault(parent, [0, 0, 0])
            w[0] += cost
            w[1] += 1
            w[2] += e.size
        while parent and parent not in folders:  # a folder the listing did not name
            folders.add(parent)
            children.setdefault(_parent(parent), []).append(Entry("d", 0, parent))
            parent = _parent(parent)
    weight = {d: list(own.get(d, (0, 0, 0))) for d in folders}
    for d in sorted(folders, key=lambda p: p.count("/"), reverse=True):
        up = _parent(d)
        if up:
            for i, x in enumerate(weight[d]):
                weight[up][i] += x

    def of(e: Entry) -> tuple[int, int, int]:
        if e.kind == "d":
            c, n, b = weight[e.path]
            return c, n, b
        return e.size + FILE_COST, 1, e.size

    units = {e.path: e for e in children.get("", ())}
    share = total / max(1, streams)
    evening = 2 * streams  # cuts made only to even the streams out (each costs a dealing of all units)
    while True:
        splittable = [u for u, e in units.items() if e.kind == "d" and children.get(u)]
        if not splittable:
            break
        heaviest = max(splittable, key=lambda u: (weight[u][0], u))
        if len(units) >= streams and weight[heaviest][0] <= share:
            if evening == 0 or not _uneven(units, splittable, of, streams):
                break
            evening -= 1
        del units[heaviest]
        units.update((e.path, e) for e in children[heaviest])
    return {u: of(units[u]) for u in sorted(units)}


UNEVEN = 1.15  # the busiest stream may carry this much more than it must before another folder is cut


def _uneven(
    units: Mapping[str, Entry], splittable: Sequence[str], of: Callable[[Entry], tuple[int, int, int]], streams: int
) -> bool:
    """Would the busiest stream (units dealt as split_streams deals them) carry clearly more than it must?

    It must carry a stream's share, or the heaviest unit that cannot be cut. Whole folders dealt over the
    streams can be uneven: 5 equal folders over 4 streams give the busiest 2 of them, 1.6× its share.
    """
    costs = sorted((of(e)[0] for e in units.values()), reverse=True)
    loads = [0] * max(1, min(streams, len(costs)))
    for c in costs:
        heapq.heapreplace(loads, loads[0] + c)
    cut = set(splittable)
    must = max([sum(costs) / max(1, streams)] + [of(e)[0] for u, e in units.items() if u not in cut])
    return max(loads) > UNEVEN * must


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
