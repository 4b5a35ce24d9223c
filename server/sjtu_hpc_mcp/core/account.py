"""Account facts from the API's answers: homes, the account name, quotas for a person to read. Pure.

The API's exact user and quota formats are not published (docs/platform.md#api): parsing is tolerant,
known fields are lifted out and everything else is kept as received.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from pydantic import BaseModel, Field

from .errors import HpcError
from .platform import Platform
from .results import Table, table

SECRET_KEYS = re.compile(r"pass|secret|private|token", re.IGNORECASE)
_USERNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def check_username(user: str) -> str:
    if not _USERNAME.fullmatch(user):
        raise HpcError("E_ARG", f"{user!r} is not a platform username.", "Use the HPC account name, e.g. hpcrobot.")
    return user


def homes(platform: Platform, home: str) -> dict[str, str]:
    """`%H/home/acct-x/u` -> the home in every node group's hot storage."""
    out: dict[str, str] = {}
    for g in platform.groups.values():
        path = home.replace("%H", g.hot_storage) if "%H" in home else home
        out[g.name] = posixpath.normpath(path)
    return out


def account_of(home: str) -> str | None:
    """The account is the parent folder of the home: …/home/acct-hpc/hpcrobot -> acct-hpc."""
    parent = posixpath.basename(posixpath.dirname(posixpath.normpath(home)))
    return parent or None


def without_secrets(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not SECRET_KEYS.search(k)}


def human_bytes(n: float | int | None) -> str | None:
    if n is None:
        return None
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return None  # pragma: no cover


_UNIT = {
    "b": 1,
    "bytes": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": 1024**2,
    "mib": 1024**2,
    "gb": 1024**3,
    "gib": 1024**3,
    "tb": 1024**4,
    "tib": 1024**4,
}


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", v)
        if m and m.group(2).lower() in _UNIT | {"": 1}:
            return float(m.group(1)) * _UNIT.get(m.group(2).lower(), 1)
    return None


class QuotaLine(BaseModel):
    quota_type: str
    name: str
    filesystem: str
    used_bytes: float | None = None
    limit_bytes: float | None = None
    used: str | None = None
    limit: str | None = None
    percent: float | None = None
    files_used: int | None = None
    files_limit: int | None = None


def _pick(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d:
            return d[k]
    return None


def quota_lines(quota_type: str, name: str, answer: dict[str, Any]) -> list[QuotaLine]:
    """Lift the figures out of a quota answer, whatever its exact shape."""
    entries = _pick(answer, "quotas", "quota", "items", "data")
    if isinstance(entries, dict):
        entries = [
            {"filesystem": k, **v} if isinstance(v, dict) else {"filesystem": k, "used": v} for k, v in entries.items()
        ]
    if not isinstance(entries, list):
        entries = [answer]
    lines: list[QuotaLine] = []
    for e in entries:
        if not isinstance(e, dict):
            continue
        space: dict[str, Any] = e["space"] if isinstance(e.get("space"), dict) else e
        files: dict[str, Any] = e["files"] if isinstance(e.get("files"), dict) else {}
        unit = _UNIT.get(str(space.get("unit", "b")).lower(), 1)
        used = _number(_pick(space, "used", "usage", "used_bytes"))
        limit = _number(_pick(space, "limit", "quota", "hard", "limit_bytes"))
        used = None if used is None else used * unit
        limit = None if limit is None else limit * unit
        fs = str(_pick(e, "filesystem", "fs", "path", "storage") or "?")
        fu, fl = _number(files.get("used")), _number(files.get("limit"))
        lines.append(
            QuotaLine(
                quota_type=quota_type,
                name=name,
                filesystem=fs,
                used_bytes=used,
                limit_bytes=limit,
                used=human_bytes(used),
                limit=human_bytes(limit) if limit is not None else "no limit",
                percent=round(100 * used / limit, 1) if used is not None and limit else None,
                files_used=None if fu is None else int(fu),
                files_limit=None if fl is None else int(fl),
            )
        )
    return lines


QUOTA_COLUMNS: list[tuple[str, Any]] = [
    ("quota", lambda q: f"{q.quota_type} {q.name}"),
    ("pool", lambda q: q.filesystem),
    ("used", lambda q: q.used),
    ("limit", lambda q: q.limit),
    ("percent", lambda q: q.percent),
    ("files", lambda q: q.files_used),
    ("files_limit", lambda q: q.files_limit),
]


def quota_table(lines: list[QuotaLine]) -> Table:
    """Quota lines as one table (sizes as a person reads them; a missing limit reads "no limit")."""
    return table(lines, QUOTA_COLUMNS, len(lines))


def quota_summary(lines: list[QuotaLine]) -> str:
    """One sentence: how many lines, and the fullest one with a limit."""
    if not lines:
        return "No quota figures in the answer."
    limited = [q for q in lines if q.percent is not None]
    fullest = max(limited, key=lambda q: q.percent or 0.0) if limited else None
    text = f"{len(lines)} quota line{'s' if len(lines) != 1 else ''}"
    if fullest is not None:
        text += f"; fullest: {fullest.quota_type} {fullest.name} {fullest.filesystem} {fullest.percent}%"
    return text + "."


def quota_left_on(lines: list[QuotaLine], pool_root: str) -> int | None:
    """Bytes the tightest quota leaves on a pool (its lines name the filesystem, e.g. lustre); None if none."""
    name = pool_root.strip("/").lower()
    left = [
        int(q.limit_bytes - q.used_bytes)
        for q in lines
        if q.limit_bytes and q.used_bytes is not None and name in q.filesystem.lower()
    ]
    return min(left) if left else None


class UserInfo(BaseModel):
    username: str
    uid_number: int | None = None
    gid_number: int | None = None
    home: str | None = None
    homes: dict[str, str] = {}
    account: str | None = None
    email_bound: bool
    jaccount_bound: bool
    contact: str | None = None
    other: dict[str, Any] = Field(default_factory=dict, description="Other non-secret fields as received.")


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def user_info(platform: Platform, user: str, raw: dict[str, Any], group: str | None) -> UserInfo:
    """The API's user record for a person to read: homes per node group, the account, bound channels."""
    home_template = raw.get("home") or raw.get("homeDirectory")
    by_group = homes(platform, home_template) if isinstance(home_template, str) else {}
    home = by_group.get(group) if group else raw.get("homeDirectory") or by_group.get("pi")
    known = {"uid", "uidNumber", "gidNumber", "home", "homeDirectory", "email", "jAccount", "contact"}
    return UserInfo(
        username=str(raw.get("uid") or user),
        uid_number=_int(raw.get("uidNumber")),
        gid_number=_int(raw.get("gidNumber")),
        home=home,
        homes=by_group,
        account=account_of(home) if home else None,
        email_bound=bool(raw.get("email")),
        jaccount_bound=bool(raw.get("jAccount")),
        contact=raw.get("contact"),
        other={k: v for k, v in without_secrets(raw).items() if k not in known},
    )
