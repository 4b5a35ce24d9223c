"""Every rule in one place: which entry node serves a request, what is refused (consent: core/consent.py).

Pure functions over the platform tables; the tools ask here and never decide themselves.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import HpcError
from .platform import Platform, Storage, normalize_path, within

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
    """Jobs must never read cold storage (docs/platform.md#rules)."""
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


def refuse_job_paths_elsewhere(platform: Platform, group: str, paths: Mapping[str, str | None]) -> None:
    """A job's output, error and working folder lie in its group's hot storage (docs/platform.md#rules).

    Job data is visible only from the group's nodes: output in a compute node's /tmp or in another
    group's pool is lost to the person (and to job_output).
    """
    roots = platform.group(group).job_roots
    for field, path in paths.items():
        if not path or not path.startswith("/"):
            continue  # a relative path is refused by the option's own check
        norm = normalize_path(path)
        if not any(within(norm, r) for r in roots):
            raise HpcError(
                "E_JOB_PATH",
                f"The job's {field} {path[:200]!r} is outside the hot storage of node group {group} "
                f"({', '.join(roots)}).",
                f"Put it under {roots[0]}, e.g. in the person's home there, or leave it out for the default.",
            )


def time_limit_warnings(platform: Platform, partition: str, seconds: int | None) -> list[str]:
    """The docs' partition limits are hints, not rules: say so instead of refusing."""
    limit = platform.max_minutes_of(partition)
    if seconds is not None and seconds > limit * 60:
        return [f"{partition} allows at most {limit} minutes per the platform docs; Slurm may reject or shorten this."]
    return []


# -- data: personal paths, data nodes, cold pools, space (docs/platform.md#storage) ------------

# The most parallel streams the platform's docs allow for one transfer.
MAX_STREAMS = 10


def home_rel(home: str) -> str:
    """The personal part shared by every pool: /lustre/home/acct-hpc/u -> home/acct-hpc/u."""
    parts = normalize_path(home).strip("/").split("/")
    if len(parts) < 4 or parts[1] != "home":
        raise HpcError(
            "E_HOME",
            f"The login home {home!r} is not of the form /<pool>/home/<account>/<user>.",
            "Tell hpc@sjtu.edu.cn.",
        )
    return "/".join(parts[1:4])


def personal_root(platform: Platform, pool: str, rel: str) -> str:
    """The person's own folder in a pool: /archive + home/acct-hpc/u."""
    return platform.storage_of(pool).root + "/" + rel


def confine(platform: Platform, path: str, rel: str, *, allow_root: bool = True) -> str:
    """A normalised path inside the person's own folder of its pool, or a refusal.

    Call it on the path as given and again on the node's realpath of it (symlink escapes).
    """
    norm = normalize_path(path)
    try:
        st = platform.storage_of(norm)
    except HpcError:
        raise HpcError(
            "E_NOT_YOURS",
            f"{norm} is outside your own folders (after resolving .. and symlinks).",
            f"Use a path under /<pool>/{rel} (pools: {', '.join(platform.storage)}).",
        ) from None
    root = st.root + "/" + rel
    if norm == root:
        if not allow_root:
            raise HpcError(
                "E_PERSONAL_ROOT",
                f"{norm} is your personal root in {st.root}; this act is not allowed on it as a whole.",
                "Name a folder or file inside it.",
            )
        return norm
    if not norm.startswith(root + "/"):
        raise HpcError(
            "E_NOT_YOURS",
            f"{norm} is outside your own folder {root} (after resolving .. and symlinks).",
            f"Use a path under {root}.",
        )
    return norm


def resolve_personal(platform: Platform, pool_or_path: str, relative: str | None, rel: str) -> str:
    """`/abs/path`, or a pool (`lustre`, `/archive`) plus a path relative to the person's folder there."""
    if relative is None:
        return confine(platform, pool_or_path, rel)
    if relative.startswith("/") or any(c in relative for c in "\x00\n\r"):
        raise HpcError("E_PATH", f"{relative!r} is not a relative path.", "Give a path relative to your own folder.")
    base = personal_root(platform, _pool_root(platform, pool_or_path), rel)
    return confine(platform, posixpath.join(base, relative) if relative else base, rel)


def _pool_root(platform: Platform, pool: str) -> str:
    name = "/" + pool.strip("/")
    if name not in platform.storage:
        raise HpcError("E_POOL", f"Unknown storage pool {pool!r}.", "Use one of: " + ", ".join(platform.storage) + ".")
    return name


def data_route(platform: Platform, *paths: str) -> Route:
    """The data node for a transfer or storage act: one that reaches every pool involved.

    The node of the node group whose hot storage comes first wins (data for /lustre, sydata for
    /dssg); cold-only acts go to the first data node. Cold storage is written only from a data node.
    """
    pools = [platform.storage_of(p) for p in paths]
    preferred = [g.data_entry for st in pools for g in platform.groups.values() if g.name in st.groups]
    for node in dict.fromkeys([*preferred, *platform.data_nodes]):
        if all(node in st.writable_on for st in pools):
            group = next(g.name for g in platform.groups.values() if g.data_entry == node)
            roots = ", ".join(dict.fromkeys(st.root for st in pools))
            return Route(node, group, f"data node that reaches {roots}")
    raise HpcError(
        "E_NO_DATA_NODE",
        "No single data node reaches all of " + ", ".join(dict.fromkeys(st.root for st in pools)) + ".",
        "Copy in two steps through a pool both sides reach (e.g. cold storage).",
    )


def check_writable(platform: Platform, node: str, path: str) -> Storage:
    """Writes (cold storage above all) happen only where the table says the pool is writable."""
    st = platform.storage_of(path)
    if node not in st.writable_on:
        where = " and ".join(st.writable_on)
        raise HpcError(
            "E_READ_ONLY",
            f"{st.root} is read-only on {node}; it is written only from {where}.",
            "Use transfer_data or manage_storage, which run on a data node.",
        )
    return st


def cold_target(platform: Platform, free: Mapping[str, int], holding: Iterable[str] = ()) -> tuple[str, str]:
    """The cold pool to write, and why: the one with the most free space right now (docs/platform.md#rules).

    A pool that already holds this destination wins, so that asking again resumes the same copy
    instead of starting a second one in the other pool.
    """
    pools = platform.cold_pools
    held = [p for p in pools if p in set(holding)]
    if held:
        return held[0], f"{held[0]} already holds this path (an earlier copy): continuing there"
    missing = [p for p in pools if p not in free]
    if missing:
        raise HpcError("E_DF", "The free space of " + ", ".join(missing) + " is unknown.", "Try again in a moment.")
    best = max(pools, key=lambda p: free[p])
    figures = ", ".join(f"{p} {free[p] / 2**30:.2f} GiB free" for p in pools)
    return best, f"{best} has the most free space ({figures})"


def check_space(path: str, needed: int, free: int, quota_left: int | None = None) -> None:
    """Refuse before copying when the destination cannot hold what is to be copied."""
    if needed > free:
        raise HpcError(
            "E_NO_SPACE",
            f"{needed} bytes ({needed / 2**30:.2f} GiB) are to be copied but {path} has only {free} bytes "
            f"({free / 2**30:.2f} GiB) free.",
            "Free space there, pick another pool (destination cold picks the emptier one), or copy less.",
        )
    if quota_left is not None and needed > quota_left:
        raise HpcError(
            "E_QUOTA",
            f"{needed} bytes are to be copied but your quota leaves {max(quota_left, 0)} bytes on {path}.",
            "Free space within your quota (query_quota shows it) or copy less.",
        )


# Streams for a tree under 1 GiB: on storage where every file costs requests of half a millisecond (the lab's
# latency pools, README.md "Transfers"), 8 streams copied 20,000 small files 4.1-6.2x as fast as one rsync,
# 4 streams 3.6-3.8x; beyond 8 the server's slots, not the streams, set the pace (msrsync on NFS: 8 -> 16
# streams gave 12% more).
SMALL_TREE_STREAMS = 8


def default_streams(files: int, total_bytes: int) -> int:
    """Parallel rsyncs for a tree: one for a few files or one big file, more for many small ones."""
    if files < 64:
        return 1
    per_stream = max(1, files // 500)
    return max(2, min(SMALL_TREE_STREAMS if total_bytes < 2**30 else MAX_STREAMS, per_stream))


def check_transfer_ends(
    platform: Platform,
    node: str,
    rel: str,
    source: str,
    destination: str,
    source_is_dir: bool,
    dest_is_dir: bool,
    mode: str,
) -> tuple[str, str]:
    """The ends as the node resolved them: inside the person's folders, distinct, writable where written.

    A file copied onto an existing folder lands inside it under its own name. A move deletes its
    source, so it must be writable there and never a whole personal folder.
    """
    src = confine(platform, source, rel, allow_root=mode != "move")
    dst = confine(platform, destination, rel)
    if dest_is_dir and not source_is_dir:
        dst = posixpath.join(dst, posixpath.basename(src))
    if src == dst or dst.startswith(src + "/"):
        raise HpcError("E_SAME", f"{dst} is {src} or inside it.", "Copy to another place.")
    check_writable(platform, node, dst)
    if mode == "move":
        check_writable(platform, node, src)
    return src, dst


def check_streams(streams: int) -> int:
    if not 1 <= streams <= MAX_STREAMS:
        raise HpcError("E_ARG", f"streams must be 1 to {MAX_STREAMS}.", f"The platform allows at most {MAX_STREAMS}.")
    return streams


def confine_local(resolved: str, roots: Iterable[str]) -> str:
    """A path on the person's computer (symlinks already resolved) inside a folder they shared.

    The roots are the client's MCP roots and --local-root; without any, nothing local is allowed,
    so a model cannot reach the person's SSH keys or browser profile.
    """
    allowed = [posixpath.normpath(r) for r in roots]
    norm = posixpath.normpath(resolved)
    if not allowed:
        raise HpcError(
            "E_LOCAL_ROOT",
            "No local folder is shared with this server, so nothing on this computer can be read or written.",
            "Share a folder as an MCP root in the client, or start the server with --local-root FOLDER.",
        )
    for root in allowed:
        if within(norm, root):
            return norm
    raise HpcError(
        "E_LOCAL_ROOT",
        f"{norm} is outside the shared folders ({', '.join(allowed)}).",
        "Use a path inside a shared folder, or share its folder (MCP roots or --local-root).",
    )


# -- acts that change something: the audit trail and the read-only mode ------------------------------

# (tool, value of its act argument) -> the act; None: every call of the tool may change something.
CHANGING_ACTS: dict[tuple[str, str | None], str] = {
    ("run_slurm", "sbatch"): "sbatch",
    ("run_slurm", "scancel"): "scancel",
    ("transfer_data", "start"): "transfer_start",  # a copy, an overwrite (confirm) or a move
    ("transfer_data", "cancel"): "cancel_transfer",
    ("manage_storage", "mkdir"): "mkdir",
    ("manage_storage", "remove"): "remove",
    ("request_token", None): "token",
    ("request_certificate", None): "certificate",
    ("update_user", None): "update_user",
}
# The argument that says what a many-act tool does.
ACT_ARGUMENT = {"run_slurm": "command", "transfer_data": "action", "manage_storage": "action"}
_SECRET_NAME = re.compile(r"password|token|secret|private|passphrase", re.I)
_AUDIT_MAX_CHARS = 500


def changing_act(tool: str, arguments: Mapping[str, object]) -> str | None:
    """The act a call would do that changes something (a sbatch, a removal, a token…), or None for a read."""
    key = ACT_ARGUMENT.get(tool)
    value = arguments.get(key) if key else None
    return CHANGING_ACTS.get((tool, value if isinstance(value, str) else None))


def changing_values(tool: str) -> tuple[str | None, frozenset[str]]:
    """For the read-only mode: the act argument and its values that change something (None: the whole tool)."""
    if (tool, None) in CHANGING_ACTS:
        return None, frozenset()
    return ACT_ARGUMENT.get(tool), frozenset(v for t, v in CHANGING_ACTS if t == tool and v is not None)


def reads_and_acts(tool: str, values: Iterable[str]) -> tuple[list[str], list[str]]:
    """A many-act tool's values of its act argument: those that only read, those that change something."""
    _, changing = changing_values(tool)
    return [v for v in values if v not in changing], [v for v in values if v in changing]


def read_only_refusal(tool: str, act: str) -> HpcError:
    return HpcError(
        "E_READ_ONLY",
        f"This server runs read-only (--read-only): {tool} {act} would change something, so it was refused.",
        "Tell the person; they can do it themselves, or restart the server without --read-only.",
    )


def audit_arguments(arguments: Mapping[str, object]) -> dict[str, object]:
    """A call's arguments as the audit trail keeps them: secrets redacted, long texts (scripts) cut."""

    def shown(name: str, value: object) -> object:
        if isinstance(value, str) and _SECRET_NAME.search(name) and not name.endswith("_file"):
            return "(redacted)"
        if isinstance(value, str) and len(value) > _AUDIT_MAX_CHARS:
            return value[:_AUDIT_MAX_CHARS] + f"…({len(value)} chars)"
        if isinstance(value, Mapping):
            return {str(k): shown(str(k), v) for k, v in value.items()}
        return value

    return {k: shown(k, v) for k, v in arguments.items() if k != "approval"}


_OUTCOME_KEYS = ("status", "cancelled", "removed", "summary", "message")


def audit_outcome(is_error: bool, text: str, result: Mapping[str, object] | None) -> dict[str, object]:
    """What came of a call, in a few fields: the error's code and text, or the result's status and ids."""
    if is_error:
        return {"ok": False, "error": text[:_AUDIT_MAX_CHARS]}
    found: dict[str, object] = {"ok": True}
    result = result or {}
    for key in _OUTCOME_KEYS:
        value = result.get(key)
        if value is not None:
            found[key] = value[:_AUDIT_MAX_CHARS] if isinstance(value, str) else value
    for outer, inner in (("submission", "job_id"), ("transfer", "id"), ("transfer", "state")):
        part = result.get(outer)
        if isinstance(part, Mapping) and part.get(inner) is not None:
            found[f"{outer}_{inner}"] = part[inner]
    return found
