"""transfer_data and manage_storage: arguments, the person's consent, the result's text.

The steps (which data node, what to check, what to run) are in ops/transfers.py, ops/local_transfers.py,
ops/storage.py, ops/files.py (read, stat) and the core.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .._mcp import (
    CallPerson,
    CallToolResult,
    Consent,
    Context,
    Resolve,
    consent_declined,
    elicit_consent,
    lean,
    tool_errors,
)
from ..core import consent, files
from ..core import transfer as t
from ..core.data_results import StorageResult, TransferResult
from ..core.errors import HpcError
from ..core.results import MAX_WAIT_S
from ..ops.files import ReadAsk
from ..services import services

# -- the tools --------------------------------------------------------------------------------------

Location = Annotated[
    str,
    Field(
        max_length=4096,
        description="/lustre/home/<acct>/<user>/x, POOL:relative/path (lustre, dssg, archive, vault, union), "
        "cold (a destination: the emptier cold pool; a source: cold:x reads via /union), or local:/path.",
    ),
]
TransferId = Annotated[str, Field(pattern=r"^(data|sydata|local)-[0-9a-f]{12}$")]
TransferAction = Literal["start", "status", "cancel", "list"]
StorageAction = Literal["list", "read", "stat", "usage", "free", "mkdir", "remove"]


async def _consent_for_transfer(
    ctx: Context[Any, Any], action: str, confirm: bool, mode: str = "copy", transfer_id: str | None = None
) -> Any:
    if not confirm:
        return None
    if action == "cancel":
        return elicit_consent(ctx, consent.question("cancel_transfer", transfer_id=transfer_id))
    if action == "start":
        return elicit_consent(ctx, consent.question("move") if mode == "move" else consent.question("overwrite"))
    return None


async def _consent_for_storage(ctx: Context[Any, Any], action: str, confirm: bool, path: str | None = None) -> Any:
    if action == "remove" and confirm:
        return elicit_consent(ctx, consent.question("remove", path=path))
    return None


@tool_errors
async def transfer_data(
    ctx: Context[Any, Any],
    action: TransferAction,
    source: Location | None = None,
    destination: Location | None = None,
    mode: Annotated[t.Mode, Field(description="move deletes the source after a checksum check.")] = "copy",
    streams: Annotated[
        int | None, Field(ge=1, le=10, description="Parallel rsyncs; default from the file count.")
    ] = None,
    transfer_id: TransferId | None = None,
    verify: Annotated[bool, Field(description="status: compare checksums of source and destination.")] = False,
    wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="Wait up to this long for the end.")] = 0,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
    confirm: Annotated[
        bool, Field(description="true only after the person agreed (overwrite, move, cancel).")
    ] = False,
    approval: Annotated[Consent, Resolve(_consent_for_transfer)] = None,
) -> Annotated[CallToolResult, TransferResult]:
    """Copy or move data between hot and cold storage on a data node, in the background (rsync in tmux).

    start returns an id; status (wait_s to wait) follows it. Never deletes or overwrites without confirm=true.
    """
    ops, person = services(ctx).transfers, CallPerson(ctx)
    progress, roots = person.progress, person.roots
    declined = consent_declined(approval)
    if action == "start":
        if source is None or destination is None:
            raise HpcError(
                "E_ARG", "start needs source and destination.", "Give both, e.g. lustre:results and cold."
            )
        model = await ops.start(
            source,
            destination,
            mode,
            streams,
            confirm=confirm,
            declined=declined,
            wait_s=wait_s,
            progress=progress,
            roots=roots,
        )
    elif action == "list":
        model = await ops.list(limit)
    elif transfer_id is None:
        raise HpcError("E_ARG", f"{action} needs transfer_id.", "Take it from start or list.")
    elif action == "status":
        model = await ops.status(transfer_id, verify, wait_s, limit, progress)
    else:
        model = await ops.cancel(transfer_id, confirm=confirm, declined=declined)
    return lean(model)

@tool_errors
async def manage_storage(
    ctx: Context[Any, Any],
    action: StorageAction,
    path: Location | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 100,
    mode: files.ReadMode = "tail",
    max_bytes: Annotated[int, Field(ge=files.MIN_BYTES, le=files.MAX_BYTES)] = files.DEFAULT_BYTES,
    offset: Annotated[int | None, Field(ge=0)] = None,  # core.files bounds it (the node's 64-bit arithmetic)
    pattern: Annotated[str | None, Field(max_length=files.MAX_PATTERN, description="Plain text, no regex.")] = None,
    ignore_case: bool = False,
    confirm: Annotated[bool, Field(description="remove: true only after the person agreed.")] = False,
    approval: Annotated[Consent, Resolve(_consent_for_storage)] = None,
) -> Annotated[CallToolResult, StorageResult]:
    """List, measure, create or delete in the person's own folders; free space of every pool; read a text
    file (head, tail, or match: lines holding pattern; limit lines, ≤64 KiB, go on at next_offset) or stat it.

    remove without confirm=true only shows what would go.
    """
    ask = ReadAsk(mode, limit, max_bytes, offset, pattern, ignore_case)
    declined = consent_declined(approval)
    model = await services(ctx).storage.run(action, path, limit, confirm=confirm, declined=declined, read=ask)
    return lean(model)
