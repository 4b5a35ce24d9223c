"""Transfers between storage pools on a data node. Pure: no I/O.

- `locations`: where the two ends are (`lustre:results`, `cold`, `/archive/home/…`, `local:/…`), ids, sessions;
- `split`: the source tree cut into units and balanced over the streams;
- `rsync`: each stream's argv, the dry-run and checksum argvs, reading their itemized output;
- `script`: the meta.json, the driver script tmux runs on the node, the helper scripts and their parsers;
- `status`: reading back what the driver left in its state folder: progress, exit codes and their causes;
- `local`: the pure rules of copies between this computer and a data node (run by shell/local/).

Fixed safety policy, not parameters: never `--delete`; without consent `--ignore-existing`, so no
existing destination file changes; partial files wait in a hidden folder, never under a real name;
a move deletes its source only after a checksum comparison found no difference (docs/platform.md#storage).

This package re-exports every public name of its modules, so `from ..core import transfer as t` keeps working.
"""

from __future__ import annotations

from .locations import (
    ID_RE,
    LOCAL_ID_RE,
    POOL_NAMES,
    SESSION_PREFIX,
    STATE_DIR,
    Mode,
    Spec,
    State,
    node_of_id,
    parse_location,
    pool_of,
    resolve_destination,
    resolve_source,
    resolve_storage_path,
    session_name,
    space_pools,
    transfer_id,
)
from .rsync import (
    ARGS_MAX,
    CONTENT_DIFF,
    PARTIAL_DIR,
    Itemized,
    differences,
    dry_run_argv,
    entries_from_itemized,
    find_argv,
    overwrite_preview,
    parse_itemized,
    partial_dir,
    stream_argvs,
    verify_argv,
)
from .script import (
    CANCEL_SH,
    EXISTING_SH,
    INSPECT_SH,
    LIST_SH,
    PROBE_SH,
    SOURCE_KEPT,
    START_SH,
    STATUS_SH,
    VERIFY_FAILED,
    Inspected,
    Meta,
    driver_script,
    meta_json,
    parse_inspect,
    parse_probe,
    plan,
    sections,
    sh_argv,
)
from .split import (
    FILE_COST,
    Entry,
    copy_units,
    file_list,
    parse_find,
    split_streams,
)
from .status import (
    MAX_LISTED,
    StreamProgress,
    TransferStatus,
    cause_of,
    error_lines,
    iso,
    last_progress,
    progress_figures,
    read_list,
    read_status,
)

__all__ = [
    "ARGS_MAX",
    "CANCEL_SH",
    "CONTENT_DIFF",
    "EXISTING_SH",
    "FILE_COST",
    "ID_RE",
    "INSPECT_SH",
    "LIST_SH",
    "LOCAL_ID_RE",
    "MAX_LISTED",
    "PARTIAL_DIR",
    "POOL_NAMES",
    "PROBE_SH",
    "SESSION_PREFIX",
    "SOURCE_KEPT",
    "START_SH",
    "STATE_DIR",
    "STATUS_SH",
    "VERIFY_FAILED",
    "Entry",
    "Inspected",
    "Itemized",
    "Meta",
    "Mode",
    "Spec",
    "State",
    "StreamProgress",
    "TransferStatus",
    "cause_of",
    "copy_units",
    "differences",
    "driver_script",
    "dry_run_argv",
    "entries_from_itemized",
    "error_lines",
    "file_list",
    "find_argv",
    "iso",
    "last_progress",
    "meta_json",
    "node_of_id",
    "overwrite_preview",
    "parse_find",
    "parse_inspect",
    "parse_itemized",
    "parse_location",
    "parse_probe",
    "partial_dir",
    "plan",
    "pool_of",
    "progress_figures",
    "read_list",
    "read_status",
    "resolve_destination",
    "resolve_source",
    "resolve_storage_path",
    "sections",
    "session_name",
    "sh_argv",
    "space_pools",
    "split_streams",
    "stream_argvs",
    "transfer_id",
    "verify_argv",
]
