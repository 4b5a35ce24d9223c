"""Every rule in one place: which entry node serves a request, what is refused, what needs consent.

Pure functions over the platform tables; the tools ask here and never decide themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import HpcError
from .platform import Platform, normalize_path

# Acts that change or destroy something the person cares about: they need confirm=true.
DESTRUCTIVE_ACTS = frozenset({"scancel", "update_user", "delete", "overwrite"})
_COLD_VARS = ("ARCHIVE", "VAULT", "UNION")
_VAR_RE = re.compile(r"\$\{?(" + "|".join(_COLD_VARS) + r")\b\}?")
# Anything that looks like a path inside a script: a run of characters without shell separators.
_PATHISH_RE = re.compile(r"""[^\s'"`=:;|&<>(){},]*/[^\s'"`=:;|&<>(){},]*""")


@dataclass(frozen=True)
class Route:
    """Where a Slurm request runs, and why."""

    node: str
    group: str
    reason: str


def job_route(platform: Platform, partition: str | None = None, node_group: str | None = None) -> Route:
    """The login node for a job request, from the partition or the node group (never from the model)."""
    if partition is not None:
        group = platform.group_of_partition(partition)
        if node_group is not None and node_group != group.name:
            raise HpcError(
                "E_WRONG_GROUP",
                f"Partition {partition!r} belongs to node group {group.name} ({group.title}), not {node_group}; "
                f"a {node_group} login node cannot submit to it.",
                f"Use node_group={group.name!r} or a partition of {node_group}: "
                + ", ".join(platform.group(node_group).partitions)
                + ".",
            )
        return Route(group.job_entry, group.name, f"partition {partition} is in node group {group.name}")
    if node_group is not None:
        g = platform.group(node_group)
        return Route(g.job_entry, g.name, f"node group {g.name}")
    raise HpcError(
        "E_GROUP_NEEDED",
        "This request needs to know which cluster to ask.",
        "Give a partition, or node_group: pi (π 2.0/AI), kp (ARM) or sy (思源一号).",
    )


def check_partitions_in_group(platform: Platform, route: Route, partitions: Iterable[str]) -> None:
    """Every partition named in a filter must belong to the route's node group."""
    for p in partitions:
        group = platform.group_of_partition(p)
        if group.name != route.group:
            raise HpcError(
                "E_WRONG_GROUP",
                f"Partition {p!r} is in node group {group.name}, but this request runs on {route.node} "
                f"({route.group}).",
                f"Ask about {p} separately (node_group={group.name!r}).",
            )


def of_other_group(platform: Platform, route: Route, partition: str | None) -> bool:
    """A partition the table places in another node group: a login node never reports those.

    Partitions the table does not know are kept (the table may lag behind the platform).
    """
    if not partition:
        return False
    other = [g.name for g in platform.groups.values() if partition in g.partitions]
    return bool(other) and route.group not in other


def cold_paths_in(platform: Platform, text: str) -> list[str]:
    """Cold-storage references in a job script or option: /archive, /vault, /union (also via ..) and $ARCHIVE…"""
    found: list[str] = []
    for m in _VAR_RE.finditer(text):
        found.append(m.group(0))
    for m in _PATHISH_RE.finditer(text):
        token = m.group(0)
        if not token.startswith("/"):
            continue  # relative: resolved against hot storage (the job's folder)
        try:
            if platform.is_cold(normalize_path(token)):
                found.append(token)
        except HpcError:
            continue
    return list(dict.fromkeys(found))


def refuse_cold_reads(platform: Platform, *texts: str | None) -> None:
    """Jobs must never read cold storage (PLATFORM.md §4)."""
    hits: list[str] = []
    for t in texts:
        if t:
            hits += cold_paths_in(platform, t)
    if hits:
        raise HpcError(
            "E_COLD_STORAGE",
            "A job may not use cold storage; it refers to " + ", ".join(dict.fromkeys(hits))[:300] + ".",
            "Copy the data to hot storage first with transfer_data, then point the job at the hot copy.",
        )


def time_limit_warnings(platform: Platform, partition: str, seconds: int | None) -> list[str]:
    """The docs' partition limits are hints, not rules: say so instead of refusing."""
    limit = platform.max_minutes_of(partition)
    if seconds is not None and seconds > limit * 60:
        return [f"{partition} allows at most {limit} minutes per the platform docs; Slurm may reject or shorten this."]
    return []


def needs_confirmation(act: str) -> bool:
    return act in DESTRUCTIVE_ACTS
