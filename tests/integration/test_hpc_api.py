"""HpcApi against the API double (in-process, no root): every call, every error code, no secret in any error."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncssh
import httpx2
import pytest

from lab.api_double import BUILTIN_USERS, DoubleState, run_double
from sjtu_hpc_mcp import __version__
from sjtu_hpc_mcp.core.certs import parse_certificate, public_key_fingerprint
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.shell.hpc_api import SECURITY_DOCS, HpcApi, KeyPair

pytestmark = pytest.mark.anyio

USER = "hpcrobot"
PASSWORD = "lab-password-1"
PASSWORDS = [u["password"] for u in BUILTIN_USERS]
CERT_TYPE = "ssh-ed25519-cert-v01@openssh.com"
MOCK_TOKEN = "tok-123456"


@pytest.fixture(scope="module")
def double_server() -> Iterator[tuple[str, DoubleState]]:
    # One double per module (start/stop costs ~0.2 s); every test starts from a reset state.
    with run_double(asyncssh.generate_private_key("ssh-ed25519")) as served:
        yield served


@pytest.fixture
def double(double_server: tuple[str, DoubleState]) -> tuple[str, DoubleState]:
    double_server[1].reset()
    return double_server


@pytest.fixture
def state(double: tuple[str, DoubleState]) -> DoubleState:
    return double[1]


class Secrets:
    """Every secret the suite has seen: passwords, every token the double issued, private keys."""

    def __init__(self, state: DoubleState) -> None:
        self.state = state
        self.extra = {*PASSWORDS, MOCK_TOKEN}

    def add(self, secret: str) -> None:
        self.extra.add(secret)

    def all(self) -> set[str]:
        return {s for s in self.extra | set(self.state.tokens) if s}


@pytest.fixture
def secrets(state: DoubleState) -> Secrets:
    return Secrets(state)


@pytest.fixture
async def api(double: tuple[str, DoubleState]) -> AsyncIterator[HpcApi]:
    client = HpcApi(double[0], timeout=5.0, approval_timeout=5.0)
    yield client
    await client.aclose()


@pytest.fixture
def expect(secrets: Secrets) -> Callable[..., Any]:
    async def check(code: str, call: Any) -> HpcError:
        with pytest.raises(HpcError) as info:
            await call
        err = info.value
        assert err.code == code, str(err)
        text = str(err)
        for secret in secrets.all():
            assert secret not in text, f"secret leaked into {code}"
        assert "PRIVATE KEY" not in text
        return err

    return check


async def login(api: HpcApi, user: str = USER, password: str = PASSWORD) -> str:
    return await api.new_token(user, password)


async def held(state: DoubleState, call: Any, kind: str) -> asyncio.Task[Any]:
    """Start a call that the double holds for two-factor approval; return once it is pending."""
    task = asyncio.ensure_future(call)
    pending = await state.await_pending(timeout=3)
    assert [p["kind"] for p in pending] == [kind]
    assert not task.done()
    return task


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- happy paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["always", "never"])
async def test_new_token_strips_bearer(api: HpcApi, state: DoubleState, prefix: str) -> None:
    state.configure(bearer_prefix=prefix)
    token = await login(api)
    assert token in state.tokens
    assert not token.lower().startswith("bearer") and token == token.strip()
    assert (await api.get_user(token, USER))["uid"] == USER


async def test_requests_carry_contract_headers_and_bodies(api: HpcApi, state: DoubleState) -> None:
    token = await login(api)
    await api.gen_key(token, USER)
    await api.get_user(token, USER)
    await api.quota("user", USER)
    log = {(r["method"], r["path"]): r for r in state.requests}
    assert log["POST", "/token"]["headers"]["accept"] == "text/plain"
    assert log["POST", "/token"]["body"] == {"domain": "pi", "operator": USER, "password": "<redacted>"}
    assert log["POST", "/gen_key"]["headers"]["accept"] == "application/json"
    assert log["POST", "/gen_key"]["body"] == {"domain": "pi", "hpc_user": USER}
    assert log["GET", "/user"]["query"] == {"name": USER, "domain": "pi"}
    assert log["GET", "/quota"]["headers"]["authorization"] is None
    assert all(r["status"] == 200 for r in state.requests)


async def test_refresh_kills_the_old_token(api: HpcApi, expect: Callable[..., Any]) -> None:
    old = await login(api)
    new = await api.refresh_token(old)
    assert new != old
    assert (await api.get_user(new, USER))["uid"] == USER
    await expect("E_TOKEN_REFUSED", api.refresh_token(old))
    err = await expect("E_TOKEN_REFUSED", api.get_user(old, USER))
    assert "request_token" in err.fix


async def test_expired_token_is_refused(api: HpcApi, state: DoubleState, expect: Callable[..., Any]) -> None:
    token = await login(api)
    assert state.expire_tokens() == 1
    err = await expect("E_TOKEN_REFUSED", api.get_user(token, USER))
    assert "token expired" in err.message
    await expect("E_TOKEN_REFUSED", api.gen_key(token, USER))
    await expect("E_TOKEN_REFUSED", api.refresh_token(token))


async def test_wrong_password_is_a_login_refusal(api: HpcApi, expect: Callable[..., Any], secrets: Secrets) -> None:
    secrets.add("wrong-password-7")
    err = await expect("E_LOGIN_REFUSED", login(api, password="wrong-password-7"))
    assert "username or password refused" in err.message


async def test_gen_key_returns_an_ed25519_pair(api: HpcApi, state: DoubleState, secrets: Secrets) -> None:
    pair = await api.gen_key(await login(api), USER)
    secrets.add(pair.private_key.strip())
    key = asyncssh.import_private_key(pair.private_key)
    assert key.export_public_key("openssh").decode().split()[:2] == pair.public_key.split()[:2]
    assert pair.public_key.startswith("ssh-ed25519 ")
    assert state.keys_generated[-1]["fingerprint"] == key.get_fingerprint()
    assert "PRIVATE" not in repr(pair) and pair.public_key in repr(pair)


async def test_sign_cert_is_held_until_approved(api: HpcApi, state: DoubleState) -> None:
    token = await login(api)
    pair = await api.gen_key(token, USER)
    task = await held(state, api.sign_cert(token, USER, pair.public_key, 600), "sign_cert")
    assert state.decide()[0]["status"] == "approved"
    cert_text = await asyncio.wait_for(task, 3)
    assert cert_text.startswith(CERT_TYPE)
    cert = parse_certificate(cert_text)
    assert cert.principals == (USER,) and cert.cert_type == "user"
    assert cert.key_fingerprint == public_key_fingerprint(pair.public_key)
    assert cert.valid_before is not None and 590 <= cert.valid_before.timestamp() - time.time() <= 610


async def test_sign_cert_denied(api: HpcApi, state: DoubleState, expect: Callable[..., Any]) -> None:
    token = await login(api)
    pair = await api.gen_key(token, USER)
    task = await held(state, api.sign_cert(token, USER, pair.public_key, 600), "sign_cert")
    state.decide(decision="deny")
    await expect("E_APPROVAL_DENIED", task)


async def test_approval_timed_out_at_the_server(api: HpcApi, state: DoubleState, expect: Callable[..., Any]) -> None:
    state.configure(approval_timeout=0.2)
    token = await login(api)
    await expect("E_APPROVAL_TIMEOUT", api.update_user(token, USER, {"contact": "email"}))


async def test_no_two_factor_decision_within_the_approval_timeout(
    double: tuple[str, DoubleState], expect: Callable[..., Any]
) -> None:
    url, state = double
    client = HpcApi(url, timeout=5.0, approval_timeout=0.3)
    try:
        token = await login(client)
        pair = await client.gen_key(token, USER)
        start = time.monotonic()
        err = await expect("E_API_TIMEOUT", client.sign_cert(token, USER, pair.public_key, 600))
        assert time.monotonic() - start < 2
        assert "no two-factor decision within 0.3 s" in err.message
        await asyncio.sleep(0.1)  # the double notices the client went away and drops the approval
        assert [a["status"] for a in state.snapshot()["approvals"]] == ["abandoned"]
    finally:
        await client.aclose()


async def test_user_without_second_channel(api: HpcApi, expect: Callable[..., Any]) -> None:
    token = await login(api, "nochannel", "lab-password-2")
    pair = await api.gen_key(token, "nochannel")
    err = await expect("E_NO_SECOND_CHANNEL", api.sign_cert(token, "nochannel", pair.public_key, 600))
    assert SECURITY_DOCS in err.fix
    err = await expect("E_NO_SECOND_CHANNEL", api.update_user(token, "nochannel", {"email": "a@sjtu.edu.cn"}))
    assert SECURITY_DOCS in str(err)


async def test_get_user(api: HpcApi) -> None:
    record = await api.get_user(await login(api), USER)
    assert record["uid"] == USER
    assert record["homeDirectory"] == "/lustre/home/acct-hpc/hpcrobot"


async def test_update_user_after_approval(api: HpcApi, state: DoubleState) -> None:
    token = await login(api)
    task = await held(state, api.update_user(token, USER, {"email": "robot@sjtu.edu.cn"}), "update_user")
    state.decide()
    assert (await asyncio.wait_for(task, 3))["email"] == "robot@sjtu.edu.cn"
    assert state.users[USER]["email"] == "robot@sjtu.edu.cn"


async def test_password_change_then_login_with_the_new_password(
    api: HpcApi, state: DoubleState, secrets: Secrets
) -> None:
    new_password = "new-password-9"
    secrets.add(new_password)
    token = await login(api)
    task = await held(state, api.update_user(token, USER, {"password": new_password}), "update_user")
    state.decide()
    await asyncio.wait_for(task, 3)
    assert state.password_changed[USER] == 1
    assert await login(api, password=new_password) in state.tokens


@pytest.mark.parametrize(("quota_type", "name"), [("account", "acct-hpc"), ("user", USER)])
async def test_quota(api: HpcApi, quota_type: Any, name: str) -> None:
    data = await api.quota(quota_type, name)
    assert (data["quota_type"], data["name"]) == (quota_type, name)
    assert data["quotas"] and "collector" in data


# -- refusals and failures -----------------------------------------------------------------------


async def test_other_refusals_carry_the_reason(api: HpcApi, expect: Callable[..., Any]) -> None:
    err = await expect("E_API_REFUSED", api.quota("account", "acct-nobody"))
    assert "no account quota found" in err.message and "404" in err.message
    token = await login(api)
    err = await expect("E_API_REFUSED", api.get_user(token, "otheruser"))  # 403 that is not about the token
    assert "permission denied" in err.message
    # "permission denied" on an approval call is not a denied approval
    await expect("E_API_REFUSED", api.update_user(token, "otheruser", {"contact": "email"}))
    await expect("E_API_REFUSED", api.sign_cert(token, USER, "not a key", 600))


@pytest.mark.parametrize("error_format", ["text", "json"])
@pytest.mark.parametrize("path", ["/token", "/quota", "/sign_cert"])
async def test_internal_error_gives_the_session_id(
    api: HpcApi, state: DoubleState, expect: Callable[..., Any], error_format: str, path: str
) -> None:
    token = await login(api)
    state.configure(error_format=error_format, fail_next={"path": path})
    call = {
        "/token": lambda: login(api),
        "/quota": lambda: api.quota("user", USER),
        "/sign_cert": lambda: api.sign_cert(token, USER, "ssh-ed25519 AAAA", 600),
    }[path]
    err = await expect("E_API_INTERNAL", call())
    assert state.session_ids and state.session_ids[-1] in err.message
    assert "hpc@sjtu.edu.cn" in err.fix and state.session_ids[-1] in err.fix


async def test_server_text_is_scrubbed_of_secrets(
    api: HpcApi, state: DoubleState, expect: Callable[..., Any], secrets: Secrets
) -> None:
    token = await login(api)
    new_password = "s3cret-Pass!"
    secrets.add(new_password)
    state.configure(fail_next={"path": "/user", "method": "PATCH", "status": 400, "body": f"bad: {new_password}"})
    err = await expect("E_API_REFUSED", api.update_user(token, USER, {"password": new_password}))
    assert "bad: <redacted>" in err.message
    state.configure(fail_next={"path": "/user", "status": 403, "body": f"token {token} has expired"})
    err = await expect("E_TOKEN_REFUSED", api.get_user(token, USER))
    assert "token <redacted> has expired" in err.message
    state.configure(fail_next={"path": "/token", "status": 401, "body": json.dumps({"message": PASSWORD})})
    await expect("E_LOGIN_REFUSED", login(api))


async def test_long_reasons_are_truncated(api: HpcApi, state: DoubleState, expect: Callable[..., Any]) -> None:
    state.configure(fail_next={"path": "/quota", "status": 418, "body": "why " * 1000})
    err = await expect("E_API_REFUSED", api.quota("user", USER))
    assert len(err.message) < 400 and err.message.endswith("…")


async def test_a_hang_times_out_on_time(double: tuple[str, DoubleState], expect: Callable[..., Any]) -> None:
    url, state = double
    state.configure(hang={"path": "/quota", "seconds": 5})
    client = HpcApi(url, timeout=0.3)
    try:
        start = time.monotonic()
        err = await expect("E_API_TIMEOUT", client.quota("user", USER))
        assert time.monotonic() - start < 1.5
        assert "did not answer within 0.3 s" in err.message
    finally:
        await client.aclose()


async def test_unreachable_api(expect: Callable[..., Any]) -> None:
    client = HpcApi(f"http://127.0.0.1:{closed_port()}", timeout=2)
    try:
        err = await expect("E_API_UNREACHABLE", client.new_token(USER, PASSWORD))
        assert "--api-url" in err.fix and "VPN" in err.fix
    finally:
        await client.aclose()


@pytest.mark.parametrize("bad", ["", "two words", "tok\nX-Evil: 1", "tokén"])
async def test_malformed_token_is_refused_before_sending(
    api: HpcApi, state: DoubleState, expect: Callable[..., Any], secrets: Secrets, bad: str
) -> None:
    secrets.add(bad)
    await expect("E_TOKEN_REFUSED", api.get_user(bad, USER))
    assert state.requests == []


def test_invalid_base_url() -> None:
    for url in ("ftp://api.example", "not a url", "https://"):
        with pytest.raises(HpcError) as info:
            HpcApi(url)
        assert info.value.code == "E_API_UNREACHABLE"


async def test_logs_only_method_path_status(
    api: HpcApi, caplog: pytest.LogCaptureFixture, secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    # Earlier tests in this process may have reconfigured logging (a server's logging capability, a
    # uvicorn config): make sure this module's records reach caplog.
    for name in ("sjtu_hpc_mcp", "sjtu_hpc_mcp.shell", "sjtu_hpc_mcp.shell.hpc_api"):
        lg = logging.getLogger(name)
        monkeypatch.setattr(lg, "disabled", False)
        monkeypatch.setattr(lg, "propagate", True)
        monkeypatch.setattr(lg, "level", logging.NOTSET if name != "sjtu_hpc_mcp" else logging.DEBUG)
    token = await login(api)
    pair = await api.gen_key(token, USER)
    secrets.add(pair.private_key.strip())
    await api.get_user(token, USER)
    ours = [r.getMessage() for r in caplog.records if r.name == "sjtu_hpc_mcp.shell.hpc_api"]
    # Other tests' servers in this process may log too: every line is method, path and status only,
    # and these three calls are there in order.
    assert all(re.fullmatch(r"[A-Z]+ /[a-z_]+ -> \d{3}", m) for m in ours), ours
    expected = ["POST /token -> 200", "POST /gen_key -> 200", "GET /user -> 200"]
    assert [m for m in ours if m in expected] == expected
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(s in everything for s in secrets.all())


# -- answers the double never gives (a mock transport) -------------------------------------------


def mocked(handler: Callable[[httpx2.Request], httpx2.Response]) -> HpcApi:
    return HpcApi("https://api.example", transport=httpx2.MockTransport(handler))


async def test_user_agent_header() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"quotas": []})

    client = mocked(handler)
    await client.quota("user", USER)
    await client.aclose()
    assert seen[0].headers["user-agent"] == f"sjtu-hpc-mcp/{__version__}"
    assert seen[0].url.params["quota_type"] == "user"


async def test_internal_error_without_session_id(expect: Callable[..., Any]) -> None:
    client = mocked(lambda r: httpx2.Response(500, text="oops"))
    err = await expect("E_API_INTERNAL", client.quota("user", USER))
    assert "no session ID" in err.message
    await client.aclose()


async def test_no_second_channel_in_a_json_400(expect: Callable[..., Any]) -> None:
    client = mocked(lambda r: httpx2.Response(400, json={"detail": "user have not set email or jAccount"}))
    await expect("E_NO_SECOND_CHANNEL", client.update_user(MOCK_TOKEN, USER, {"email": "a@b.cn"}))
    await client.aclose()


LEAKY_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecretsecret\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("call", "response"),
    [
        (lambda c: c.new_token(USER, PASSWORD), httpx2.Response(200, text="  ")),
        (lambda c: c.new_token(USER, PASSWORD), httpx2.Response(200, text="Bearer two words")),
        (lambda c: c.gen_key(MOCK_TOKEN, USER), httpx2.Response(200, json={"private_key": LEAKY_KEY})),
        (lambda c: c.gen_key(MOCK_TOKEN, USER), httpx2.Response(200, text=LEAKY_KEY)),
        (lambda c: c.sign_cert(MOCK_TOKEN, USER, "ssh-ed25519 AAAA", 60), httpx2.Response(200, text="<html>")),
        (lambda c: c.get_user(MOCK_TOKEN, USER), httpx2.Response(200, json=["not", "an", "object"])),
        (lambda c: c.quota("user", USER), httpx2.Response(200, text="not json")),
    ],
)
async def test_unexpected_2xx_bodies_are_bad_replies(
    expect: Callable[..., Any], call: Callable[[HpcApi], Any], response: httpx2.Response
) -> None:
    client = mocked(lambda r: response)
    err = await expect("E_API_BAD_REPLY", call(client))
    assert "secretsecret" not in str(err)
    await client.aclose()


async def test_tolerant_answers() -> None:
    answers = iter([httpx2.Response(200, text='"Bearer tok-abc"\n'), httpx2.Response(200, text="bearer tok-def")])
    client = mocked(lambda r: next(answers))
    assert await client.new_token(USER, PASSWORD) == "tok-abc"
    assert await client.refresh_token("tok-abc") == "tok-def"
    await client.aclose()


async def test_redirect_to_another_host_is_not_followed(expect: Callable[..., Any]) -> None:
    hosts: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        hosts.append(request.url.host)
        return httpx2.Response(307, headers={"location": "https://evil.example/token"})

    client = mocked(handler)
    err = await expect("E_API_REFUSED", client.new_token(USER, PASSWORD))
    assert "evil.example" in err.message and hosts == ["api.example"]
    await client.aclose()


async def test_same_host_redirect_is_followed() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/quota":
            return httpx2.Response(308, headers={"location": "/v2/quota?" + request.url.query.decode()})
        return httpx2.Response(200, json={"path": request.url.path})

    client = mocked(handler)
    assert await client.quota("user", USER) == {"path": "/v2/quota"}
    await client.aclose()


def test_token_pattern_in_messages_is_scrubbed() -> None:
    from sjtu_hpc_mcp.shell.hpc_api import _scrub

    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert _scrub(f"bad {jwt} and pw", ["pw"]) == "bad <redacted> and <redacted>"
    assert re.search("PRIVATE", _scrub(LEAKY_KEY, [])) is None
    assert "KeyPair(private_key='<redacted>'" in repr(KeyPair("k", "ssh-ed25519 AAAA"))


@pytest.mark.parametrize(
    "response",
    [
        httpx2.Response(502, text="<html><body>502 Bad Gateway</body></html>"),
        httpx2.Response(503, text="Service Unavailable"),
        httpx2.Response(504, json={"message": "upstream timed out"}),
        httpx2.Response(404, text="<!DOCTYPE html><html><head><title>Not Found</title></head></html>"),
        httpx2.Response(403, headers={"content-type": "text/html"}, text="<p>blocked by the firewall</p>"),
    ],
)
async def test_a_proxy_or_gateway_page_means_unavailable(expect: Callable[..., Any], response: httpx2.Response) -> None:
    """Never raw HTML, never "correct the request": the API is down or behind a failing proxy."""
    client = mocked(lambda r: response)
    for call in (client.quota("user", USER), client.get_user(MOCK_TOKEN, USER), client.refresh_token(MOCK_TOKEN)):
        err = await expect("E_API_UNAVAILABLE", call)
        text = str(err)
        assert "<" not in text and "correct the request" not in text
        assert "try again later" in text.lower() and f"HTTP {response.status_code}" in text
    await client.aclose()
