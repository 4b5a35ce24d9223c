"""Reading a transfer's state back: progress, exit codes and their causes, the status a tool shows. Pure: no I/O.

`progress_figures` and `iso` are shared with the local (SFTP) copies in shell/local/, so both kinds
of transfer report percent, rate and time left the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel

from .locations import Mode, State, session_name
from .script import SOURCE_KEPT, VERIFY_FAILED, Meta

MAX_LISTED = 50

_PROGRESS = re.compile(r"^\s*([\d,.']+)\s+(\d+)%\s+\S+\s+\S+(?:\s+\(xfr#(\d+),)?")

_CAUSES: dict[int, tuple[str, str]] = {
    1: ("rsync refused its arguments", "Report it: the server built a command rsync does not accept."),
    2: ("rsync versions are incompatible", "Report it to hpc@sjtu.edu.cn."),
    3: ("a source or destination folder could not be opened", "Check that both exist and you may write there."),
    5: ("rsync could not start", "Try again; report it if it persists."),
    10: ("a socket I/O error", "Start the transfer again; it resumes."),
    11: ("a file I/O error at the destination", "Check free space and permissions, then start again; it resumes."),
    12: ("the data stream broke (often a full destination or a killed process)", "Check free space; start again."),
    20: ("rsync was stopped by a signal", "Start the transfer again; it resumes where it stopped."),
    23: ("a partial transfer: some files could not be copied", "Read the errors, fix them, start again to resume."),
    24: ("some source files vanished while copying", "The source changed; start again when it is quiet."),
    30: ("a timeout sending or receiving data", "The storage stalled; start again to resume."),
    35: ("a timeout waiting for a connection", "Start again to resume."),
    127: ("rsync is not installed on the node", "Tell hpc@sjtu.edu.cn."),
    SOURCE_KEPT: (
        "the copy was verified but the source could not be deleted",
        "The destination is complete. Check the source's permissions, then delete it with manage_storage remove.",
    ),
    VERIFY_FAILED: (
        "verification failed: the destination differs from the source, so the source was kept",
        "Nothing was deleted. Start the move again (it copies what differs), or check the files with verify=true.",
    ),
}
_FULL = re.compile(r"No space left on device|Disk quota exceeded|quota", re.IGNORECASE)


def cause_of(code: int, errors: Sequence[str]) -> tuple[str, str]:
    if any(_FULL.search(e) for e in errors):
        return (
            "the destination is full or your quota is exhausted",
            "Free space (manage_storage free shows it), or copy to the other cold pool; start again to resume.",
        )
    return _CAUSES.get(code, (f"rsync exited with code {code}", "Read the errors; start again to resume."))


def _number(text: str) -> int:
    digits = re.sub(r"\D", "", text)
    return int(digits) if digits else 0


@dataclass(frozen=True)
class StreamProgress:
    bytes: int
    files: int


def last_progress(log: str) -> StreamProgress | None:
    for line in reversed(re.split(r"[\r\n]", log)):
        m = _PROGRESS.match(line)
        if m:
            return StreamProgress(_number(m.group(1)), int(m.group(3) or 0))
    return None


def error_lines(log: str, limit: int = 5) -> list[str]:
    """rsync's complaints in a stream's log; one may follow a progress update on the same line."""
    lines: list[str] = []
    for ln in re.split(r"[\r\n]", log):
        if _PROGRESS.match(ln):
            at = ln.find("rsync")
            if at < 0:
                continue
            ln = ln[at:]
        ln = ln.strip()
        if ln and ("rsync" in ln or "error" in ln.lower() or "denied" in ln):
            lines.append(ln[:300])
    return lines[-limit:]


class TransferStatus(BaseModel):
    id: str
    node: str
    state: State
    mode: Mode
    source: str
    destination: str
    streams: int
    files_total: int
    files_done: int
    bytes_total: int
    bytes_done: int
    percent: float
    rate_bytes_per_s: int | None = None
    eta_s: int | None = None
    started: str
    ended: str | None = None
    seconds: float | None = None
    exit_code: int | None = None
    cause: str | None = None
    fix: str | None = None
    errors: list[str] = []
    source_removed: bool | None = None
    run: int = 1
    survives_restart: bool = True
    cold_choice: str | None = None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def progress_figures(
    state: State, bytes_done: int, bytes_total: int, moved: int, elapsed: float
) -> tuple[float, int | None, int | None]:
    """Percent, rate (bytes/s) and seconds left: `moved` bytes went in `elapsed` seconds, `bytes_done` count."""
    rate = int(moved / elapsed) if moved else None
    percent = 100.0 if state == "done" else round(100 * bytes_done / bytes_total, 1) if bytes_total else 0.0
    eta = int((bytes_total - bytes_done) / rate) if state == "running" and rate else None
    return percent, rate, eta


def _int(text: str | None) -> int | None:
    t = (text or "").strip()
    return int(t) if t.lstrip("-").isdigit() else None


def _time(text: str | None) -> float | None:
    try:
        return float((text or "").strip())
    except ValueError:
        return None


def read_status(found: Mapping[str, str], now: float | None = None) -> TransferStatus:
    """What the state folder says: the driver's exit codes, rsync's last progress lines, markers."""
    meta = Meta.model_validate_json(found["meta.json"])
    now = now if now is not None else (_time(found.get("now")) or 0.0)
    rc = _int(found.get("rc"))
    running = (found.get("session", "").strip() == "1") and rc is None
    done_bytes = done_files = 0
    errors: list[str] = []
    codes: list[int] = []
    for i in range(meta.streams):
        code = _int(found.get(f"rc.{i}"))
        log = found.get(f"log.{i}", "")
        errors += error_lines(log)
        if code == 0:
            done_bytes += meta.stream_bytes[i]
            done_files += meta.stream_files[i]
            continue
        if code is not None:
            codes.append(code)
        p = last_progress(log)
        if p is not None:
            done_bytes += min(p.bytes, meta.stream_bytes[i])
            done_files += min(p.files, meta.stream_files[i])
    state: State
    if rc == 0:
        state = "done"
    elif "cancelled" in found:
        state = "cancelled"
    elif running:
        state = "running"
    else:
        state = "failed"
    ended = _time(found.get("ended")) or _time(found.get("cancelled"))
    began = _time(found.get("started")) or meta.started
    elapsed = max(1e-3, (ended if ended and not running else now) - began)
    percent, rate, eta = progress_figures(state, done_bytes, meta.bytes, done_bytes, elapsed)
    s = TransferStatus(
        id=meta.id,
        node=meta.node,
        state=state,
        mode=meta.mode,
        source=meta.source,
        destination=meta.destination,
        streams=meta.streams,
        files_total=meta.files,
        files_done=meta.files if state == "done" else done_files,
        bytes_total=meta.bytes,
        bytes_done=meta.bytes if state == "done" else done_bytes,
        percent=percent,
        rate_bytes_per_s=rate,
        eta_s=eta,
        started=iso(began),
        seconds=round(elapsed, 3),
        ended=iso(ended) if ended and state != "running" else None,
        exit_code=rc,
        errors=errors[-5:],
        source_removed=("source_removed" in found) if meta.mode == "move" else None,
        cold_choice=meta.cold_choice,
        run=meta.run,
    )
    if state == "failed":
        code = rc if rc not in (None, 0) else next(iter(codes), None)
        if code is None:
            s.cause = "interrupted: the driver on the node stopped before finishing (node restart or tmux killed)"
            s.fix = "Start the same transfer again; it resumes where it stopped."
        else:
            s.cause, s.fix = cause_of(code, errors)
    elif state == "cancelled":
        s.cause, s.fix = "cancelled; what was copied stays", "Start the same transfer again to resume it."
    return s


def read_list(found: Mapping[str, str], node: str, limit: int) -> list[TransferStatus]:
    """The list script's output -> statuses of the transfers this node ran, newest first."""
    sessions = set(found.get("sessions", "").split())
    now = _time(found.get("now")) or 0.0
    ids = list(dict.fromkeys(k.split("/", 1)[0] for k in found if k.endswith("/meta.json")))
    out: list[TransferStatus] = []
    for t in ids:
        parts = {k.split("/", 1)[1]: v for k, v in found.items() if k.startswith(t + "/")}
        parts["session"] = "1" if session_name(t) in sessions else "0"
        parts["now"] = str(now)
        try:
            st = read_status(parts)
        except (ValueError, IndexError):
            continue  # a state folder from another version, or half written: skip it
        if st.node == node:
            out.append(st)
    return sorted(out, key=lambda s: s.started, reverse=True)[:limit]
