"""Slurm job states: full names, short codes, and whether a job in that state is finished."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sjtu_hpc_mcp.core.errors import HpcError


@dataclass(frozen=True)
class JobState:
    name: str
    code: str
    terminal: bool
    pending: bool = False

    @property
    def active(self) -> bool:
        return not self.terminal


# Names and codes as in squeue(1)/sacct(1) "JOB STATE CODES" (Slurm 22.05). A held or requeued job
# (REQUEUE_HOLD, SPECIAL_EXIT, RESV_DEL_HOLD) is not finished: it can run again.
JOB_STATES: tuple[JobState, ...] = (
    JobState("PENDING", "PD", terminal=False, pending=True),
    JobState("CONFIGURING", "CF", terminal=False),
    JobState("RUNNING", "R", terminal=False),
    JobState("COMPLETING", "CG", terminal=False),
    JobState("SUSPENDED", "S", terminal=False),
    JobState("STOPPED", "ST", terminal=False),
    JobState("SIGNALING", "SI", terminal=False),
    JobState("STAGE_OUT", "SO", terminal=False),
    JobState("RESIZING", "RS", terminal=False),
    JobState("REQUEUED", "RQ", terminal=False, pending=True),
    JobState("REQUEUE_FED", "RF", terminal=False, pending=True),
    JobState("REQUEUE_HOLD", "RH", terminal=False, pending=True),
    JobState("RESV_DEL_HOLD", "RD", terminal=False, pending=True),
    JobState("SPECIAL_EXIT", "SE", terminal=False, pending=True),
    JobState("COMPLETED", "CD", terminal=True),
    JobState("CANCELLED", "CA", terminal=True),
    JobState("FAILED", "F", terminal=True),
    JobState("TIMEOUT", "TO", terminal=True),
    JobState("NODE_FAIL", "NF", terminal=True),
    JobState("PREEMPTED", "PR", terminal=True),
    JobState("BOOT_FAIL", "BF", terminal=True),
    JobState("DEADLINE", "DL", terminal=True),
    JobState("OUT_OF_MEMORY", "OOM", terminal=True),
    JobState("REVOKED", "RV", terminal=True),
)

_BY_KEY: dict[str, JobState] = {}
for _s in JOB_STATES:
    _BY_KEY[_s.name] = _s
    _BY_KEY[_s.code] = _s

ACTIVE_STATES = frozenset(s.name for s in JOB_STATES if s.active)
TERMINAL_STATES = frozenset(s.name for s in JOB_STATES if s.terminal)


def lookup_state(text: str) -> JobState | None:
    """The state for a full name or short code (any case), or None if unknown."""
    return _BY_KEY.get(text.strip().upper())


def normalize_state(text: str) -> str:
    """A filter value (name or code, any case) as the full state name; refuses unknown states."""
    if not isinstance(text, str):
        raise HpcError(
            "E_STATE", f"job state must be text, got {type(text).__name__}", "give a name or code such as RUNNING or R"
        )
    state = _BY_KEY.get(text.upper())  # exact: no whitespace or control characters
    if state is None:
        known = ", ".join(f"{s.name} ({s.code})" for s in JOB_STATES)
        raise HpcError("E_STATE", f"unknown job state {text[:40]!r}", f"use one of: {known}")
    return state.name


def normalize_states(values: str | Iterable[str]) -> list[str]:
    """Filter values as unique full names, in the given order. A string may hold a comma list."""
    items = values.split(",") if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        name = normalize_state(item)
        if name not in out:
            out.append(name)
    return out


_CANCELLED_BY = re.compile(r"^CANCELLED by (\d+)$")


@dataclass(frozen=True)
class ParsedState:
    state: str
    terminal: bool | None  # None: a state this table does not know
    cancelled_by: int | None = None


def parse_state(raw: str) -> ParsedState:
    """A state as Slurm prints it: `CANCELLED by 1001`, `CANCELLED+`, `COMPLETED`, or unknown."""
    text = raw.strip()
    cancelled_by: int | None = None
    match = _CANCELLED_BY.match(text)
    if match:
        text, cancelled_by = "CANCELLED", int(match.group(1))
    # A fixed-width column ends a longer state with "+"; parsable output never does.
    text = text.rstrip("+")
    known = lookup_state(text)
    if known is not None:
        return ParsedState(known.name, known.terminal, cancelled_by)
    return ParsedState(text, None, cancelled_by)
