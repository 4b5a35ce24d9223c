"""Bounds on text a result may carry: the tail of a file, cut on a UTF-8 boundary.

Row lists are bounded by core.results.table."""

from __future__ import annotations

from pydantic import BaseModel

from sjtu_hpc_mcp.core.errors import HpcError

DEFAULT_MAX_BYTES = 16 * 1024


class TailText(BaseModel):
    text: str
    total_bytes: int  # size of the text before cutting (UTF-8)
    truncated: bool


def _skip_continuation(data: bytes) -> bytes:
    # A cut may land inside a UTF-8 sequence: drop up to 3 continuation bytes (10xxxxxx).
    start = 0
    while start < min(3, len(data)) and (data[start] & 0xC0) == 0x80:
        start += 1
    return data[start:]


def _to_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        return text
    try:  # text decoded with surrogateescape gets its original bytes back
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def tail_text(text: str | bytes, max_bytes: int = DEFAULT_MAX_BYTES, *, already_cut: bool = False) -> TailText:
    """The last max_bytes of text, starting on a UTF-8 character boundary.

    already_cut: the bytes came from `tail -c` and may begin mid-character even when short.
    Invalid bytes are replaced, never raised on.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise HpcError(
            "E_ARG", f"max_bytes must be a non-negative integer, got {max_bytes!r}", "give a whole number of bytes"
        )
    data = _to_bytes(text)
    total = len(data)
    truncated = total > max_bytes
    kept = data[total - max_bytes :] if truncated else data
    if truncated or already_cut:
        kept = _skip_continuation(kept)
    return TailText(text=kept.decode("utf-8", "replace"), total_bytes=total, truncated=truncated)
