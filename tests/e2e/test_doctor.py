"""`sjtu-hpc-mcp doctor` on the lab (issue 16, item 3): all ok with credentials installed, and each injected
fault named with its fix (a non-zero exit where it blocks use): a known_hosts without one node, an expired
certificate, the API down, one entry node's sshd down. No secret in either output form.

Clock skew cannot be injected here (the nodes share this machine's clock): tests/unit/test_doctor_core.py
judges it from made-up readings.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from conftest import install_credentials, make_user_cert
from e2e.lab_helpers import lab_up, new_token
from lab.api_double import DoubleState, run_double

pytestmark = [pytest.mark.lab]

NODES = ("pilogin", "data", "armlogin", "sylogin", "sydata")
LOGIN_NODES = ("pilogin", "armlogin", "sylogin")
BUDGET_S = 15.0


@pytest.fixture
def double(lab: dict[str, Any]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(lab["ca_key"]) as pair:
        yield pair


@pytest.fixture
def token(double: tuple[str, DoubleState]) -> str:
    return new_token(double[0])


def creds(lab: dict[str, Any], workspace: Path, token: str | None, **cert: float) -> str:
    """Install a key, a certificate (make_user_cert's window) and the token; the private key's text."""
    key, cert_text = make_user_cert(asyncssh.read_private_key(lab["ca_key"]), **cert)
    install_credentials(workspace, key, cert_text, token=token)
    return key.export_private_key("openssh").decode()


def doctor(
    lab: dict[str, Any], workspace: Path, api_url: str, *extra: str, known_hosts: str | None = None
) -> tuple[int, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SJTU_HPC_")}
    argv = [sys.executable, "-m", "sjtu_hpc_mcp", "doctor", "--workspace", str(workspace)]
    argv += ["--known-hosts", known_hosts or lab["known_hosts"], "--host-map", lab["host_map"], "--api-url", api_url]
    t0 = time.monotonic()
    r = subprocess.run([*argv, *extra], capture_output=True, text=True, env=env, timeout=60)
    took = time.monotonic() - t0
    assert "Traceback" not in r.stderr, r.stderr
    return r.returncode, r.stdout, took


def lines(text: str) -> dict[str, str]:
    """`status  name: detail …` lines by check name."""
    found = {}
    for line in text.splitlines()[1:-1]:
        status, _, rest = line.partition("  ")
        name = rest.strip().split(": ", 1)[0]
        found[name] = status.strip() + " " + rest.strip()
    return found


def no_secret(text: str, *secrets: str) -> None:
    for s in secrets:
        body = [ln for ln in s.splitlines() if ln and not ln.startswith("-----")] or [s]
        assert all(b not in text for b in body), "a secret was printed"
    assert "PRIVATE KEY" not in text


def test_all_ok_on_the_lab(lab: dict[str, Any], workspace: Path, double: tuple[str, DoubleState], token: str) -> None:
    key_text = creds(lab, workspace, token)
    rc, out, took = doctor(lab, workspace, double[0])
    assert rc == 0, out
    checks = lines(out)
    assert all(line.startswith("ok ") for line in checks.values()), out
    for n in NODES:
        for topic in ("dns", "known_hosts", "ssh", "storage", "clock"):
            assert f"{topic} {n}" in checks, (topic, n, out)
    assert all(f"slurm {n}" in checks for n in LOGIN_NODES) and "slurm data" not in checks
    assert {"api", "token", "certificate", "credential files", "local roots"} <= set(checks)
    assert "refreshed the token" in checks["api"] and "logged in as hpcrobot" in checks["ssh pilogin"]
    assert "/archive" in checks["storage data"] and "/union" in checks["storage sydata"]
    assert out.splitlines()[-1].endswith("nothing blocks use.")
    assert took < BUDGET_S, took
    stored = (workspace / "credentials" / "hpc_token").read_text().strip()
    assert stored != token  # refreshed and stored again: the old one is no longer valid
    no_secret(out, token, stored, key_text)

    rc, raw, took = doctor(lab, workspace, double[0], "--json")
    assert rc == 0, raw
    report = json.loads(raw)
    assert report["exit_status"] == 0 and report["summary"]["problem"] == report["summary"]["warning"] == 0
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in report["checks"])
    assert report["versions"]["slurm@pilogin"].startswith("22.") and report["versions"]["sjtu-hpc-mcp"]
    assert report["settings"]["host_map"].count("127.0.0.1") == 5
    newest = (workspace / "credentials" / "hpc_token").read_text().strip()
    no_secret(raw, token, stored, newest, key_text)
    assert took < BUDGET_S, took


def test_no_credentials_is_a_warning_with_the_next_step(
    lab: dict[str, Any], workspace: Path, double: tuple[str, DoubleState]
) -> None:
    rc, out, _ = doctor(lab, workspace, double[0])
    assert rc == 0, out
    checks = lines(out)
    assert checks["token"].startswith("warning") and "request_token" in checks["token"]
    assert checks["certificate"].startswith("warning") and "request_certificate" in checks["certificate"]
    assert checks["ssh"].startswith("warning") and "not tried" in checks["ssh"]
    assert "unauthenticated request" in checks["api"] and checks["api"].startswith("ok")
    assert not any(k.startswith("ssh ") for k in checks)


def test_a_missing_host_key(
    lab: dict[str, Any], workspace: Path, double: tuple[str, DoubleState], token: str, tmp_path: Path
) -> None:
    creds(lab, workspace, token)
    port = lab["nodes"]["data.hpc.sjtu.edu.cn"]["port"]
    known = tmp_path / "known_hosts"
    kept = [ln for ln in Path(lab["known_hosts"]).read_text().splitlines() if not ln.startswith(f"[127.0.0.1]:{port} ")]
    known.write_text("\n".join(kept) + "\n")
    rc, out, _ = doctor(lab, workspace, double[0], known_hosts=str(known))
    assert rc == 1, out
    checks = lines(out)
    missing = checks["known_hosts data"]
    assert missing.startswith("problem") and "no host key for data.hpc.sjtu.edu.cn" in missing
    assert f"ssh-keyscan -t ed25519 -p {port} 127.0.0.1" in missing and "publishes" in missing
    real = asyncssh.import_known_hosts(Path(lab["known_hosts"]).read_text()).match("127.0.0.1", "", port)[0][0]
    assert real.get_fingerprint("sha256") in missing  # what the node presents now, to compare
    assert checks["ssh data"].startswith("problem") and "E_HOSTKEY" in checks["ssh data"]
    assert all(checks[f"ssh {n}"].startswith("ok") for n in NODES if n != "data"), out


def test_an_expired_certificate(
    lab: dict[str, Any], workspace: Path, double: tuple[str, DoubleState], token: str
) -> None:
    creds(lab, workspace, token, valid_from=-7200, valid_for=-60)
    rc, out, _ = doctor(lab, workspace, double[0])
    checks = lines(out)
    cert = checks["certificate"]
    assert cert.startswith("warning") and "expired at" in cert and "request_certificate" in cert
    assert checks["ssh"].startswith("warning") and "no valid SSH certificate" in checks["ssh"]
    # the next step is known and nothing is broken: it does not block use
    assert rc == 0, out


def test_the_api_down(lab: dict[str, Any], workspace: Path, token: str) -> None:
    creds(lab, workspace, token)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    rc, out, took = doctor(lab, workspace, closed)
    assert rc == 1, out
    checks = lines(out)
    assert checks["api"].startswith("problem") and "E_API_UNREACHABLE" in checks["api"]
    assert "--api-url" in checks["api"] and "Fix:" in checks["api"]
    assert checks["token"].startswith("warning") and "not checked" in checks["token"]
    assert all(checks[f"ssh {n}"].startswith("ok") for n in NODES), out  # SSH does not need the API
    assert took < BUDGET_S
    no_secret(out, token)


def test_one_sshd_down(lab: dict[str, Any], workspace: Path, double: tuple[str, DoubleState], token: str) -> None:
    creds(lab, workspace, token)
    pid_file = Path(lab["lab_dir"]) / "run" / "sshd-sydata.pid"
    pid = int(pid_file.read_text().split()[0])
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "sshd"
    os.kill(pid, signal.SIGKILL)  # the node's listener: new connections are refused
    try:
        rc, out, took = doctor(lab, workspace, double[0])
    finally:
        lab_up()
    assert rc == 1, out
    checks = lines(out)
    down = checks["ssh sydata"]
    assert down.startswith("problem") and "E_CONNECT" in down and "sydata" in down and "VPN" in down
    assert not any(k in checks for k in ("storage sydata", "clock sydata"))
    assert all(checks[f"ssh {n}"].startswith("ok") for n in NODES if n != "sydata"), out
    assert took < BUDGET_S
    rc, out, _ = doctor(lab, workspace, double[0])  # the lab is back
    assert rc == 0, out
