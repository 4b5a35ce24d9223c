"""A typed view of platform.toml and the lookups every rule is built from.

The tables are explained in docs/platform.md#node-groups, docs/platform.md#partitions,
docs/platform.md#entry-nodes and docs/platform.md#storage.

Pure: the table is parsed from text; `load_platform()` reads the copy shipped in the package.
"""

from __future__ import annotations

import posixpath
import tomllib
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .errors import HpcError

Business = Literal["job", "data"]
GroupName = Literal["pi", "kp", "sy"]
StorageKind = Literal["hot", "cold"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NodeGroup(_Frozen):
    name: GroupName
    title: str
    partitions: tuple[str, ...]
    hot_storage: str
    job_entry: str
    data_entry: str
    # Where a job of this group may write its output and work: the hot storage unless the table says more.
    job_paths: tuple[str, ...] = ()

    @property
    def job_roots(self) -> tuple[str, ...]:
        return self.job_paths or (self.hot_storage,)


class Storage(_Frozen):
    root: str
    kind: StorageKind
    fs: str
    groups: tuple[GroupName, ...] = ()
    union_of: tuple[str, ...] = ()
    writable_on: tuple[str, ...]


class Platform(_Frozen):
    groups: dict[GroupName, NodeGroup]
    storage: dict[str, Storage]
    max_minutes: dict[str, int]

    # -- partitions and node groups ------------------------------------------------------

    @property
    def partitions(self) -> tuple[str, ...]:
        return tuple(p for g in self.groups.values() for p in g.partitions)

    def group(self, name: str) -> NodeGroup:
        try:
            return self.groups[name]  # type: ignore[index]
        except KeyError:
            known = ", ".join(self.groups)
            raise HpcError("E_GROUP", f"Unknown node group {name!r}.", f"Use one of: {known}.") from None

    def group_of_partition(self, partition: str) -> NodeGroup:
        for group in self.groups.values():
            if partition in group.partitions:
                return group
        raise HpcError(
            "E_PARTITION",
            f"Unknown partition {partition!r}.",
            "Use one of: " + ", ".join(self.partitions) + ".",
        )

    def max_minutes_of(self, partition: str) -> int:
        return self.max_minutes.get(partition, self.max_minutes["default"])

    # -- entry nodes ---------------------------------------------------------------------

    def entry_node(self, business: Business, group: str) -> str:
        g = self.group(group)
        return g.job_entry if business == "job" else g.data_entry

    @property
    def entry_nodes(self) -> tuple[str, ...]:
        nodes: list[str] = []
        for g in self.groups.values():
            for n in (g.job_entry, g.data_entry):
                if n not in nodes:
                    nodes.append(n)
        return tuple(nodes)

    @property
    def data_nodes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.data_entry for g in self.groups.values()))

    # -- storage -------------------------------------------------------------------------

    def storage_of(self, path: str) -> Storage:
        """The storage a path lives on, after normalising it (`/lustre/../archive` is cold)."""
        norm = normalize_path(path)
        for root, st in self.storage.items():
            if within(norm, root):
                return st
        raise HpcError(
            "E_PATH",
            f"{norm!r} is on none of the platform's storage.",
            "Use a path under " + ", ".join(self.storage) + ".",
        )

    def is_cold(self, path: str) -> bool:
        try:
            return self.storage_of(path).kind == "cold"
        except HpcError:
            return False

    def groups_of_path(self, path: str) -> tuple[GroupName, ...]:
        """Node groups whose hot storage holds the path; empty for cold storage."""
        return self.storage_of(path).groups

    @property
    def cold_pools(self) -> tuple[str, ...]:
        """The cold pools a write can go to (not the union view over them)."""
        return tuple(r for r, s in self.storage.items() if s.kind == "cold" and not s.union_of)

    @property
    def cold_view(self) -> str:
        """The union of the cold pools: where to look when no pool was named."""
        return next(r for r, s in self.storage.items() if s.union_of)

    def writable_on(self, node: str) -> tuple[str, ...]:
        return tuple(r for r, s in self.storage.items() if node in s.writable_on)

    def move_to_pool(self, path: str, pool: str) -> str:
        """The same personal path in another pool: /lustre/home/a/u -> /archive/home/a/u."""
        src = self.storage_of(path)
        dst = self.storage_of(pool)
        norm = normalize_path(path)
        return dst.root + norm[len(src.root) :]


def within(path: str, root: str) -> bool:
    """`path` is `root` or below it (both already normalised): `/lustre/x` is within `/lustre`, `/lustrefs` is not."""
    root = root.rstrip("/")
    return path == (root or "/") or path.startswith(root + "/")


def normalize_path(path: str) -> str:
    """An absolute, normalised POSIX path; refuses relative paths and control characters."""
    if not path or any(c in path for c in "\x00\n\r"):
        raise HpcError("E_PATH", "The path is empty or holds a control character.", "Give a plain absolute path.")
    if not path.startswith("/"):
        raise HpcError(
            "E_PATH", f"{path!r} is not absolute.", "Give an absolute path such as /lustre/home/acct-x/user/data."
        )
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/")


def parse_platform(text: str) -> Platform:
    raw = tomllib.loads(text)
    groups = {name: NodeGroup(name=name, **body) for name, body in raw["node_groups"].items()}
    storage = {root: Storage(root=root, **body) for root, body in raw["storage"].items()}
    return Platform(groups=groups, storage=storage, max_minutes=raw["max_minutes"])


@cache
def load_platform() -> Platform:
    text = resources.files(__package__).joinpath("platform.toml").read_text(encoding="utf-8")
    return parse_platform(text)
