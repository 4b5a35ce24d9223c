"""request_token, request_certificate, get_user, query_quota, update_user through a real stdio client,
against the HPC API double (and the lab, for the certificate's SSH login)."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncssh
import pytest
from mcp.client import Client

from conftest import stdio_server
from lab.api_double import DoubleState, run_double

pytestmark = pytest.mark.anyio
PASSWORD = "lab-password-1"


@pytest.fixture(scope="module")
def ca_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture
def double(ca_key: asyncssh.SSHKey) -> Iterator[tuple[str, DoubleState]]:
    with run_double(ca_key) as pair:
        yield pair


APPROVAL_WAIT_S = 2  # --approval-wait of these servers: a call waits this long for two-factor approval


def args(url: str, workspace: Path, *extra: str) -> list[str]:
    return ["--workspace", str(workspace), "--api-url", url, "--approval-wait", str(APPROVAL_WAIT_S), *extra]


def password_file(tmp_path: Path, text: str = PASSWORD) -> Path:
    p = tmp_path / "uploaded-password.txt"
    p.write_text(text + "\n")
    return p


async def call(client: Client, tool: str, **arguments: Any) -> tuple[bool, dict[str, Any] | None, str]:
    r = await client.call_tool(tool, arguments)
    text = "".join(getattr(c, "text", "") for c in r.content)
    return bool(r.is_error), r.structured_content, text


async def ok(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    err, data, text = await call(client, tool, **arguments)
    assert not err, text
    assert data is not None
    return data


async def test_request_token_with_password_file(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, _ = double
    pw = password_file(tmp_path)
    log = tmp_path / "server.log"
    seen = []
    async with stdio_server(args(url, workspace, "--log-level", "DEBUG"), stderr_path=log) as c:
        r = await ok(c, "request_token", username="hpcrobot", password_file=str(pw))
        seen.append(str(r))
        assert r["status"] == "issued" and r["password_file_deleted"] is True
        assert not pw.exists()
        creds = workspace / "credentials"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o700
        assert stat.S_IMODE((creds / "hpc_token").stat().st_mode) == 0o600
        first = (creds / "hpc_token").read_text().strip()
        assert first and not first.startswith("Bearer")
        r2 = await ok(c, "request_token")
        seen.append(str(r2))
        assert r2["status"] == "refreshed"
        second = (creds / "hpc_token").read_text().strip()
        assert second != first
        seen.append(str(await ok(c, "credential_status")))
    everything = "\n".join(seen) + log.read_text()
    for secret in (PASSWORD, first, second):
        assert secret not in everything


async def test_refused_refresh_falls_back_to_a_new_token(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, state = double
    async with stdio_server(args(url, workspace)) as c:
        await ok(c, "request_token", username="hpcrobot", password_file=str(password_file(tmp_path)))
        state.expire_tokens()
        r = await ok(c, "request_token")
        assert r["status"] == "waiting_for_password" and "password_file" in r["message"] and r["page_url"]
        r = await ok(c, "request_token", password_file=str(password_file(tmp_path)))
        assert r["status"] == "issued"


async def test_wrong_password_still_deletes_the_file(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, _ = double
    pw = password_file(tmp_path, "not-the-password")
    async with stdio_server(args(url, workspace)) as c:
        err, _, text = await call(c, "request_token", username="hpcrobot", password_file=str(pw))
    assert err and "not-the-password" not in text
    assert not pw.exists()


@pytest.mark.parametrize("content", ["line1\nline2\n", "", "x" * 5000])
async def test_files_that_are_not_password_files_are_left_alone(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path, content: str
) -> None:
    url, _ = double
    f = tmp_path / "important.txt"
    f.write_text(content)
    async with stdio_server(args(url, workspace)) as c:
        err, _, text = await call(c, "request_token", username="hpcrobot", password_file=str(f))
    assert err and "E_PASSWORD_FILE" in text
    assert f.exists()


async def login(c: Client, tmp_path: Path) -> None:
    await ok(c, "request_token", username="hpcrobot", password_file=str(password_file(tmp_path)))


def approve_later(state: DoubleState, delay: float, decision: str = "approve") -> threading.Thread:
    def run() -> None:
        state.wait_pending(10, 1)
        time.sleep(delay)
        state.decide(decision=decision)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


async def test_certificate_denied_writes_nothing(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, state = double
    async with stdio_server(args(url, workspace)) as c:
        await login(c, tmp_path)
        approve_later(state, 0.2, "deny")
        r = await ok(c, "request_certificate")
        assert r["status"] == "denied" and "denied" in r["message"]
    assert not (workspace / "credentials/id_ed25519").exists()
    assert not (workspace / "credentials/id_ed25519-cert.pub").exists()


async def test_certificate_already_valid_asks_nothing(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, state = double
    state.configure(auto_approve_after=0.1)
    async with stdio_server(args(url, workspace)) as c:
        await login(c, tmp_path)
        assert (await ok(c, "request_certificate", valid_time=7200))["status"] == "issued"
        r = await ok(c, "request_certificate", valid_time=3600)
        assert r["status"] == "already_valid"
        assert len(state.snapshot()["approvals"]) == 1


async def test_get_user_and_quota(double: tuple[str, DoubleState], workspace: Path, tmp_path: Path) -> None:
    url, _ = double
    async with stdio_server(args(url, workspace)) as c:
        await login(c, tmp_path)
        u = await ok(c, "get_user")
        assert u["username"] == "hpcrobot" and u["account"] == "acct-hpc"
        assert u["homes"]["pi"] == "/lustre/home/acct-hpc/hpcrobot"
        assert u["homes"]["sy"] == "/dssg/home/acct-hpc/hpcrobot"
        assert "%H" not in str(u)
        assert u["email_bound"] and u["jaccount_bound"]
        sy = await ok(c, "get_user", node_group="sy")
        assert sy["home"] == "/dssg/home/acct-hpc/hpcrobot"
        q = await ok(c, "query_quota")
        lines = [dict(zip(q["quota"]["columns"], row, strict=True)) for row in q["quota"]["rows"]]
        assert {line["quota"] for line in lines} == {"user hpcrobot", "account acct-hpc"}
        assert any(line["limit"] and "iB" in line["used"] for line in lines)
        assert "raw" not in q and q["summary"].startswith(f"{len(lines)} quota lines")
        assert "raw" in await ok(c, "query_quota", raw=True)


async def test_update_user_needs_confirm_and_approval(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, state = double
    async with stdio_server(args(url, workspace)) as c:
        await login(c, tmp_path)
        before = state.snapshot()["users"]["hpcrobot"]["email"]
        r = await ok(c, "update_user", email="new-address@sjtu.edu.cn")
        assert r["status"] == "preview"
        assert state.snapshot()["users"]["hpcrobot"]["email"] == before
        assert not state.pending()
        approve_later(state, 0.2)
        r = await ok(c, "update_user", email="new-address@sjtu.edu.cn", confirm=True)
        assert r["status"] == "updated"
        assert state.snapshot()["users"]["hpcrobot"]["email"] == "new-address@sjtu.edu.cn"


async def test_update_user_declined_by_the_person_changes_nothing(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    """confirm=true, but the person answers no when the server asks (form elicitation): nothing is sent to
    the API, no two-factor approval is started."""
    from mcp.client.context import ClientRequestContext
    from mcp.types import ElicitRequestParams, ElicitResult

    url, state = double
    asked: list[str] = []

    async def person(ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="decline")

    async with stdio_server(args(url, workspace), mode="legacy", elicitation_callback=person) as c:
        await login(c, tmp_path)
        before = state.snapshot()["users"]["hpcrobot"]["email"]
        r = await ok(c, "update_user", email="declined@sjtu.edu.cn", confirm=True)
    assert len(asked) == 1 and "email" in asked[0], asked
    assert r["status"] == "declined" and "declined" in r["message"] and "nothing changed" in r["message"], r
    assert state.snapshot()["users"]["hpcrobot"]["email"] == before
    assert not state.pending() and not state.snapshot()["approvals"]


async def test_update_user_without_second_channel(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, _ = double
    async with stdio_server(args(url, workspace)) as c:
        await ok(c, "request_token", username="nochannel", password_file=str(password_file(tmp_path, "lab-password-2")))
        err, _, text = await call(c, "update_user", email="nochannel@sjtu.edu.cn", confirm=True)
        assert err and "docs.hpc.sjtu.edu.cn/accounts/security.html" in text


async def test_500_shows_session_id_and_hang_times_out(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, state = double
    async with stdio_server(args(url, workspace, "--api-timeout", "1")) as c:
        await login(c, tmp_path)
        state.configure(fail_next={"path": "/user", "method": "GET", "status": 500})
        err, _, text = await call(c, "get_user")
        assert err and state.session_ids[-1] in text and "hpc@sjtu.edu.cn" in text
        state.configure(hang={"path": "/user", "method": "GET", "seconds": 5})
        t0 = time.monotonic()
        err, _, text = await call(c, "get_user")
        assert err and "E_API_TIMEOUT" in text
        assert time.monotonic() - t0 < 4


@pytest.mark.lab
async def test_certificate_after_late_approval_logs_in(lab: dict[str, Any], workspace: Path, tmp_path: Path) -> None:
    with run_double(lab["ca_key"]) as (url, state):
        server = args(url, workspace, "--known-hosts", lab["known_hosts"], "--host-map", lab["host_map"])
        async with stdio_server(server) as c:
            await login(c, tmp_path)
            approve_later(state, APPROVAL_WAIT_S + 3)  # after the first call gave up waiting
            r = await ok(c, "request_certificate")
            assert r["status"] == "waiting_for_approval"
            status = await ok(c, "credential_status")
            assert status["pending_approvals"]
            deadline = time.monotonic() + 20
            while r["status"] == "waiting_for_approval" and time.monotonic() < deadline:
                r = await ok(c, "request_certificate")
            assert r["status"] == "issued" and r["principals"] == ["hpcrobot"]
            key = workspace / "credentials/id_ed25519"
            assert stat.S_IMODE(key.stat().st_mode) == 0o600
            assert key.stat().st_uid == os.getuid()
            s = await ok(c, "run_slurm", command="sinfo", partition="cpu")
            assert s["host"] == "pilogin"


async def submit_password(url: str, password: str) -> int:
    import httpx2

    async with httpx2.AsyncClient() as h:
        page = await h.get(url)
        assert page.status_code == 200 and 'type="password"' in page.text
        r = await h.post(url, data={"password": password})
        return r.status_code


async def test_password_page_when_no_file(double: tuple[str, DoubleState], workspace: Path, tmp_path: Path) -> None:
    url, _ = double
    log = tmp_path / "server.log"
    async with stdio_server(args(url, workspace, "--log-level", "DEBUG"), stderr_path=log) as c:
        r = await ok(c, "request_token", username="hpcrobot")
        assert r["status"] == "waiting_for_password"
        page = r["page_url"]
        assert page.startswith("http://127.0.0.1:") and "/p/" in page
        import httpx2

        async with httpx2.AsyncClient() as h:
            assert (await h.get(page.rsplit("/", 1)[0] + "/wrong")).status_code == 404
        assert await submit_password(page, PASSWORD) == 200
        r = await ok(c, "request_token")
        assert r["status"] == "issued"
        async with httpx2.AsyncClient() as h:
            try:
                gone = (await h.get(page)).status_code
            except httpx2.ConnectError:
                gone = 0
        assert gone in (0, 404, 410)
        token = (workspace / "credentials/hpc_token").read_text().strip()
    assert PASSWORD not in log.read_text() and token not in log.read_text()


async def test_password_page_through_url_elicitation(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    from mcp.client.context import ClientRequestContext
    from mcp.types import ElicitRequestParams, ElicitResult

    url, _ = double
    asked: list[str] = []

    async def person(ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        page = getattr(params, "url", None)
        assert page, params
        asked.append(page)
        assert await submit_password(page, PASSWORD) == 200
        return ElicitResult(action="accept")

    async with stdio_server(args(url, workspace), mode="legacy", elicitation_callback=person) as c:
        r = await ok(c, "request_token", username="hpcrobot")
    assert asked and r["status"] == "issued"


@pytest.mark.parametrize("answer", ["accept", "decline"])
async def test_password_page_as_input_on_2026_07_28(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path, answer: str
) -> None:
    """On 2026-07-28 the page goes back as the call's input_required (URL elicitation); the client calls again
    with the person's answer, and that call waits for the password (accept) or returns the URL (decline)."""
    from mcp.client.context import ClientRequestContext
    from mcp.types import ElicitRequestParams, ElicitResult

    url, _ = double
    asked: list[str] = []

    async def person(ctx: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        page = getattr(params, "url", None)
        assert page and getattr(params, "mode", None) == "url", params
        asked.append(page)
        if answer == "accept":
            threading.Thread(target=lambda: anyio.run(submit_password, page, PASSWORD), daemon=True).start()
        return ElicitResult(action=answer)  # type: ignore[arg-type]

    async with stdio_server(args(url, workspace, "--approval-wait", "30"), elicitation_callback=person) as c:
        started = time.monotonic()
        r = await ok(c, "request_token", username="hpcrobot")
        took = time.monotonic() - started
    assert len(asked) == 1 and took < 10
    if answer == "accept":
        assert r["status"] == "issued"
    else:
        assert r["status"] == "waiting_for_password" and r["page_url"] == asked[0]


async def test_the_page_url_comes_back_at_once_without_elicitation(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    """A client that cannot show a URL gets page_url at once; the next call does the waiting. force_new is
    named as the reason, not a refusal that never happened."""
    url, _ = double
    async with stdio_server(args(url, workspace, "--approval-wait", "30")) as c:
        await login(c, tmp_path)
        started = time.monotonic()
        r = await ok(c, "request_token", force_new=True)
        assert time.monotonic() - started < 5
        assert r["status"] == "waiting_for_password" and r["page_url"]
        assert "(force_new)" in r["message"] and "refused" not in r["message"]
        threading.Timer(0.5, lambda: anyio.run(submit_password, r["page_url"], PASSWORD)).start()
        r = await ok(c, "request_token", force_new=True)
        assert r["status"] == "issued"
        (workspace / "credentials/hpc_token").write_text("stale-token\n")
        r = await ok(c, "request_token")
        assert r["status"] == "waiting_for_password" and "(the stored token was refused)" in r["message"]


async def test_update_password_through_the_page(
    double: tuple[str, DoubleState], workspace: Path, tmp_path: Path
) -> None:
    url, state = double
    new_password = "brand-new-password-42"
    log = tmp_path / "server.log"
    async with stdio_server(args(url, workspace), stderr_path=log) as c:
        await login(c, tmp_path)
        r = await ok(c, "update_user", password_page=True, confirm=True)
        assert r["status"] == "waiting_for_password" and r["page_url"]
        assert not state.pending()
        assert await submit_password(r["page_url"], new_password) == 200
        approve_later(state, 0.2)
        r = await ok(c, "update_user", password_page=True, confirm=True)
        assert r["status"] == "updated" and r["changes"] == {"password": "changed"}
        seen = str(r)
    assert state.snapshot()["users"]["hpcrobot"]["password_changed"] == 1
    assert new_password not in seen + log.read_text()
