"""`sjtu-hpc-mcp doctor`, the pure part: every verdict and its fix, the probe's parsing, the clock judgement,
the text and JSON forms, and no secret in either."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import asyncssh
import pytest

from sjtu_hpc_mcp.core import doctor as d
from sjtu_hpc_mcp.core.credentials import CredentialStatus, FileSeen, assess

NOW = datetime.now(UTC)
T = int(NOW.timestamp())
PI = "pilogin.hpc.sjtu.edu.cn"
DATA = "data.hpc.sjtu.edu.cn"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJocGNyb2JvdCJ9.c2lnbmF0dXJlLXNlY3JldA"


@pytest.fixture(scope="module")
def ca() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="module")
def key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def cert(ca: asyncssh.SSHKey, key: asyncssh.SSHKey, after: int, before: int) -> str:
    c = ca.generate_user_certificate(key, "k", principals=["hpcrobot"], valid_after=T + after, valid_before=T + before)
    return c.export_certificate("openssh").decode()


def status(
    key: asyncssh.SSHKey | None, cert_text: str | None, token: bool = True, token_mode: int = 0o600
) -> CredentialStatus:
    return assess(
        folder=FileSeen("/w/credentials", True, 0o700),
        token=FileSeen("/w/credentials/hpc_token", token, token_mode if token else None),
        key=FileSeen("/w/credentials/id_ed25519", key is not None, 0o600 if key else None),
        public_key_text=key.export_public_key("openssh").decode() if key else None,
        cert_text=cert_text,
        stored_user=None,
        now=NOW,
    )


def node(name: str = PI, **kw: object) -> d.NodeSeen:
    login = name != DATA
    base = d.NodeSeen(
        node=name,
        host="127.0.0.1",
        port=2201,
        login=login,
        roots=("/lustre",) if login else ("/lustre", "/archive"),
        user="hpcrobot",
        hostname=d.short(name),
        connect_ms=200,
        probe=("slurm 22.05.8\n" if login else "")
        + "df /lustre 2147483648 1073741824 /lustre\n"
        + ("" if login else "df /archive 805306368 805306368 /archive\n"),
        remote_clock=1000.0,
        local_clock=1000.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


API_OK = d.ApiSeen("https://api.hpc.sjtu.edu.cn", True, answered=True, refreshed=True, elapsed_ms=80)


# -- names and known_hosts --------------------------------------------------------------------------


def test_a_name_that_resolves_and_one_that_does_not() -> None:
    ok = d.judge_resolved(d.Resolved(PI, PI, 22, addresses=("202.120.58.1",)))
    assert (ok.status, ok.name, ok.fix) == ("ok", "dns pilogin", "") and "202.120.58.1" in ok.detail
    bad = d.judge_resolved(d.Resolved(PI, PI, 22, failure=d.Failure("E_CONNECT", "Name or service not known")))
    assert bad.status == "problem" and "does not resolve" in bad.detail and "VPN" in bad.fix
    mapped = d.judge_resolved(d.Resolved(PI, "10.0.0.9", 2201, failure=d.Failure("E_TIMEOUT", "no answer")))
    assert mapped.status == "problem" and "mapped to 10.0.0.9" in mapped.detail and "--host-map" in mapped.fix


def test_known_hosts_covered() -> None:
    c = d.judge_host_keys(d.HostKeys(PI, PI, 22, "/h/kh", True, trusted=("ssh-ed25519 SHA256:abc",)))
    assert c.status == "ok" and "SHA256:abc" in c.detail and not c.fix


def test_a_missing_host_key_says_how_to_add_it_safely() -> None:
    h = d.HostKeys(DATA, "127.0.0.1", 2204, "/h/kh", True, presented="ssh-ed25519 SHA256:now")
    c = d.judge_host_keys(h)
    assert c.status == "problem" and "no host key for data.hpc.sjtu.edu.cn (127.0.0.1:2204)" in c.detail
    assert "ssh-keyscan -t ed25519 -p 2204 127.0.0.1" in c.fix
    assert "ssh-keygen -lf" in c.fix and "SHA256:now" in c.fix and "unverified" in c.fix
    assert "publishes" in c.fix and "only if they are the same, append it" in c.fix
    # the real node on port 22: no -p, the plain name as the entry
    real = d.judge_host_keys(d.HostKeys(PI, PI, 22, "/h/kh", True))
    assert f"ssh-keyscan -t ed25519 {PI} > pilogin.hostkey" in real.fix and "cat pilogin.hostkey >> /h/kh" in real.fix


def test_no_known_hosts_file_and_an_unreadable_one() -> None:
    gone = d.judge_host_keys(d.HostKeys(PI, PI, 22, "/h/kh", False))
    assert gone.status == "problem" and "does not exist" in gone.detail and "--known-hosts" in gone.fix
    odd = d.judge_host_keys(d.HostKeys(PI, PI, 22, "/h/kh", True, unreadable="bad line 3"))
    assert odd.status == "problem" and "bad line 3" in odd.detail and odd.fix


# -- the API, the files, the token, the certificate -----------------------------------------------------


def test_api_verdicts() -> None:
    assert d.judge_api(API_OK).status == "ok" and "refreshed the token" in d.judge_api(API_OK).detail
    plain = d.judge_api(d.ApiSeen("https://a", False, answered=True, status_code=404, elapsed_ms=3))
    assert plain.status == "ok" and "unauthenticated request (HTTP 404)" in plain.detail
    refused = d.judge_api(d.ApiSeen("https://a", True, answered=True, token_refused=True))
    assert refused.status == "ok" and "refused the token" in refused.detail
    down = d.judge_api(
        d.ApiSeen("http://127.0.0.1:1", False, answered=False, failure=d.Failure("E_API_UNREACHABLE", "refused"))
    )
    assert down.status == "problem" and "does not answer (E_API_UNREACHABLE)" in down.detail and "VPN" in down.fix
    gateway = d.judge_api(
        d.ApiSeen("https://a", False, answered=False, failure=d.Failure("E_API_UNAVAILABLE", "HTTP 503", "Wait."))
    )
    assert gateway.status == "problem" and gateway.fix == "Wait."


def test_nothing_installed_is_warnings_with_the_next_steps() -> None:
    st = status(None, None, token=False)
    checks = [d.judge_files(st), d.judge_token(st, API_OK), d.judge_certificate(st, NOW), d.judge_ssh_skipped(st)]
    assert [c.status for c in checks] == ["ok", "warning", "warning", "warning"]
    assert "request_token" in checks[1].fix and "a first start" in checks[1].detail
    assert "request_certificate" in checks[2].fix and "request_certificate" in checks[3].fix
    assert d.exit_status(checks) == 0


def test_token_verdicts(key: asyncssh.SSHKey, ca: asyncssh.SSHKey) -> None:
    st = status(key, cert(ca, key, -60, 3600))
    assert d.judge_token(st, API_OK).status == "ok"
    refused = d.judge_token(st, replace(API_OK, refreshed=False, token_refused=True))
    assert refused.status == "warning" and "expired or was refused" in refused.detail and "request_token" in refused.fix
    unchecked = d.judge_token(st, replace(API_OK, answered=False))
    assert unchecked.status == "warning" and "not checked" in unchecked.detail


def test_certificate_verdicts(key: asyncssh.SSHKey, ca: asyncssh.SSHKey) -> None:
    good = d.judge_certificate(status(key, cert(ca, key, -60, 3600)), NOW)
    assert good.status == "ok" and "for hpcrobot" in good.detail and "59 min left" in good.detail
    expired = d.judge_certificate(status(key, cert(ca, key, -7200, -60)), NOW)
    assert expired.status == "warning" and "expired at" in expired.detail and "request_certificate" in expired.fix
    soon = d.judge_certificate(status(key, cert(ca, key, -60, 100)), NOW)
    assert soon.status == "warning" and "expires in" in soon.detail
    future = d.judge_certificate(status(key, cert(ca, key, 600, 3600)), NOW)
    assert future.status == "problem" and "valid only from" in future.detail and "set-ntp" in future.fix
    other = asyncssh.generate_private_key("ssh-ed25519")
    foreign = d.judge_certificate(status(key, cert(ca, other, -60, 3600)), NOW)
    assert foreign.status == "warning" and "does not belong" in foreign.detail
    broken = d.judge_certificate(status(key, "ssh-ed25519-cert-v01@openssh.com AAAA"), NOW)
    assert broken.status == "warning" and "not usable" in broken.detail


def test_unsafe_files_are_a_problem(key: asyncssh.SSHKey, ca: asyncssh.SSHKey) -> None:
    c = d.judge_files(status(key, cert(ca, key, -60, 3600), token_mode=0o644))
    assert c.status == "problem" and "hpc_token" in c.detail and "chmod 600" in c.fix and "new token" in c.fix


# -- the nodes -------------------------------------------------------------------------------------------


def test_a_healthy_login_and_data_node() -> None:
    login = d.judge(d.Seen(nodes=[node()]))
    assert [(c.name, c.status) for c in login] == [
        ("ssh pilogin", "ok"),
        ("slurm pilogin", "ok"),
        ("storage pilogin", "ok"),
        ("clock pilogin", "ok"),
        ("local roots", "ok"),
    ]
    assert "Slurm 22.05.8" in login[1].detail and "/lustre 1.0 GiB free of 2.0 GiB" in login[2].detail
    data = d.judge(d.Seen(nodes=[node(DATA)]))
    assert [c.name for c in data][:3] == ["ssh data", "storage data", "clock data"]  # no Slurm on a data node
    assert "/archive 768.0 MiB free" in data[1].detail


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("E_CONNECT", "VPN"),
        ("E_TIMEOUT", "VPN"),
        ("E_HOSTKEY", "ssh-keyscan -t ed25519"),
        ("E_AUTH", "request_certificate"),
    ],
)
def test_a_node_that_refuses_is_a_problem(code: str, words: str) -> None:
    c = d.judge_ssh(node(failure=d.Failure(code, "Cannot reach pilogin: ConnectionRefusedError.")))
    assert c.status == "problem" and code in c.detail and words in c.fix
    checks = d.judge(d.Seen(nodes=[node(failure=d.Failure(code, "x"))]))
    assert [x.name for x in checks] == ["ssh pilogin", "local roots"]  # nothing more asked of it
    assert d.exit_status(checks) == 1


def test_a_changed_host_key_and_a_missing_one_at_ssh() -> None:
    refused = node(failure=d.Failure("E_HOSTKEY", "The host key is unknown or has CHANGED"), known_hosts="/h/kh")
    changed = d.judge_ssh(refused, key_known=True)
    assert changed.status == "problem" and "CHANGED: do not connect" in changed.fix
    assert "ssh-keygen -R '[127.0.0.1]:2201' -f /h/kh" in changed.fix and "publishes" in changed.fix
    missing = d.judge(d.Seen(host_keys=[d.HostKeys(PI, "127.0.0.1", 2201, "/h/kh", True)], nodes=[refused]))
    ssh = next(c for c in missing if c.name == "ssh pilogin")
    assert ssh.status == "problem" and "as the known_hosts pilogin line says" in ssh.fix


def test_armlogin_unreachable_names_the_campus_network() -> None:
    c = d.judge_ssh(node("armlogin.hpc.sjtu.edu.cn", failure=d.Failure("E_CONNECT", "Cannot reach armlogin")))
    assert "campus network" in c.fix


def test_slurm_missing_and_probe_failed() -> None:
    missing = d.judge_slurm(node(), None)
    assert missing.status == "problem" and "sinfo --version" in missing.detail
    failed = node(probe=None, probe_failure=d.Failure("E_TIMEOUT", "sh did not finish"))
    assert d.judge_slurm(failed, None).status == "problem"
    assert d.judge_storage(failed, {}).status == "problem"


def test_parse_probe() -> None:
    out = "slurm 22.05.8\ndf /lustre 100 40 /lustre\ndf /vault -\ndf /odd 1 2 /mnt/with space\n"
    version, pools = d.parse_probe(out)
    assert version == "22.05.8"
    assert pools["/lustre"] == d.Pool("/lustre", 100, 40, "/lustre") and pools["/vault"] is None
    assert pools["/odd"] is not None and pools["/odd"].mount == "/mnt/with space"
    assert d.parse_probe("slurm \n")[0] is None


def test_storage_verdicts() -> None:
    n = node(DATA)
    gone = d.judge_storage(n, {"/lustre": d.Pool("/lustre", 100, 50, "/lustre"), "/archive": None})
    assert gone.status == "problem" and "does not show /archive" in gone.detail and "not mounted" in gone.fix
    full = d.judge_storage(
        n, {"/lustre": d.Pool("/lustre", 1000, 1, "/lustre"), "/archive": d.Pool("/archive", 10, 9, "/archive")}
    )
    assert full.status == "warning" and "/lustre is nearly full" in full.detail
    flat = d.judge_storage(
        n, {"/lustre": d.Pool("/lustre", 10, 9, "/"), "/archive": d.Pool("/archive", 10, 9, "/archive")}
    )
    assert flat.status == "warning" and "not a mount of its own" in flat.detail


# -- clocks ------------------------------------------------------------------------------------------------


def test_clock_within_a_minute_is_ok() -> None:
    c = d.judge_clock(node(remote_clock=1030.0), local_suspect=False)
    assert c.status == "ok" and "30 s ahead of this computer" in c.detail


def test_one_node_off_is_that_nodes_clock() -> None:
    nodes = [node(), node(DATA, remote_clock=1200.0)]
    assert not d.local_clock_suspect(nodes)
    checks = d.judge(d.Seen(nodes=nodes))
    clock = next(c for c in checks if c.name == "clock data")
    assert clock.status == "warning" and "200 s ahead" in clock.detail and "validity" not in clock.fix
    assert "data.hpc.sjtu.edu.cn's clock is off" in clock.fix and d.HELP_MAIL in clock.fix
    assert "Certificates are valid from about a minute" in clock.detail


def test_every_node_off_is_this_computers_clock() -> None:
    nodes = [node(remote_clock=1100.0), node(DATA, remote_clock=1101.0)]
    assert d.local_clock_suspect(nodes)
    checks = [c for c in d.judge(d.Seen(nodes=nodes)) if c.name.startswith("clock")]
    assert all(c.status == "warning" and "This computer's clock is off" in c.fix for c in checks)
    assert all("set-ntp" in c.fix for c in checks)


def test_a_large_skew_is_a_problem_and_the_round_trip_counts() -> None:
    far = d.judge_clock(node(remote_clock=1000.0 - 2000), local_suspect=True)
    assert far.status == "problem" and "2000 s behind" in far.detail
    assert d.exit_status([far]) == 1
    # 70 s off, but the answer took 30 s each way: it may be only 40 s off
    unsure = d.judge_clock(node(remote_clock=1070.0, clock_uncertainty=30.0), local_suspect=False)
    assert unsure.status == "ok"
    unread = d.judge_clock(node(remote_clock=None, clock_failure=d.Failure("E_TIMEOUT", "date hung")), False)
    assert unread.status == "warning" and "could not be read" in unread.detail


# -- local roots -----------------------------------------------------------------------------------------


def test_local_roots() -> None:
    none = d.judge_local_roots([])
    assert none.status == "ok" and "No --local-root" in none.detail and "only --local-root applies" in none.detail
    some = d.judge_local_roots([d.LocalRoot("/data", True)])
    assert some.status == "ok" and "--local-root in force: /data" in some.detail
    bad = d.judge_local_roots([d.LocalRoot("/data", True), d.LocalRoot("/gone", False)])
    assert bad.status == "warning" and "/gone" in bad.detail and "--local-root" in bad.fix


# -- the report ------------------------------------------------------------------------------------------


def report(checks: list[d.Check]) -> d.Report:
    return d.Report(
        when="2026-12-07T13:00:00Z",
        took_s=1.23,
        versions={"sjtu-hpc-mcp": "0.1.0", "slurm@pilogin": "22.05.8"},
        settings={"workspace": "/w", "api_url": d.public_url("https://me:pw@api.hpc.sjtu.edu.cn/?k=v")},
        checks=checks,
    )


def test_text_form_one_line_each_with_its_fix() -> None:
    checks = [
        d.Check(name="api", status="ok", detail="answered."),
        d.Check(name="token", status="warning", detail="No API token.", fix="Ask for one."),
        d.Check(name="ssh data", status="problem", detail="Cannot reach\ndata.", fix="Check\nthe VPN."),
    ]
    text = d.render_text(report(checks))
    lines = text.splitlines()
    assert lines[0].startswith("sjtu-hpc-mcp doctor (2026-12-07T13:00:00Z; sjtu-hpc-mcp 0.1.0")
    assert lines[1] == "ok       api: answered."
    assert lines[2] == "warning  token: No API token. Fix: Ask for one."
    assert lines[3] == "problem  ssh data: Cannot reach data. Fix: Check the VPN."
    assert lines[4] == "1 ok, 1 warning, 1 problem in 1.2 s: something blocks use (exit status 1)."
    assert len(lines) == 5
    calm = d.render_text(report(checks[:2])).splitlines()[-1]
    assert calm.endswith("nothing blocks use (see the warnings).")


def test_json_form() -> None:
    checks = [
        d.Check(name="api", status="ok", detail="answered."),
        d.Check(name="ssh data", status="problem", detail="Cannot reach data.", fix="Check the VPN."),
    ]
    data = json.loads(d.render_json(report(checks)))
    assert set(data) == {"format", "when", "took_s", "versions", "settings", "checks", "summary", "exit_status"}
    assert data["format"] == d.FORMAT and data["exit_status"] == 1
    assert data["summary"] == {"ok": 1, "warning": 0, "problem": 1}
    assert data["checks"][0] == {"name": "api", "status": "ok", "detail": "answered.", "fix": ""}
    assert data["checks"][1]["fix"] == "Check the VPN."
    assert data["versions"]["slurm@pilogin"] == "22.05.8"
    assert data["settings"]["api_url"] == "https://api.hpc.sjtu.edu.cn/"  # no user:password, no query


def test_no_secret_in_either_form() -> None:
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    plain_token = "s3cr3t-token-value"
    checks = [
        d.Check(name="api", status="problem", detail=f"server said: bad token {plain_token}", fix=f"not {TOKEN}"),
        d.Check(name="x", status="problem", detail=f"key {private}", fix="Authorization: Bearer abcdefgh12345678"),
    ]
    raw = report(checks).model_copy(update={"settings": {"note": plain_token}})
    clean = d.scrubbed(raw, [plain_token, private])
    for text in (d.render_text(clean), d.render_json(clean)):
        assert plain_token not in text and TOKEN not in text and "BEGIN OPENSSH PRIVATE KEY" not in text
        assert "b3BlbnNzaC1rZXktdjEAAAAA" not in text and "abcdefgh12345678" not in text
        assert d.REDACTED in text
    # a JWT-shaped token is removed even when the shell did not name it
    assert TOKEN not in d.scrub(f"x {TOKEN} y")


def test_the_verdicts_never_carry_what_they_are_not_given(key: asyncssh.SSHKey, ca: asyncssh.SSHKey) -> None:
    """The credential checks see facts, never the token or the key: nothing secret can reach their text."""
    st = status(key, cert(ca, key, -60, 3600))
    secret_key = key.export_private_key("openssh").decode()
    for c in (d.judge_files(st), d.judge_token(st, API_OK), d.judge_certificate(st, NOW)):
        text = c.detail + c.fix
        assert "PRIVATE KEY" not in text and secret_key.splitlines()[1] not in text
