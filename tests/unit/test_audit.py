"""The audit trail's writer (shell/audit.py) and the policy's act table and redaction (issue 11, item 6)."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from sjtu_hpc_mcp.core.consent import ACTS
from sjtu_hpc_mcp.core.policy import (
    CHANGING_ACTS,
    audit_arguments,
    audit_outcome,
    changing_act,
    changing_values,
)
from sjtu_hpc_mcp.shell.audit import AuditLog


@pytest.mark.parametrize(
    ("tool", "arguments", "act"),
    [
        ("run_slurm", {"command": "sbatch"}, "sbatch"),
        ("run_slurm", {"command": "scancel", "confirm": True}, "scancel"),
        ("run_slurm", {"command": "squeue"}, None),
        ("run_slurm", {"command": "wait"}, None),
        ("transfer_data", {"action": "start", "confirm": True}, "transfer_start"),
        ("transfer_data", {"action": "cancel"}, "cancel_transfer"),
        ("transfer_data", {"action": "status"}, None),
        ("manage_storage", {"action": "remove"}, "remove"),
        ("manage_storage", {"action": "mkdir"}, "mkdir"),
        ("manage_storage", {"action": "free"}, None),
        ("request_token", {}, "token"),
        ("request_certificate", {"force": True}, "certificate"),
        ("update_user", {"email": "a@b.c"}, "update_user"),
        ("credential_status", {}, None),
        ("get_user", {}, None),
        ("query_quota", {}, None),
        ("run_slurm", {"command": ["sbatch"]}, None),  # not a string: the schema refuses it anyway
    ],
)
def test_which_calls_change_something(tool: str, arguments: dict[str, object], act: str | None) -> None:
    assert changing_act(tool, arguments) == act


def test_every_consent_act_is_a_changing_act() -> None:
    """What needs consent changes something, so it is audited and hidden in read-only mode."""
    covered = {"scancel", "update_user", "remove", "cancel_transfer"}
    via_start = {"overwrite", "move"}  # transfer_data start with confirm (a move deletes its source)
    via_certificate = {"replace_key"}  # request_certificate export_to over a different key
    assert covered | via_start | via_certificate == ACTS
    assert covered <= set(CHANGING_ACTS.values()) and "transfer_start" in CHANGING_ACTS.values()
    assert "certificate" in CHANGING_ACTS.values()


def test_read_only_values() -> None:
    assert changing_values("run_slurm") == ("command", frozenset({"sbatch", "scancel"}))
    assert changing_values("manage_storage") == ("action", frozenset({"mkdir", "remove"}))
    assert changing_values("request_token") == (None, frozenset())


def test_arguments_are_redacted_and_cut() -> None:
    shown = audit_arguments(
        {
            "password_file": "/tmp/pw.txt",
            "password": "hunter2",
            "token": "abc",
            "options": {"job_name": "x", "secret_thing": "s"},
            "script": "x" * 2000,
            "approval": object(),
            "confirm": True,
        }
    )
    assert shown["password_file"] == "/tmp/pw.txt"  # a path, not a secret
    assert shown["password"] == shown["token"] == "(redacted)"
    assert shown["options"] == {"job_name": "x", "secret_thing": "(redacted)"}
    assert isinstance(shown["script"], str) and len(shown["script"]) < 600 and "2000 chars" in shown["script"]
    assert "approval" not in shown and shown["confirm"] is True


def test_outcome_fields() -> None:
    assert audit_outcome(True, "E_SLURM: no", None) == {"ok": False, "error": "E_SLURM: no"}
    got = audit_outcome(
        False, "", {"summary": "Started", "transfer": {"id": "data-1", "state": "running"}, "node": "n", "rows": [1]}
    )
    assert got == {"ok": True, "summary": "Started", "transfer_id": "data-1", "transfer_state": "running"}
    assert audit_outcome(False, "", {"submission": {"job_id": "7"}, "cancelled": False})["submission_job_id"] == "7"


def test_lines_are_0600_and_rotated_by_size(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "ws" / "audit.jsonl", max_bytes=2000, keep=3)
    for i in range(100):
        assert log.append({"i": i, "pad": "x" * 80})
    names = sorted(p.name for p in (tmp_path / "ws").iterdir())
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]
    for p in (tmp_path / "ws").iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600 and p.stat().st_size <= 2000
    assert [r["i"] for r in log.last(30)] == list(range(70, 100))
    assert stat.S_IMODE((tmp_path / "ws").stat().st_mode) == 0o700


def _writer(path: str, who: int) -> None:
    log = AuditLog(Path(path), max_bytes=64 << 20)  # no rotation here: the lines are the point
    for i in range(300):
        log.append({"who": who, "i": i, "pad": "y" * (50 + (i * 37) % 3000)})


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    procs = [multiprocessing.Process(target=_writer, args=(str(path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    lines = path.read_text().splitlines()
    assert len(lines) == 1200
    seen = {(r["who"], r["i"]) for r in map(json.loads, lines)}
    assert len(seen) == 1200


def test_a_write_failure_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert AuditLog(blocker / "audit.jsonl").append({"x": 1}) is False
