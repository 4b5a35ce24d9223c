"""What transfer_data and manage_storage return (core.results renders their text form from the same data)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .account import human_bytes
from .files import FileRead, FileStat
from .results import Table
from .storage import RemovalPreview, Usage
from .transfer import TransferStatus


class Plan(BaseModel):
    files: int
    bytes: int
    size: str | None = None
    streams: int
    free_bytes: int
    quota_left_bytes: int | None = None


class TransferResult(BaseModel):
    action: Literal["start", "status", "cancel", "list"]
    summary: str
    node: str | None = Field(None, description="Data node the transfer runs on.")
    transfer: TransferStatus | None = None
    transfers: Table | None = None
    plan: Plan | None = None
    would_overwrite: list[str] | None = Field(None, description="Existing destination files that would change.")
    would_overwrite_total: int | None = None
    verified: bool | None = None
    differences: list[str] | None = None
    warnings: list[str] = []


LIST_COLUMNS: list[tuple[str, Any]] = [
    ("id", lambda s: s.id),
    ("state", lambda s: s.state),
    ("mode", lambda s: s.mode),
    ("percent", lambda s: s.percent),
    ("size", lambda s: human_bytes(s.bytes_total)),
    ("source", lambda s: s.source),
    ("destination", lambda s: s.destination),
    ("started", lambda s: s.started),
]


class StorageResult(BaseModel):
    action: Literal["list", "read", "stat", "usage", "free", "mkdir", "remove"]
    summary: str
    node: str
    path: str | None = None
    entries: Table | None = None
    usage: Usage | None = None
    free: Table | None = None
    quota: Table | None = None
    removal: RemovalPreview | None = None
    removed: bool | None = None
    read: FileRead | None = None
    stat: FileStat | None = None
    warnings: list[str] = []


ENTRY_COLUMNS: list[tuple[str, Any]] = [
    ("name", lambda e: e.name),
    ("kind", lambda e: e.kind),
    ("bytes", lambda e: e.size),
    ("modified", lambda e: e.modified),
]
