import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm.states import (
    ACTIVE_STATES,
    JOB_STATES,
    TERMINAL_STATES,
    lookup_state,
    normalize_state,
    normalize_states,
    parse_state,
)


def test_table_has_unique_names_and_codes() -> None:
    names = [s.name for s in JOB_STATES]
    codes = [s.code for s in JOB_STATES]
    assert len(set(names)) == len(names)
    assert len(set(codes)) == len(codes)
    assert not set(names) & set(codes)
    assert ACTIVE_STATES | TERMINAL_STATES == set(names)
    assert not ACTIVE_STATES & TERMINAL_STATES


@pytest.mark.parametrize(
    ("text", "name", "terminal"),
    [
        ("PD", "PENDING", False),
        ("pd", "PENDING", False),
        ("R", "RUNNING", False),
        ("CG", "COMPLETING", False),
        ("CF", "CONFIGURING", False),
        ("S", "SUSPENDED", False),
        ("ST", "STOPPED", False),
        ("RQ", "REQUEUED", False),
        ("RH", "REQUEUE_HOLD", False),
        ("SE", "SPECIAL_EXIT", False),
        ("RS", "RESIZING", False),
        ("CD", "COMPLETED", True),
        ("CA", "CANCELLED", True),
        ("F", "FAILED", True),
        ("TO", "TIMEOUT", True),
        ("NF", "NODE_FAIL", True),
        ("PR", "PREEMPTED", True),
        ("BF", "BOOT_FAIL", True),
        ("DL", "DEADLINE", True),
        ("OOM", "OUT_OF_MEMORY", True),
        ("RV", "REVOKED", True),
        ("out_of_memory", "OUT_OF_MEMORY", True),
        ("Completed", "COMPLETED", True),
    ],
)
def test_codes_and_names(text: str, name: str, terminal: bool) -> None:
    state = lookup_state(text)
    assert state is not None
    assert state.name == name
    assert state.terminal is terminal
    assert state.active is not terminal
    assert normalize_state(text) == name


def test_pending_flag() -> None:
    pending = {s.name for s in JOB_STATES if s.pending}
    assert "PENDING" in pending
    assert "RUNNING" not in pending
    assert pending <= ACTIVE_STATES


@pytest.mark.parametrize("bad", ["", "DONE", "all", "R;id", "-t", "PENDING\n", " R", "CANCELLED by 1"])
def test_unknown_filter_states_refused(bad: str) -> None:
    with pytest.raises(HpcError) as err:
        normalize_state(bad)
    assert err.value.code == "E_STATE"


def test_non_text_state_refused() -> None:
    with pytest.raises(HpcError):
        normalize_state(3)  # type: ignore[arg-type]


def test_normalize_states_list_and_comma_string() -> None:
    assert normalize_states(["pd", "R", "PENDING"]) == ["PENDING", "RUNNING"]
    assert normalize_states("CA,F,oom") == ["CANCELLED", "FAILED", "OUT_OF_MEMORY"]
    assert normalize_states([]) == []
    with pytest.raises(HpcError):
        normalize_states("PD,,R")


@pytest.mark.parametrize(
    ("raw", "state", "terminal", "by"),
    [
        ("COMPLETED", "COMPLETED", True, None),
        ("CANCELLED by 1001", "CANCELLED", True, 1001),
        ("CANCELLED by 0", "CANCELLED", True, 0),
        ("CANCELLED+", "CANCELLED", True, None),
        ("OUT_OF_MEMORY", "OUT_OF_MEMORY", True, None),
        ("RUNNING ", "RUNNING", False, None),
        ("CD", "COMPLETED", True, None),
        ("WEIRD_NEW_STATE", "WEIRD_NEW_STATE", None, None),
        ("", "", None, None),
    ],
)
def test_parse_state(raw: str, state: str, terminal: bool | None, by: int | None) -> None:
    parsed = parse_state(raw)
    assert (parsed.state, parsed.terminal, parsed.cancelled_by) == (state, terminal, by)
