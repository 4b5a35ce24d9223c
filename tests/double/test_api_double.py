"""Tests of the SJTU HPC API test double (tests/lab/api_double.py).  No root, no network."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncssh
import httpx2
import pytest

from lab.api_double import NO_CHANNEL, DoubleState, arun_double, run_double

USER, PASSWORD = "hpcrobot", "lab-password-1"
DOUBLE = Path(__file__).resolve().parents[1] / "lab" / "api_double.py"
SID_RE = re.compile(r"Session ID: ([0-9a-f]{32})")


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, asyncssh.SSHKey]:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="test-ca")
    path = tmp_path_factory.mktemp("ca") / "ca_key"
    key.write_private_key(path)
    os.chmod(path, 0o600)
    return path, key


@pytest.fixture(scope="module")
def server(ca: tuple[Path, asyncssh.SSHKey]) -> Iterator[tuple[str, DoubleState]]:
    with run_double(ca[0]) as srv:
        yield srv


@pytest.fixture
def client(server: tuple[str, DoubleState]) -> Iterator[httpx2.Client]:
    url, _ = server
    with httpx2.Client(base_url=url, timeout=5) as c:
        c.post("/_double/reset").raise_for_status()
        yield c


@pytest.fixture
def state(server: tuple[str, DoubleState], client: httpx2.Client) -> DoubleState:
    return server[1]


# ----------------------------------------------------------------------------- helpers


def get_token(c: httpx2.Client, user: str = USER, password: str = PASSWORD) -> str:
    r = c.post(
        "/token", json={"domain": "pi", "operator": user, "password": password}, headers={"Accept": "text/plain"}
    )
    assert r.status_code == 200, r.text
    return r.text.removeprefix("Bearer ")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def gen_key(c: httpx2.Client, token: str, user: str = USER) -> dict[str, str]:
    r = c.post(
        "/gen_key", json={"domain": "pi", "hpc_user": user}, headers={**bearer(token), "Accept": "application/json"}
    )
    assert r.status_code == 200, r.text
    return r.json()


def sign_body(public_key: str, user: str = USER, valid_time: int = 3600) -> dict[str, Any]:
    return {"domain": "pi", "hpc_user": user, "principals": [user], "public_key": public_key, "valid_time": valid_time}


class Background:
    """Run one blocking request in a thread (for held two-factor requests)."""

    def __init__(self, c: httpx2.Client, method: str, path: str, **kw: Any) -> None:
        self.response: httpx2.Response | None = None
        self.error: BaseException | None = None
        kw.setdefault("timeout", 5)

        def run() -> None:
            try:
                with httpx2.Client(base_url=str(c.base_url)) as own:
                    self.response = own.request(method, path, **kw)
            except BaseException as e:
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def result(self, timeout: float = 5) -> httpx2.Response:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "request did not finish"
        if self.error:
            raise self.error
        assert self.response is not None
        return self.response


def start_sign(c: httpx2.Client, token: str, public_key: str, timeout: float = 5, **kw: Any) -> Background:
    return Background(
        c,
        "POST",
        "/sign_cert",
        json=sign_body(public_key, **kw),
        headers={**bearer(token), "Accept": "text/plain"},
        timeout=timeout,
    )


def requests_log(c: httpx2.Client) -> list[dict[str, Any]]:
    return c.get("/_double/requests").json()["requests"]


# ----------------------------------------------------------------------------- /token


def test_token_bearer_prefix_modes(client: httpx2.Client) -> None:
    body = {"domain": "pi", "operator": USER, "password": PASSWORD}
    answers = [client.post("/token", json=body, headers={"Accept": "text/plain"}) for _ in range(3)]
    assert all(r.status_code == 200 for r in answers)
    assert all(r.headers["content-type"].startswith("text/plain") for r in answers)
    assert [r.text.startswith("Bearer ") for r in answers] == [True, False, True]
    for mode, prefixed in (("always", True), ("never", False)):
        client.post("/_double/config", json={"bearer_prefix": mode}).raise_for_status()
        texts = [client.post("/token", json=body).text for _ in range(2)]
        assert all(t.startswith("Bearer ") is prefixed for t in texts)
    # every answer is a distinct working token
    tokens = {r.text.removeprefix("Bearer ") for r in answers}
    assert len(tokens) == 3
    for t in tokens:
        assert client.get("/user", params={"name": USER, "domain": "pi"}, headers=bearer(t)).status_code == 200


def test_token_refusals(client: httpx2.Client) -> None:
    def post(body: Any, **kw: Any) -> httpx2.Response:
        return client.post("/token", json=body, **kw)

    r = post({"domain": "pi", "operator": USER, "password": "wrong"})
    assert r.status_code == 401 and "invalid operator or password" in r.text
    r = post({"domain": "pi", "operator": "nobody", "password": PASSWORD})
    assert r.status_code == 401
    r = post({"operator": USER, "password": PASSWORD})
    assert r.status_code == 400 and "domain" in r.text
    r = post({"domain": "sy", "operator": USER, "password": PASSWORD})
    assert r.status_code == 400 and "domain" in r.text
    r = post({"domain": "pi", "operator": USER, "password": PASSWORD, "extra": 1})
    assert r.status_code == 400 and "extra" in r.text
    r = post({"domain": "pi", "operator": USER})
    assert r.status_code == 400 and "password" in r.text
    r = client.post("/token", content=b"not json")
    assert r.status_code == 400
    r = post({"domain": "pi", "operator": USER, "password": PASSWORD}, headers={"Accept": "application/json"})
    assert r.status_code == 406


def test_password_never_logged_or_exposed(client: httpx2.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = get_token(client)
    client.post("/token", json={"domain": "pi", "operator": USER, "password": "wrong-pw-xyz"})
    log = requests_log(client)
    assert log[0]["body"] == {"domain": "pi", "operator": USER, "password": "<redacted>"}
    blob = json.dumps(log) + json.dumps(client.get("/_double/state").json()) + caplog.text
    for secret in (PASSWORD, "wrong-pw-xyz", token):
        assert secret not in blob


# ----------------------------------------------------------------------------- PATCH /token


def test_refresh_kills_old_token(client: httpx2.Client) -> None:
    old = get_token(client)
    r = client.patch("/token", json={}, headers={**bearer(old), "Accept": "text/plain"})
    assert r.status_code == 200, r.text
    new = r.text.removeprefix("Bearer ")
    assert new != old
    r = client.patch("/token", json={}, headers=bearer(old))
    assert r.status_code == 401 and "invalid token" in r.text
    assert client.post("/gen_key", json={"domain": "pi", "hpc_user": USER}, headers=bearer(old)).status_code == 401
    assert client.post("/gen_key", json={"domain": "pi", "hpc_user": USER}, headers=bearer(new)).status_code == 200
    # refresh with an unknown field is refused, the token stays valid
    r = client.patch("/token", json={"foo": 1}, headers=bearer(new))
    assert r.status_code == 400
    assert client.patch("/token", json={}, headers=bearer(new)).status_code == 200


def test_expired_token_refused(client: httpx2.Client) -> None:
    token = get_token(client)
    assert client.post("/_double/expire_tokens").json() == {"expired": 1}
    r = client.patch("/token", json={}, headers=bearer(token))
    assert r.status_code == 401 and "token expired" in r.text
    r = client.get("/user", params={"name": USER, "domain": "pi"}, headers=bearer(token))
    assert r.status_code == 401 and "token expired" in r.text
    # TTL
    client.post("/_double/config", json={"token_ttl": 0.05}).raise_for_status()
    token = get_token(client)
    time.sleep(0.1)
    r = client.patch("/token", json={}, headers=bearer(token))
    assert r.status_code == 401 and "token expired" in r.text
    log = requests_log(client)
    assert log[-1]["auth"] == "expired"


def test_missing_or_malformed_authorization(client: httpx2.Client) -> None:
    token = get_token(client)
    body = {"domain": "pi", "hpc_user": USER}
    r = client.post("/gen_key", json=body)
    assert r.status_code == 401 and "missing" in r.text
    r = client.post("/gen_key", json=body, headers={"Authorization": f"Bearer Bearer {token}"})
    assert r.status_code == 401
    r = client.post("/gen_key", json=body, headers={"Authorization": f"Basic {token}"})
    assert r.status_code == 401
    assert [e["auth"] for e in requests_log(client)[1:]] == ["missing", "invalid", "malformed"]
    assert requests_log(client)[-1]["headers"]["authorization"] == "<redacted>"


# ----------------------------------------------------------------------------- /gen_key


def test_gen_key_returns_fresh_ed25519_pair(client: httpx2.Client) -> None:
    token = get_token(client)
    a, b = gen_key(client, token), gen_key(client, token)
    assert set(a) == {"private_key", "public_key"}
    assert a["private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert a["public_key"].startswith("ssh-ed25519 ")
    priv = asyncssh.import_private_key(a["private_key"])
    pub = asyncssh.import_public_key(a["public_key"])
    assert priv.algorithm == b"ssh-ed25519"
    assert priv.public_data == pub.public_data
    assert a["public_key"] != b["public_key"]


def test_gen_key_refusals(client: httpx2.Client) -> None:
    token = get_token(client)
    h = bearer(token)
    r = client.post("/gen_key", json={"domain": "pi", "hpc_user": "otheruser"}, headers=h)
    assert r.status_code == 403 and "hpc_user" in r.text
    r = client.post("/gen_key", json={"hpc_user": USER}, headers=h)
    assert r.status_code == 400 and "domain" in r.text
    r = client.post("/gen_key", json={"domain": "pi"}, headers=h)
    assert r.status_code == 400 and "hpc_user" in r.text
    r = client.post("/gen_key", json={"domain": "pi", "hpc_user": USER}, headers={**h, "Accept": "text/plain"})
    assert r.status_code == 406


# ----------------------------------------------------------------------------- /sign_cert


def test_sign_cert_held_until_approved(
    client: httpx2.Client, state: DoubleState, ca: tuple[Path, asyncssh.SSHKey], tmp_path: Path
) -> None:
    token = get_token(client)
    pair = gen_key(client, token)
    before = int(time.time())
    job = start_sign(client, token, pair["public_key"], valid_time=7200)
    pending = client.get("/_double/pending", params={"wait": 3}).json()["pending"]
    assert len(pending) == 1
    p = pending[0]
    assert p["kind"] == "sign_cert" and p["user"] == USER and p["channel"] == "jiaowoban"
    assert p["detail"]["valid_time"] == 7200
    time.sleep(0.2)
    assert job.response is None and job.thread.is_alive(), "returned before approval"
    r = client.post("/_double/approve", json={"id": p["id"], "decision": "approve"})
    assert r.json() == {"decided": [{"id": p["id"], "kind": "sign_cert", "user": USER, "status": "approved"}]}
    resp = job.result()
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert text.startswith("ssh-ed25519-cert-v01@openssh.com ")
    cert = asyncssh.import_certificate(text)
    assert cert.principals == [USER]
    assert cert.signing_key.public_data == ca[1].public_data
    assert cert.key.public_data == asyncssh.import_public_key(pair["public_key"]).public_data
    assert before - 120 <= cert._valid_after <= before
    assert abs(cert._valid_before - (before + 7200)) <= 5
    assert state.pending() == []
    assert state.snapshot()["certificates"][0]["principals"] == [USER]
    if shutil.which("ssh-keygen"):
        (tmp_path / "id-cert.pub").write_text(text)
        out = subprocess.run(
            ["ssh-keygen", "-L", "-f", str(tmp_path / "id-cert.pub")], capture_output=True, text=True, check=True
        ).stdout
        assert "user certificate" in out and USER in out


def test_sign_cert_denied(client: httpx2.Client) -> None:
    token = get_token(client)
    job = start_sign(client, token, gen_key(client, token)["public_key"])
    r = client.post("/_double/approve", json={"decision": "deny", "wait": 3})
    assert r.status_code == 200 and r.json()["decided"][0]["status"] == "denied"
    resp = job.result()
    assert resp.status_code == 403 and "two-factor approval denied" in resp.text


def test_sign_cert_auto_approve_and_auto_deny(client: httpx2.Client) -> None:
    client.post("/_double/config", json={"auto_approve_after": 0.05}).raise_for_status()
    token = get_token(client)
    pub = gen_key(client, token)["public_key"]
    t0 = time.monotonic()
    r = client.post("/sign_cert", json=sign_body(pub), headers=bearer(token))
    assert r.status_code == 200 and 0.04 <= time.monotonic() - t0 < 2
    client.post("/_double/config", json={"auto_decision": "deny"}).raise_for_status()
    r = client.post("/sign_cert", json=sign_body(pub), headers=bearer(token))
    assert r.status_code == 403 and "denied" in r.text
    statuses = [a["status"] for a in client.get("/_double/state").json()["approvals"]]
    assert statuses == ["approved", "denied"]


def test_sign_cert_approval_timeout(client: httpx2.Client) -> None:
    client.post("/_double/config", json={"approval_timeout": 0.05}).raise_for_status()
    token = get_token(client)
    r = client.post("/sign_cert", json=sign_body(gen_key(client, token)["public_key"]), headers=bearer(token))
    assert r.status_code == 403 and "timed out" in r.text


def test_sign_cert_validation(client: httpx2.Client) -> None:
    token = get_token(client)
    pub = gen_key(client, token)["public_key"]
    h = bearer(token)

    def sign(**changes: Any) -> httpx2.Response:
        body = {**sign_body(pub), **changes}
        return client.post("/sign_cert", json={k: v for k, v in body.items() if v is not None}, headers=h)

    r = sign(valid_time=7 * 86400 + 1)
    assert r.status_code == 400 and "maximum" in r.text
    for bad in (0, -5, "3600", 1.5, True):
        assert sign(valid_time=bad).status_code == 400
    client.post("/_double/config", json={"max_valid_time": 100}).raise_for_status()
    assert sign(valid_time=101).status_code == 400
    r = sign(principals=["otheruser"])
    assert r.status_code == 403 and "principals" in r.text
    assert sign(principals=[USER, "root"]).status_code == 403
    assert sign(hpc_user="otheruser", principals=["otheruser"]).status_code == 403
    assert sign(public_key="ssh-ed25519 garbage").status_code == 400
    assert sign(domain="sy").status_code == 400
    r = client.post("/sign_cert", json={k: v for k, v in sign_body(pub).items() if k != "domain"}, headers=h)
    assert r.status_code == 400 and "domain" in r.text
    r = client.post("/sign_cert", json={k: v for k, v in sign_body(pub).items() if k != "valid_time"}, headers=h)
    assert r.status_code == 400 and "valid_time" in r.text
    assert client.get("/_double/state").json()["approvals"] == []


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_nochannel_user_refused(client: httpx2.Client, fmt: str) -> None:
    client.post("/_double/config", json={"error_format": fmt}).raise_for_status()
    token = get_token(client, "nochannel", "lab-password-2")
    pub = gen_key(client, token, "nochannel")["public_key"]
    r = client.post("/sign_cert", json=sign_body(pub, "nochannel"), headers=bearer(token))
    assert r.status_code == 403 and NO_CHANNEL == "user have not set email or jAccount"
    assert NO_CHANNEL in r.text
    if fmt == "json":
        assert r.json() == {"code": 403, "message": NO_CHANNEL}
    else:
        assert r.text == NO_CHANNEL
    r = client.patch("/user", json={"domain": "pi", "name": "nochannel", "password": "x" * 10}, headers=bearer(token))
    assert r.status_code == 403 and NO_CHANNEL in r.text
    assert client.get("/_double/pending").json() == {"pending": []}


def test_client_disconnect_abandons_approval(client: httpx2.Client) -> None:
    token = get_token(client)
    pub = gen_key(client, token)["public_key"]
    job = start_sign(client, token, pub, timeout=0.3)
    assert client.get("/_double/pending", params={"wait": 3}).json()["pending"]
    with pytest.raises(httpx2.ReadTimeout):
        job.result()
    deadline = time.monotonic() + 3
    while client.get("/_double/pending").json()["pending"] and time.monotonic() < deadline:
        time.sleep(0.01)
    approvals = client.get("/_double/state").json()["approvals"]
    assert [a["status"] for a in approvals] == ["abandoned"]
    assert requests_log(client)[-1]["disconnected"] is True


# ----------------------------------------------------------------------------- /user


def test_get_user_fields(client: httpx2.Client) -> None:
    token = get_token(client)
    r = client.get("/user", params={"name": USER, "domain": "pi"}, headers=bearer(token))
    assert r.status_code == 200
    u = r.json()
    assert u["uid"] == USER and u["cn"] == USER
    assert isinstance(u["uidNumber"], int) and isinstance(u["gidNumber"], int)
    assert u["homeDirectory"] == "/lustre/home/acct-hpc/hpcrobot"
    assert u["home"] == "%H/home/acct-hpc/hpcrobot"
    assert u["loginShell"] == "/bin/bash"
    assert u["email"] == "hpcrobot@sjtu.edu.cn" and u["jAccount"] == USER
    assert u["userType"] == "user" and u["contact"] == "jiaowoban"
    assert "posixAccount" in u["objectClass"]
    assert not any("pass" in k.lower() for k in u)
    other = get_token(client, "otheruser", "lab-password-3")
    o = client.get("/user", params={"name": "otheruser", "domain": "pi"}, headers=bearer(other)).json()
    assert o["homeDirectory"] == "/dssg/home/acct-other/otheruser"
    assert o["jAccount"] is None and o["contact"] == "email"


def test_get_user_refusals(client: httpx2.Client) -> None:
    token = get_token(client)
    h = bearer(token)
    assert client.get("/user", params={"name": USER, "domain": "pi"}).status_code == 401
    r = client.get("/user", params={"name": USER}, headers=h)
    assert r.status_code == 400 and "domain" in r.text
    assert client.get("/user", params={"domain": "pi"}, headers=h).status_code == 400
    r = client.get("/user", params={"name": "ghost", "domain": "pi"}, headers=h)
    assert r.status_code == 404 and "ghost" in r.text
    r = client.get("/user", params={"name": "otheruser", "domain": "pi"}, headers=h)
    assert r.status_code == 403


def test_patch_user_fields_checked(client: httpx2.Client) -> None:
    token = get_token(client)
    h = bearer(token)

    def patch(**fields: Any) -> httpx2.Response:
        return client.patch("/user", json={"domain": "pi", "name": USER, **fields}, headers=h)

    r = patch(loginShell="/bin/zsh")
    assert r.status_code == 400 and "loginShell" in r.text
    r = patch()
    assert r.status_code == 400 and "nothing to update" in r.text
    assert patch(contact="sms").status_code == 400
    assert patch(email="not-an-email").status_code == 400
    assert patch(password="short").status_code == 400
    assert patch(email=5).status_code == 400
    r = client.patch("/user", json={"name": USER, "email": "a@b.cn"}, headers=h)
    assert r.status_code == 400 and "domain" in r.text
    r = client.patch("/user", json={"domain": "pi", "name": "otheruser", "email": "a@b.cn"}, headers=h)
    assert r.status_code == 403
    assert client.patch("/user", json={"domain": "pi", "name": USER, "email": "a@b.cn"}).status_code == 401
    assert client.get("/_double/state").json()["approvals"] == []


def test_patch_user_two_factor_then_applied(client: httpx2.Client, state: DoubleState) -> None:
    token = get_token(client)
    h = bearer(token)
    body = {"domain": "pi", "name": USER, "email": "robot@example.edu.cn", "contact": "email"}
    job = Background(client, "PATCH", "/user", json=body, headers=h)
    pending = state.wait_pending(3)
    assert [(p["kind"], p["user"], p["detail"]) for p in pending] == [
        ("update_user", USER, {"fields": ["contact", "email"]})
    ]
    # not applied while pending
    cur = client.get("/user", params={"name": USER, "domain": "pi"}, headers=h).json()
    assert cur["email"] == "hpcrobot@sjtu.edu.cn"
    state.decide()  # python API, from the test thread
    r = job.result()
    assert r.status_code == 200 and r.json()["email"] == "robot@example.edu.cn"
    cur = client.get("/user", params={"name": USER, "domain": "pi"}, headers=h).json()
    assert cur["email"] == "robot@example.edu.cn" and cur["contact"] == "email"
    assert client.get("/_double/state").json()["users"][USER]["email"] == "robot@example.edu.cn"
    # denied: nothing changes
    job = Background(client, "PATCH", "/user", json={**body, "jAccount": "robot2"}, headers=h)
    client.post("/_double/approve", json={"decision": "deny", "wait": 3}).raise_for_status()
    assert job.result().status_code == 403
    assert client.get("/_double/state").json()["users"][USER]["jAccount"] == USER


def test_patch_user_password(client: httpx2.Client) -> None:
    client.post("/_double/config", json={"auto_approve_after": 0}).raise_for_status()
    token = get_token(client)
    r = client.patch("/user", json={"domain": "pi", "name": USER, "password": "new-pass-99"}, headers=bearer(token))
    assert r.status_code == 200 and not any("pass" in k.lower() for k in r.json())
    bad = client.post("/token", json={"domain": "pi", "operator": USER, "password": PASSWORD})
    assert bad.status_code == 401
    get_token(client, USER, "new-pass-99")
    st = client.get("/_double/state").json()
    assert st["users"][USER]["password_changed"] == 1
    assert "new-pass-99" not in json.dumps(st) + json.dumps(requests_log(client))
    assert requests_log(client)[1]["body"]["password"] == "<redacted>"
    client.post("/_double/reset").raise_for_status()
    get_token(client)  # reset restores the initial password


# ----------------------------------------------------------------------------- /quota


def test_quota_without_token(client: httpx2.Client) -> None:
    r = client.get("/quota", params={"quota_type": "account", "name": "acct-hpc"})
    assert r.status_code == 200
    q = r.json()
    assert q["quota_type"] == "account" and q["name"] == "acct-hpc"
    fs = {e["filesystem"]: e for e in q["quotas"]}
    assert {"lustre", "dssg", "archive", "vault"} <= set(fs)
    lustre = fs["lustre"]
    assert lustre["space"]["unit"] == "bytes"
    assert 0 < lustre["space"]["used"] < lustre["space"]["limit"]
    assert lustre["files"]["used"] < lustre["files"]["limit"]
    assert "collector" in q  # a field clients do not know
    r = client.get("/quota", params={"quota_type": "user", "name": USER})
    assert r.status_code == 200
    u = r.json()
    assert u["quotas"][0]["path"] == "/lustre/home/acct-hpc/hpcrobot"
    assert u["quotas"][0]["space"]["limit"] is None
    assert requests_log(client)[0]["auth"] is None


def test_quota_refusals(client: httpx2.Client) -> None:
    r = client.get("/quota", params={"quota_type": "account", "name": "acct-none"})
    assert r.status_code == 404
    assert client.get("/quota", params={"quota_type": "group", "name": "x"}).status_code == 400
    assert client.get("/quota", params={"quota_type": "user"}).status_code == 400
    r = client.get("/quota", params={"quota_type": "user", "name": "acct-hpc"})
    assert r.status_code == 404


# ----------------------------------------------------------------------------- errors


def test_injected_500_has_session_id(client: httpx2.Client, state: DoubleState) -> None:
    client.post("/_double/config", json={"fail_next": {"path": "/token", "method": "POST"}})
    r = client.post("/token", json={"domain": "pi", "operator": USER, "password": PASSWORD})
    assert r.status_code == 500
    m = SID_RE.search(r.text)
    assert m and "hpc@sjtu.edu.cn" in r.text
    assert state.session_ids == [m.group(1)]
    assert requests_log(client)[-1]["session_id"] == m.group(1)
    get_token(client)  # one-shot
    client.post("/_double/config", json={"error_format": "json", "fail_next": {"path": "/quota", "times": 2}})
    for _ in range(2):
        r = client.get("/quota", params={"quota_type": "user", "name": USER})
        assert r.status_code == 500
        j = r.json()
        assert j["code"] == 500 and re.fullmatch(r"[0-9a-f]{32}", j["session_id"])
        assert j["session_id"] in j["message"]
    assert client.get("/quota", params={"quota_type": "user", "name": USER}).status_code == 200


def test_injected_refusal_and_failed_refresh_keeps_token(client: httpx2.Client) -> None:
    token = get_token(client)
    client.post(
        "/_double/config",
        json={"fail_next": [{"path": "/token", "method": "PATCH", "status": 503, "body": "maintenance"}]},
    )
    r = client.patch("/token", json={}, headers=bearer(token))
    assert r.status_code == 503 and r.text == "maintenance"
    assert client.get("/_double/config").json()["fail_next"] == []
    assert client.patch("/token", json={}, headers=bearer(token)).status_code == 200


def test_unexpected_exception_is_500(client: httpx2.Client, state: DoubleState) -> None:
    state.quotas[("account", "acct-broken")] = 42  # type: ignore[assignment]
    r = client.get("/quota", params={"quota_type": "account", "name": "acct-broken"})
    assert r.status_code == 500 and SID_RE.search(r.text)


def test_hang(client: httpx2.Client) -> None:
    client.post("/_double/config", json={"hang": {"path": "/quota", "seconds": 0.3}})
    t0 = time.monotonic()
    r = client.get("/quota", params={"quota_type": "user", "name": USER})
    assert r.status_code == 200 and time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    client.get("/quota", params={"quota_type": "user", "name": USER})
    assert time.monotonic() - t0 < 0.25  # one-shot
    client.post("/_double/config", json={"hang": {"path": "/token", "seconds": None}})
    with pytest.raises(httpx2.ReadTimeout):
        client.post("/token", json={"domain": "pi", "operator": USER, "password": PASSWORD}, timeout=0.2)
    deadline = time.monotonic() + 3
    while not requests_log(client)[-1]["disconnected"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert requests_log(client)[-1]["disconnected"] is True


# ----------------------------------------------------------------------------- control


def test_control_endpoints(client: httpx2.Client) -> None:
    r = client.post("/_double/approve", json={})
    assert r.status_code == 404
    assert client.post("/_double/config", json={"nope": 1}).status_code == 400
    assert client.post("/_double/config", json={"bearer_prefix": "sometimes"}).status_code == 400
    assert client.post("/_double/config", json={"hang": {"path": "/x"}}).status_code == 400
    cfg = client.post("/_double/config", json={"token_ttl": 10, "max_valid_time": 60}).json()
    assert cfg["token_ttl"] == 10 and cfg["max_valid_time"] == 60
    client.post("/_double/reset").raise_for_status()
    cfg = client.get("/_double/config").json()
    assert cfg["token_ttl"] == 3600 and cfg["max_valid_time"] == 7 * 86400
    assert cfg["bearer_prefix"] == "alternate" and cfg["error_format"] == "text"
    get_token(client)
    assert len(requests_log(client)) == 1
    assert client.delete("/_double/requests").status_code == 200
    assert requests_log(client) == []
    st = client.get("/_double/state").json()
    assert set(st["users"]) == {"hpcrobot", "nochannel", "otheruser"}
    assert st["tokens"]["valid_by_user"][USER] == 1


def test_approve_all(client: httpx2.Client, state: DoubleState) -> None:
    token = get_token(client)
    pub = gen_key(client, token)["public_key"]
    jobs = [start_sign(client, token, pub) for _ in range(3)]
    assert len(state.wait_pending(3, count=3)) == 3
    r = client.post("/_double/approve", json={"all": True})
    assert len(r.json()["decided"]) == 3
    assert [j.result().status_code for j in jobs] == [200, 200, 200]
    assert [c["serial"] for c in state.snapshot()["certificates"]] == [1, 2, 3]


def test_reset_cancels_held_requests(client: httpx2.Client, state: DoubleState) -> None:
    token = get_token(client)
    job = start_sign(client, token, gen_key(client, token)["public_key"])
    state.wait_pending(3)
    client.post("/_double/reset").raise_for_status()
    assert job.result().status_code == 503


# ----------------------------------------------------------------------------- runners / CLI


def test_run_double_custom_users_and_shutdown(ca: tuple[Path, asyncssh.SSHKey], tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps(
            {
                "users": [
                    {"name": "alice", "password": "alice-pw-1", "account": "acct-lab"},
                    {"name": "hpcrobot", "email": "changed@sjtu.edu.cn"},
                ]
            }
        )
    )
    t0 = time.monotonic()
    with run_double(ca[1], users=users, bearer_prefix="never") as (url, state):
        assert time.monotonic() - t0 < 0.5
        with httpx2.Client(base_url=url) as c:
            tok = get_token(c, "alice", "alice-pw-1")
            assert not c.post(
                "/token", json={"domain": "pi", "operator": "alice", "password": "alice-pw-1"}
            ).text.startswith("Bearer ")
            u = c.get("/user", params={"name": "alice", "domain": "pi"}, headers=bearer(tok)).json()
            assert u["home"] == "%H/home/acct-lab/alice"
            assert state.users["hpcrobot"]["email"] == "changed@sjtu.edu.cn"
            get_token(c)  # built-in password kept
            assert c.get("/quota", params={"quota_type": "account", "name": "acct-lab"}).status_code == 200
            job = start_sign(c, tok, gen_key(c, tok, "alice")["public_key"], user="alice")
            state.wait_pending(3)
        t1 = time.monotonic()
    assert time.monotonic() - t1 < 1.0
    assert job.result().status_code == 503  # held request answered on shutdown


@pytest.mark.anyio
async def test_arun_double_async(ca: tuple[Path, asyncssh.SSHKey]) -> None:
    async with arun_double(ca[0]) as (url, state), httpx2.AsyncClient(base_url=url) as c:
        r = await c.post("/token", json={"domain": "pi", "operator": USER, "password": PASSWORD})
        token = r.text.removeprefix("Bearer ")
        r = await c.post("/gen_key", json={"domain": "pi", "hpc_user": USER}, headers=bearer(token))
        pub = r.json()["public_key"]
        results: list[httpx2.Response] = []

        async def sign() -> None:
            results.append(await c.post("/sign_cert", json=sign_body(pub), headers=bearer(token)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(sign)
            assert await state.await_pending(3)
            state.decide()
        assert results[0].status_code == 200


def test_cli(ca: tuple[Path, asyncssh.SSHKey], tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(DOUBLE),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--ca-key",
            str(ca[0]),
            "--port-file",
            str(port_file),
            "--auto-approve",
            "0",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 8
        while not port_file.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "port file not written"
            time.sleep(0.02)
        port = int(port_file.read_text())
        assert proc.stdout is not None and int(proc.stdout.readline()) == port
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            token = get_token(c)
            r = c.post("/sign_cert", json=sign_body(gen_key(c, token)["public_key"]), headers=bearer(token))
            assert r.status_code == 200  # --auto-approve 0
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert PASSWORD not in out + err
