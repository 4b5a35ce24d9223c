"""What transfer_data and manage_storage return: the structured results and their text form."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .account import QuotaLine, human_bytes
from .results import Table, table_text
from .storage import RemovalPreview, Usage
from .transfer import TransferStatus


class Plan(BaseModel):
    files: int
    bytes: int
    size: str | None
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
    action: Literal["list", "usage", "free", "mkdir", "remove"]
    summary: str
    node: str
    path: str | None = None
    entries: Table | None = None
    usage: Usage | None = None
    free: Table | None = None
    quota: list[QuotaLine] | None = None
    removal: RemovalPreview | None = None
    removed: bool | None = None
    warnings: list[str] = []


ENTRY_COLUMNS: list[tuple[str, Any]] = [
    ("name", lambda e: e.name),
    ("kind", lambda e: e.kind),
    ("bytes", lambda e: e.size),
    ("modified", lambda e: e.modified),
]


def status_text(s: TransferStatus) -> str:
    text = (
        f"{s.id} {s.state}: {human_bytes(s.bytes_done)} of {human_bytes(s.bytes_total)} ({s.percent}%), "
        f"{s.files_done}/{s.files_total} files, {s.streams} stream(s)"
    )
    if s.rate_bytes_per_s:
        text += f", {human_bytes(s.rate_bytes_per_s)}/s"
    if s.eta_s is not None:
        text += f", about {s.eta_s} s left"
    if s.source_removed:
        text += "; the source was deleted after a checksum comparison found no difference"
    if s.cause:
        text += f". {s.cause}. Fix: {s.fix}"
    return text


def transfer_text(model: TransferResult) -> str:
    """The result as a few lines of text (the structured result carries the same)."""
    parts = [model.summary + (f" [node {model.node}]" if model.node else "")]
    if model.transfer is not None:
        parts.append(status_text(model.transfer))
        parts += [f"error: {e}" for e in model.transfer.errors]
    if model.would_overwrite:
        parts.append("would overwrite: " + ", ".join(model.would_overwrite))
    if model.differences:
        parts.append("differs: " + ", ".join(model.differences))
    if model.transfers is not None:
        parts.append(table_text(model.transfers))
    parts += [f"warning: {w}" for w in model.warnings]
    return "\n".join(parts)


def storage_text(model: StorageResult) -> str:
    """The result as a few lines of text (the structured result carries the same)."""
    parts = [f"{model.summary} [node {model.node}]"]
    for tbl in (model.entries, model.free):
        if tbl is not None:
            parts.append(table_text(tbl))
    for q in model.quota or []:
        parts.append(f"quota {q.quota_type} {q.name} {q.filesystem}: {q.used} of {q.limit}")
    if model.usage is not None and model.usage.largest:
        parts.append("largest: " + ", ".join(f"{n} {human_bytes(b)}" for n, b in model.usage.largest))
    if model.removal is not None and model.removal.first:
        parts.append("first entries: " + ", ".join(model.removal.first))
    parts += [f"warning: {w}" for w in model.warnings]
    return "\n".join(parts)
