"""Where a transfer's two ends are, its id and its tmux session. Pure: no I/O.

`lustre:results`, `cold`, `/archive/home/…` and `local:/…` resolve to absolute paths confined to the
person's own folders; a bare pool means the source's own path there; cold data asked about without a
pool is read through `/union` (docs/platform.md#storage, docs/platform.md#rules).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from ..errors import HpcError
from ..platform import Platform, normalize_path
from ..policy import confine, personal_root, resolve_personal

STATE_DIR = ".sjtu-hpc-mcp/transfers"  # under the login home of the data node
SESSION_PREFIX = "mcp-xfer-"
ID_RE = re.compile(r"^(data|sydata)-[0-9a-f]{12}$")
LOCAL_ID_RE = re.compile(r"^local-[0-9a-f]{12}$")
POOL_NAMES = ("lustre", "dssg", "archive", "vault", "union")

Mode = Literal["copy", "move"]
State = Literal["running", "done", "failed", "cancelled"]


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
