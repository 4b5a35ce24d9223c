"""Test double of the SJTU HPC platform HTTP API (https://api.hpc.sjtu.edu.cn).

Used only by tests (never shipped in the package). It follows docs/platform.md#api to the
letter; where the real contract is unknown, the choices below are the double's own and are
documented here so the client can be written to tolerate them.

Real-contract endpoints
-----------------------
Every JSON body must carry ``"domain": "pi"`` (except the ``{}`` body of ``PATCH /token``);
unknown body fields are refused with 400.

``POST /token``      ``{"domain","operator","password"}`` -> 200 ``text/plain`` token, sometimes
                     prefixed with ``Bearer `` (config ``bearer_prefix``).  Wrong password -> 401.
``PATCH /token``     bearer, body ``{}`` (or empty) -> 200 new token (same prefix rule); the old
                     token is invalid at once.  Expired/unknown token -> 401 (``token expired`` /
                     ``invalid token``).
``POST /gen_key``    bearer, ``{"domain","hpc_user"}`` -> ``{"private_key","public_key"}``
                     (fresh Ed25519, OpenSSH format).  hpc_user != token user -> 403.
``POST /sign_cert``  bearer, ``{"domain","hpc_user","principals":[user],"public_key","valid_time"}``
                     -> ``text/plain`` OpenSSH user certificate (valid_after = now-60,
                     valid_before = now+valid_time, principals = [user], key id
                     ``<user>-<serial>``).  Held open until two-factor approval.
``GET /user``        bearer, ``?name=<user>&domain=pi`` -> JSON user record (see ``public_user``):
                     ``uid cn uidNumber gidNumber homeDirectory loginShell gecos objectClass home
                     domain jAccount email userType contact lastModified``.  ``email`` and
                     ``jAccount`` are ``null`` when unset; ``contact`` is ``"jiaowoban"`` or
                     ``"email"`` (or null).  Unknown name -> 404, another existing user -> 403.
``PATCH /user``      bearer, ``{"domain":"pi","name":<user>, <at least one of>
                     "password": str(>=8), "email": str(with @), "jAccount": str,
                     "contact": "jiaowoban"|"email"}`` -> held for two-factor approval, applied
                     only on approval; 200 answer = the updated user record (as ``GET /user``).
``GET /quota``       no token, ``?quota_type=account|user&name=<name>`` -> JSON (see ``quota``):
                     ``{"quota_type","name","domain","quotas":[{"filesystem","path",
                     "space":{"used","limit","unit":"bytes"},"files":{"used","limit"},"grace"}],
                     "updated_at","collector":{...}}``.  ``limit`` may be ``null`` (no limit);
                     ``collector`` is a field a client is not expected to know.

Two-factor: a ``sign_cert``/``PATCH /user`` request creates a pending approval (kinds
``sign_cert`` / ``update_user``) and waits.  Approve -> the normal answer; deny -> 403
``two-factor approval denied``; ``approval_timeout`` elapsed -> 403 ``two-factor approval timed
out``; user with neither email nor jAccount -> 403 ``user have not set email or jAccount``
(before anything is held).  A client that disconnects abandons its approval.

Errors: 500 -> ``Internal error. Session ID: <32 hex>. Please contact hpc@sjtu.edu.cn with this
session ID.``; any other non-2xx -> the reason.  ``error_format`` ``text`` (``text/plain`` body =
that text) or ``json`` (``{"code": status, "message": text}`` plus ``"session_id"`` for 500).

Test-only control endpoints (``/_double/...``, never part of the real contract, JSON in/out)
------------------------------------------------------------------------------------------------
``GET  /_double/pending[?wait=S]``  ``{"pending":[{"id","kind","user","created","channel",
                                    "detail"}]}``; ``wait`` = wait up to S s for at least one.
``POST /_double/approve``  ``{"id"?: str, "decision"?: "approve"|"deny", "all"?: bool,
                           "wait"?: S}`` -> ``{"decided":[{"id","kind","user","status"}]}``.
                           No id = the oldest pending (``all`` = every pending one); 404 when
                           there is none after waiting ``wait`` seconds (default 0).
``GET|POST /_double/config`` keys: ``auto_approve_after`` (s|null), ``auto_decision``
                           (approve|deny), ``approval_timeout`` (s|null), ``bearer_prefix``
                           (always|never|alternate), ``error_format`` (text|json), ``token_ttl``
                           (s), ``max_valid_time`` (s), ``fail_next`` and ``hang`` (a dict or a
                           list of dicts; setting replaces the queue, null clears).
                           ``fail_next`` item: ``{"path", "method"?, "status"?=500, "body"?,
                           "times"?=1|null}``; ``hang`` item: ``{"path", "method"?, "seconds"
                           (null = until the client goes away), "times"?=1|null}``.  Hang first,
                           then injected failure, then the real handler (so an injected failure
                           changes nothing on the server, e.g. the old token stays valid).
``POST /_double/expire_tokens``  ``{"user"?: str}`` -> ``{"expired": n}``.
``GET  /_double/state``    users (no passwords; ``password_changed`` counter), token counts,
                           certificates issued, approvals history, keys generated, config.
``GET  /_double/requests`` ``{"requests":[{"seq","time","method","path","query","headers":
                           {"accept","content-type","authorization"},"auth","user","body",
                           "status","session_id","disconnected"}]}``; passwords redacted,
                           tokens never shown.  ``DELETE`` clears it.
``POST /_double/reset``    back to the initial users/config; tokens, approvals, log cleared.

Python helpers: ``create_app(state)``, ``run_double(ca_key, ...)`` (threaded context manager ->
``(base_url, state)``), ``arun_double`` (async variant), and a CLI (``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import json
import logging
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncssh
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

log = logging.getLogger("api_double")

DOMAIN = "pi"
NO_CHANNEL = "user have not set email or jAccount"
HELP_MAIL = "hpc@sjtu.edu.cn"
CST = timezone(timedelta(hours=8))
TB = 1 << 40
GB = 1 << 30

BUILTIN_USERS: list[dict[str, Any]] = [
    {
        "name": "hpcrobot",
        "password": "lab-password-1",
        "uidNumber": 1001,
        "gidNumber": 2001,
        "account": "acct-hpc",
        "gecos": "HPC Robot",
        "email": "hpcrobot@sjtu.edu.cn",
        "jAccount": "hpcrobot",
        "contact": "jiaowoban",
    },
    {
        "name": "nochannel",
        "password": "lab-password-2",
        "uidNumber": 1002,
        "gidNumber": 2001,
        "account": "acct-hpc",
        "gecos": "No Channel",
        "email": None,
        "jAccount": None,
        "contact": None,
    },
    {
        "name": "otheruser",
        "password": "lab-password-3",
        "uidNumber": 1003,
        "gidNumber": 2002,
        "account": "acct-other",
        "storage": "/dssg",
        "gecos": "Other User",
        "email": "otheruser@sjtu.edu.cn",
        "jAccount": None,
        "contact": "email",
    },
]

USER_FIELDS = ("password", "email", "jAccount", "contact")
CONTACTS = ("jiaowoban", "email")
SECRET_KEY_RE = re.compile(r"pass|secret|private|token", re.IGNORECASE)


class Refusal(Exception):
    """A non-2xx answer: status plus the reason text."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ClientGone(Exception):
    """The client disconnected while the request was held."""


# --------------------------------------------------------------------------- config


@dataclass
class Fault:
    path: str
    method: str | None = None
    status: int = 500
    body: str | None = None
    times: int | None = 1


@dataclass
class Hang:
    path: str
    method: str | None = None
    seconds: float | None = 5.0
    times: int | None = 1


@dataclass
class DoubleConfig:
    bearer_prefix: str = "alternate"
    error_format: str = "text"
    token_ttl: float = 3600.0
    max_valid_time: int = 7 * 86400
    auto_approve_after: float | None = None
    auto_decision: str = "approve"
    approval_timeout: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _num(v: Any, name: str, *, allow_none: bool = False, positive: bool = False) -> float | None:
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{name} must be a number")
    if v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be {'positive' if positive else '>= 0'}")
    return float(v)


def _choice(v: Any, name: str, choices: tuple[str, ...]) -> str:
    if v not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}")
    return str(v)


def _times(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError("times must be a positive integer or null")
    return v


def _items(v: Any, name: str) -> list[dict[str, Any]]:
    if v is None:
        return []
    items = [v] if isinstance(v, dict) else v
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"{name} must be an object, a list of objects or null")
    for i in items:
        if not isinstance(i.get("path"), str):
            raise ValueError(f"{name}: every item needs a string 'path'")
        if i.get("method") is not None and not isinstance(i["method"], str):
            raise ValueError(f"{name}: method must be a string")
    return items


def _parse_faults(v: Any) -> list[Fault]:
    out = []
    for i in _items(v, "fail_next"):
        extra = set(i) - {"path", "method", "status", "body", "times"}
        if extra:
            raise ValueError(f"fail_next: unknown keys {sorted(extra)}")
        status = i.get("status", 500)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("fail_next: status must be an integer 400..599")
        body = i.get("body")
        if body is not None and not isinstance(body, str):
            raise ValueError("fail_next: body must be a string")
        method = i.get("method")
        out.append(Fault(i["path"], method.upper() if method else None, status, body, _times(i.get("times", 1))))
    return out


def _parse_hangs(v: Any) -> list[Hang]:
    out = []
    for i in _items(v, "hang"):
        extra = set(i) - {"path", "method", "seconds", "times"}
        if extra:
            raise ValueError(f"hang: unknown keys {sorted(extra)}")
        if "seconds" not in i:
            raise ValueError("hang: 'seconds' is required (null = until the client goes away)")
        method = i.get("method")
        out.append(
            Hang(
                i["path"],
                method.upper() if method else None,
                _num(i["seconds"], "hang.seconds", allow_none=True),
                _times(i.get("times", 1)),
            )
        )
    return out


# --------------------------------------------------------------------------- state


@dataclass
class TokenRec:
    user: str
    created: float
    expired: bool = False


@dataclass
class Approval:
    id: str
    kind: str
    user: str
    created: float
    channel: str
    detail: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event
    status: str = "pending"

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "user": self.user,
            "created": self.created,
            "channel": self.channel,
            "detail": self.detail,
            "status": self.status,
        }


def _normalize_user(spec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Turn a user spec (built-in or from --users JSON) into (record, password)."""
    spec = dict(spec)
    name = spec.pop("name", None) or spec.pop("uid", None)
    if not isinstance(name, str) or not name:
        raise ValueError("every user needs a 'name'")
    password = spec.pop("password", None)
    if not isinstance(password, str) or not password:
        raise ValueError(f"user {name}: needs a 'password'")
    account = spec.pop("account", "acct-hpc")
    storage = spec.pop("storage", "/lustre")
    rec: dict[str, Any] = {
        "uid": name,
        "cn": name,
        "uidNumber": 1000 + sum(map(ord, name)) % 50000,
        "gidNumber": 2000,
        "homeDirectory": f"{storage}/home/{account}/{name}",
        "loginShell": "/bin/bash",
        "gecos": name,
        "objectClass": ["top", "posixAccount", "shadowAccount"],
        "home": f"%H/home/{account}/{name}",
        "domain": DOMAIN,
        "jAccount": name,
        "email": f"{name}@sjtu.edu.cn",
        "userType": "user",
        "contact": "jiaowoban",
        "lastModified": "2026-03-01T09:00:00+08:00",
    }
    rec.update(spec)
    return rec, password


def _account_of(rec: dict[str, Any]) -> str:
    return str(rec["home"]).rstrip("/").split("/")[-2]


def load_users(source: str | Path | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Built-in users, merged by name with ``source`` (a JSON file path or a list of specs).

    A JSON file may hold a list of user objects or ``{"users": [...]}``.  Keys: ``name``,
    ``password`` and any user-record field; ``account`` (default acct-hpc) and ``storage``
    (default /lustre) build ``homeDirectory`` and ``home``.
    """
    specs = {u["name"]: dict(u) for u in BUILTIN_USERS}
    extra: Any = source
    if isinstance(source, str | Path):
        extra = json.loads(Path(source).read_text(encoding="utf-8"))
    if isinstance(extra, dict):
        extra = extra.get("users", [])
    for u in extra or []:
        name = u.get("name") or u.get("uid")
        specs[name] = {**specs.get(name, {}), **u, "name": name}
    return list(specs.values())


class DoubleState:
    """All mutable state of the double.  Safe to inspect from the test thread; use ``decide``
    / ``configure`` / ``close`` from any thread."""

    def __init__(
        self,
        ca_key: str | Path | asyncssh.SSHKey,
        users: str | Path | list[dict[str, Any]] | None = None,
        **config: Any,
    ) -> None:
        self.ca_key: asyncssh.SSHKey = (
            ca_key if isinstance(ca_key, asyncssh.SSHKey) else asyncssh.read_private_key(ca_key)
        )
        self._user_specs = load_users(users)
        self._initial_config = DoubleConfig()
        self._initial_extra: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.closing = False
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.approvals: list[Approval] = []
        self._reset_data()
        if config:
            self.configure(**config)
        self._initial_config = copy.deepcopy(self.config)
        self._initial_extra = {"fail_next": copy.deepcopy(self.faults), "hang": copy.deepcopy(self.hangs)}

    # -- lifecycle ---------------------------------------------------------
    def _reset_data(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self._passwords: dict[str, str] = {}
        for spec in self._user_specs:
            rec, pw = _normalize_user(spec)
            self.users[rec["uid"]] = rec
            self._passwords[rec["uid"]] = pw
        self.password_changed: dict[str, int] = dict.fromkeys(self.users, 0)
        self.tokens: dict[str, TokenRec] = {}
        self.requests: list[dict[str, Any]] = []
        self.certificates: list[dict[str, Any]] = []
        self.keys_generated: list[dict[str, Any]] = []
        self.session_ids: list[str] = []
        self._token_answers = 0
        self._serial = 0
        self._approval_seq = 0
        self._seq = 0
        self.config = copy.deepcopy(self._initial_config)
        self.faults: list[Fault] = copy.deepcopy(self._initial_extra.get("fail_next", []))
        self.hangs: list[Hang] = copy.deepcopy(self._initial_extra.get("hang", []))
        self.quotas = self._default_quotas()

    def reset(self) -> None:
        with self._lock:
            for a in self.approvals:
                self._settle(a, "cancelled")
            self.approvals = []
            self._reset_data()

    def close(self) -> None:
        """Wake every held request (they answer 503) — called before shutting down."""
        with self._lock:
            self.closing = True
            for a in self.approvals:
                self._settle(a, "cancelled")
            for loop, ev in list(self._waiters):
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(ev.set)

    # -- config ------------------------------------------------------------
    def configure(self, **kw: Any) -> dict[str, Any]:
        """Validate and apply config keys (raises ValueError); returns the whole config."""
        c = copy.deepcopy(self.config)
        faults, hangs = self.faults, self.hangs
        for k, v in kw.items():
            if k == "bearer_prefix":
                c.bearer_prefix = _choice(v, k, ("always", "never", "alternate"))
            elif k == "error_format":
                c.error_format = _choice(v, k, ("text", "json"))
            elif k == "token_ttl":
                c.token_ttl = _num(v, k, positive=True) or 0.0
            elif k == "max_valid_time":
                if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                    raise ValueError("max_valid_time must be a positive integer")
                c.max_valid_time = v
            elif k == "auto_approve_after":
                c.auto_approve_after = _num(v, k, allow_none=True)
            elif k == "auto_decision":
                c.auto_decision = _choice(v, k, ("approve", "deny"))
            elif k == "approval_timeout":
                c.approval_timeout = _num(v, k, allow_none=True, positive=True)
            elif k == "fail_next":
                faults = _parse_faults(v)
            elif k == "hang":
                hangs = _parse_hangs(v)
            else:
                raise ValueError(f"unknown config key: {k}")
        with self._lock:
            self.config, self.faults, self.hangs = c, faults, hangs
        return self.config_dict()

    def config_dict(self) -> dict[str, Any]:
        return {
            **self.config.as_dict(),
            "fail_next": [dict(f.__dict__) for f in self.faults],
            "hang": [dict(h.__dict__) for h in self.hangs],
        }

    # -- approvals (thread-safe) ---------------------------------------------
    def _settle(self, a: Approval, status: str) -> bool:
        if a.status != "pending":
            return False
        a.status = status
        with contextlib.suppress(RuntimeError):  # loop already closed
            a.loop.call_soon_threadsafe(a.event.set)
        return True

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [a.public() for a in self.approvals if a.status == "pending"]

    def decide(self, id: str | None = None, decision: str = "approve", all: bool = False) -> list[dict[str, Any]]:
        """Approve/deny pending approvals (the oldest one, ``id``, or ``all``).  Any thread."""
        status = {"approve": "approved", "deny": "denied"}[decision]
        with self._lock:
            todo = [a for a in self.approvals if a.status == "pending" and (id is None or a.id == id)]
            if not all:
                todo = todo[:1]
            for a in todo:
                self._settle(a, status)
            return [a.public() for a in todo]

    def wait_pending(self, timeout: float = 5.0, count: int = 1) -> list[dict[str, Any]]:
        """Block (test thread) until at least ``count`` approvals are pending."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.pending()
            if len(p) >= count or time.monotonic() >= deadline:
                return p
            time.sleep(0.005)

    async def await_pending(self, timeout: float = 5.0, count: int = 1) -> list[dict[str, Any]]:
        """Async twin of ``wait_pending`` (does not block the caller's loop)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.pending()
            if len(p) >= count or time.monotonic() >= deadline:
                return p
            await asyncio.sleep(0.005)

    # -- tokens ------------------------------------------------------------
    def _new_token(self, user: str) -> str:
        def b64(d: bytes) -> str:
            return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

        now = time.time()
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64(json.dumps({"sub": user, "dom": DOMAIN, "iat": int(now), "jti": uuid.uuid4().hex}).encode())
        token = f"{header}.{payload}.{b64(secrets.token_bytes(32))}"
        self.tokens[token] = TokenRec(user, now)
        return token

    def _token_answer(self, token: str) -> str:
        self._token_answers += 1
        mode = self.config.bearer_prefix
        prefix = mode == "always" or (mode == "alternate" and self._token_answers % 2 == 1)
        return f"Bearer {token}" if prefix else token

    def expire_tokens(self, user: str | None = None) -> int:
        n = 0
        with self._lock:
            for rec in self.tokens.values():
                if not rec.expired and (user is None or rec.user == user):
                    rec.expired = True
                    n += 1
        return n

    def _token_state(self, rec: TokenRec) -> str:
        if rec.expired or time.time() - rec.created > self.config.token_ttl:
            return "expired"
        return "ok"

    # -- quota -------------------------------------------------------------
    def _default_quotas(self) -> dict[tuple[str, str], dict[str, Any]]:
        q: dict[tuple[str, str], dict[str, Any]] = {}
        for i, (name, rec) in enumerate(sorted(self.users.items())):
            account = _account_of(rec)
            hot = rec["homeDirectory"].split("/")[1]
            q[("user", name)] = {
                "quotas": [
                    {
                        "filesystem": hot,
                        "path": rec["homeDirectory"],
                        "space": {"used": (37 + i) * GB + 123456, "limit": None, "unit": "bytes"},
                        "files": {"used": 81234 + i, "limit": None},
                        "grace": None,
                    },
                    {
                        "filesystem": "archive",
                        "path": f"/archive/home/{account}/{name}",
                        "space": {"used": (5 + i) * GB, "limit": None, "unit": "bytes"},
                        "files": {"used": 1200 + i, "limit": None},
                        "grace": None,
                    },
                ]
            }
            if ("account", account) not in q:
                q[("account", account)] = {
                    "quotas": [
                        {
                            "filesystem": "lustre",
                            "path": f"/lustre/home/{account}",
                            "space": {"used": 1234 * GB + i, "limit": 3 * TB, "unit": "bytes"},
                            "files": {"used": 2_345_678, "limit": 10_000_000},
                            "grace": None,
                        },
                        {
                            "filesystem": "dssg",
                            "path": f"/dssg/home/{account}",
                            "space": {"used": 456 * GB, "limit": 3 * TB, "unit": "bytes"},
                            "files": {"used": 345_678, "limit": 10_000_000},
                            "grace": None,
                        },
                        {
                            "filesystem": "archive",
                            "path": f"/archive/home/{account}",
                            "space": {"used": 20 * TB, "limit": 50 * TB, "unit": "bytes"},
                            "files": {"used": 4_000_000, "limit": None},
                            "grace": None,
                        },
                        {
                            "filesystem": "vault",
                            "path": f"/vault/home/{account}",
                            "space": {"used": 3 * TB, "limit": 50 * TB, "unit": "bytes"},
                            "files": {"used": 700_000, "limit": None},
                            "grace": "6days",
                        },
                    ]
                }
        return q

    # -- errors --------------------------------------------------------------
    def error_response(self, status: int, reason: str) -> Response:
        body: dict[str, Any] = {"code": status}
        if status == 500:
            sid = uuid.uuid4().hex
            self.session_ids.append(sid)
            reason = f"Internal error. Session ID: {sid}. Please contact {HELP_MAIL} with this session ID."
            body["session_id"] = sid
        body["message"] = reason
        if self.config.error_format == "json":
            return JSONResponse(body, status_code=status)
        return PlainTextResponse(reason, status_code=status)

    # -- introspection ---------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            tokens = [r for r in self.tokens.values()]
            return {
                "users": {
                    n: {**copy.deepcopy(r), "password_changed": self.password_changed[n]} for n, r in self.users.items()
                },
                "tokens": {
                    "issued": len(tokens),
                    "valid": sum(self._token_state(r) == "ok" for r in tokens),
                    "valid_by_user": {
                        u: sum(r.user == u and self._token_state(r) == "ok" for r in tokens) for u in self.users
                    },
                },
                "certificates": copy.deepcopy(self.certificates),
                "keys_generated": copy.deepcopy(self.keys_generated),
                "approvals": [a.public() for a in self.approvals],
                "session_ids": list(self.session_ids),
                "config": self.config_dict(),
            }


# --------------------------------------------------------------------------- helpers


def _redact(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: ("<redacted>" if SECRET_KEY_RE.search(str(k)) else _redact(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [_redact(x) for x in v]
    return v


def _match(path: str, method: str, item: Fault | Hang) -> bool:
    return item.path == path and (item.method is None or item.method == method)


def _take(items: list[Any], path: str, method: str) -> Any:
    for it in items:
        if _match(path, method, it):
            if it.times is not None:
                it.times -= 1
                if it.times <= 0:
                    items.remove(it)
            return it
    return None


async def _until_disconnect(request: Request) -> None:
    while True:
        msg = await request.receive()
        if msg["type"] == "http.disconnect":
            return


async def _wait(state: DoubleState, request: Request, event: asyncio.Event, timeout: float | None) -> bool:
    """Wait for ``event`` (True) or ``timeout`` (False); ClientGone if the client leaves."""
    loop = asyncio.get_running_loop()
    waiter = (loop, event)
    state._waiters.add(waiter)
    ev_task = asyncio.ensure_future(event.wait())
    gone = asyncio.ensure_future(_until_disconnect(request))
    try:
        if state.closing:
            event.set()
        done, _ = await asyncio.wait({ev_task, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        state._waiters.discard(waiter)
        for t in (ev_task, gone):
            t.cancel()
    if ev_task in done:
        return True
    if gone in done:
        raise ClientGone
    return False


def _accepts(request: Request, media: str) -> None:
    accept = request.headers.get("accept")
    if not accept:
        return
    top = media.split("/")[0]
    ranges = {r.split(";")[0].strip().lower() for r in accept.split(",")}
    if not ranges & {media, f"{top}/*", "*/*"}:
        raise Refusal(406, f"Not Acceptable: this endpoint answers {media}")


@dataclass
class Call:
    request: Request
    entry: dict[str, Any]
    body: Any = None
    user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _json_object(
    call: Call, required: tuple[str, ...], optional: tuple[str, ...] = (), *, domain: bool = True
) -> dict[str, Any]:
    body = call.body
    if not isinstance(body, dict):
        raise Refusal(400, "request body must be a JSON object")
    if domain or "domain" in body:
        if "domain" not in body:
            raise Refusal(400, "missing field: domain")
        if body["domain"] != DOMAIN:
            raise Refusal(400, f"invalid domain: {body['domain']!r} (expected {DOMAIN!r})")
    allowed = {"domain", *required, *optional}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Refusal(400, f"unknown field(s): {', '.join(unknown)}")
    missing = [k for k in required if k not in body]
    if missing:
        raise Refusal(400, f"missing field(s): {', '.join(missing)}")
    return body


def _auth(state: DoubleState, call: Call) -> str:
    header = call.request.headers.get("authorization")
    if not header:
        call.entry["auth"] = "missing"
        raise Refusal(401, "missing bearer token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        call.entry["auth"] = "malformed"
        raise Refusal(401, "malformed Authorization header")
    rec = state.tokens.get(token.strip())
    if rec is None:
        call.entry["auth"] = "invalid"
        raise Refusal(401, "invalid token")
    if state._token_state(rec) == "expired":
        call.entry["auth"] = "expired"
        raise Refusal(401, "token expired")
    call.entry["auth"] = "ok"
    call.entry["user"] = rec.user
    call.user = rec.user
    call.extra["token"] = token.strip()
    return rec.user


def _channel(rec: dict[str, Any]) -> str | None:
    have = [c for c, f in (("jiaowoban", "jAccount"), ("email", "email")) if rec.get(f)]
    if not have:
        return None
    return rec.get("contact") if rec.get("contact") in have else have[0]


async def _two_factor(state: DoubleState, call: Call, kind: str, detail: dict[str, Any]) -> None:
    """Hold the request until approval; return on approve, raise Refusal otherwise."""
    assert call.user is not None
    channel = _channel(state.users[call.user])
    if channel is None:
        raise Refusal(403, NO_CHANNEL)
    cfg = state.config
    with state._lock:
        state._approval_seq += 1
        a = Approval(
            id=f"ap-{state._approval_seq}",
            kind=kind,
            user=call.user,
            created=time.time(),
            channel=channel,
            detail=detail,
            loop=asyncio.get_running_loop(),
            event=asyncio.Event(),
        )
        state.approvals.append(a)
        if state.closing:
            state._settle(a, "cancelled")
    call.entry["approval"] = a.id
    log.info("two-factor %s %s for %s via %s", a.id, kind, call.user, channel)
    limits = [t for t in (cfg.auto_approve_after, cfg.approval_timeout) if t is not None]
    try:
        settled = await _wait(state, call.request, a.event, min(limits) if limits else None)
    except ClientGone:
        with state._lock:
            state._settle(a, "abandoned")
        raise
    if not settled:
        auto = cfg.auto_approve_after
        with state._lock:
            if auto is not None and (cfg.approval_timeout is None or auto <= cfg.approval_timeout):
                state._settle(a, "approved" if cfg.auto_decision == "approve" else "denied")
            else:
                state._settle(a, "timeout")
    if a.status == "approved":
        return
    if a.status == "denied":
        raise Refusal(403, "two-factor approval denied")
    if a.status == "timeout":
        raise Refusal(403, "two-factor approval timed out")
    raise Refusal(503, "service unavailable: request cancelled")


# --------------------------------------------------------------------------- API handlers


async def h_token_new(state: DoubleState, call: Call) -> Response:
    _accepts(call.request, "text/plain")
    body = _json_object(call, ("operator", "password"))
    op, pw = body["operator"], body["password"]
    call.entry["user"] = op if isinstance(op, str) else None
    if not isinstance(op, str) or not isinstance(pw, str) or state._passwords.get(op) != pw:
        raise Refusal(401, "invalid operator or password")
    return PlainTextResponse(state._token_answer(state._new_token(op)))


async def h_token_refresh(state: DoubleState, call: Call) -> Response:
    _accepts(call.request, "text/plain")
    user = _auth(state, call)
    if call.body is None:
        call.body = {}
    _json_object(call, (), domain=False)
    old = call.extra["token"]
    with state._lock:
        state.tokens.pop(old, None)
        new = state._new_token(user)
    return PlainTextResponse(state._token_answer(new))


async def h_gen_key(state: DoubleState, call: Call) -> Response:
    _accepts(call.request, "application/json")
    user = _auth(state, call)
    body = _json_object(call, ("hpc_user",))
    if body["hpc_user"] != user:
        raise Refusal(403, "hpc_user does not match the token's user")
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{user}@api.hpc.sjtu.edu.cn")
    state.keys_generated.append({"user": user, "fingerprint": key.get_fingerprint()})
    return JSONResponse(
        {
            "private_key": key.export_private_key("openssh").decode(),
            "public_key": key.export_public_key("openssh").decode(),
        }
    )


async def h_sign_cert(state: DoubleState, call: Call) -> Response:
    _accepts(call.request, "text/plain")
    user = _auth(state, call)
    body = _json_object(call, ("hpc_user", "principals", "public_key", "valid_time"))
    if body["hpc_user"] != user:
        raise Refusal(403, "hpc_user does not match the token's user")
    if body["principals"] != [user]:
        raise Refusal(403, f"principals must be exactly [{user!r}]")
    vt = body["valid_time"]
    if isinstance(vt, bool) or not isinstance(vt, int) or vt <= 0:
        raise Refusal(400, "valid_time must be a positive integer number of seconds")
    if vt > state.config.max_valid_time:
        raise Refusal(400, f"valid_time exceeds the maximum of {state.config.max_valid_time} s")
    pub = body["public_key"]
    try:
        if not isinstance(pub, str):
            raise ValueError
        user_key = asyncssh.import_public_key(pub.strip())
    except (ValueError, asyncssh.KeyImportError):
        raise Refusal(400, "invalid public_key: not an OpenSSH public key") from None
    await _two_factor(
        state, call, "sign_cert", {"principals": [user], "valid_time": vt, "fingerprint": user_key.get_fingerprint()}
    )
    now = int(time.time())
    with state._lock:
        state._serial += 1
        serial = state._serial
    key_id = f"{user}-{serial}"
    cert = state.ca_key.generate_user_certificate(
        user_key, key_id, serial=serial, principals=[user], valid_after=now - 60, valid_before=now + vt
    )
    state.certificates.append(
        {
            "serial": serial,
            "key_id": key_id,
            "user": user,
            "principals": [user],
            "valid_after": now - 60,
            "valid_before": now + vt,
            "fingerprint": user_key.get_fingerprint(),
        }
    )
    return PlainTextResponse(cert.export_certificate("openssh").decode())


async def h_user_get(state: DoubleState, call: Call) -> Response:
    user = _auth(state, call)
    q = call.request.query_params
    if q.get("domain") != DOMAIN:
        raise Refusal(400, f"missing or invalid domain (expected {DOMAIN!r})")
    name = q.get("name")
    if not name:
        raise Refusal(400, "missing parameter: name")
    if name not in state.users:
        raise Refusal(404, f"user not found: {name}")
    if name != user:
        raise Refusal(403, "permission denied: a token may only read its own user")
    return JSONResponse(copy.deepcopy(state.users[name]))


async def h_user_patch(state: DoubleState, call: Call) -> Response:
    user = _auth(state, call)
    body = _json_object(call, ("name",), USER_FIELDS)
    if body["name"] != user:
        raise Refusal(403, "permission denied: a token may only update its own user")
    changes = {k: body[k] for k in USER_FIELDS if k in body}
    if not changes:
        raise Refusal(400, f"nothing to update (allowed: {', '.join(USER_FIELDS)})")
    for k, v in changes.items():
        if not isinstance(v, str):
            raise Refusal(400, f"{k} must be a string")
    if "password" in changes and len(changes["password"]) < 8:
        raise Refusal(400, "password too short (at least 8 characters)")
    if "email" in changes and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", changes["email"]):
        raise Refusal(400, "invalid email address")
    if "jAccount" in changes and not re.fullmatch(r"[A-Za-z0-9._-]+", changes["jAccount"]):
        raise Refusal(400, "invalid jAccount")
    if "contact" in changes:
        if changes["contact"] not in CONTACTS:
            raise Refusal(400, f"contact must be one of {', '.join(CONTACTS)}")
        after = {**state.users[user], **changes}
        need = "jAccount" if changes["contact"] == "jiaowoban" else "email"
        if not after.get(need):
            raise Refusal(400, f"contact {changes['contact']!r} needs {need} to be set")
    await _two_factor(state, call, "update_user", {"fields": sorted(changes)})
    with state._lock:
        rec = state.users[user]
        if "password" in changes:
            state._passwords[user] = changes.pop("password")
            state.password_changed[user] += 1
        rec.update(changes)
        rec["lastModified"] = datetime.now(CST).isoformat(timespec="seconds")
        return JSONResponse(copy.deepcopy(rec))


async def h_quota(state: DoubleState, call: Call) -> Response:
    q = call.request.query_params
    qt = q.get("quota_type")
    if qt not in ("account", "user"):
        raise Refusal(400, "quota_type must be 'account' or 'user'")
    name = q.get("name")
    if not name:
        raise Refusal(400, "missing parameter: name")
    data = state.quotas.get((qt, name))
    if data is None:
        raise Refusal(404, f"no {qt} quota found for {name!r}")
    return JSONResponse(
        {
            "quota_type": qt,
            "name": name,
            "domain": DOMAIN,
            **copy.deepcopy(data),
            "updated_at": datetime.now(CST).replace(microsecond=0).isoformat(),
            "collector": {"host": "quota-agent-03", "version": "2.3.1", "cached": True},
        }
    )


Handler = Callable[[DoubleState, Call], Awaitable[Response]]


def _api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state: DoubleState = request.app.state.double
        raw = await request.body()
        headers = request.headers
        auth = headers.get("authorization")
        with state._lock:
            state._seq += 1
            entry: dict[str, Any] = {
                "seq": state._seq,
                "time": time.time(),
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": {
                    "accept": headers.get("accept"),
                    "content-type": headers.get("content-type"),
                    "authorization": None
                    if auth is None
                    else ("Bearer <redacted>" if auth.lower().startswith("bearer ") else "<redacted>"),
                },
                "auth": None,
                "user": None,
                "body": None,
                "status": None,
                "session_id": None,
                "disconnected": False,
            }
            state.requests.append(entry)
        call = Call(request, entry)
        if raw:
            try:
                call.body = json.loads(raw)
                entry["body"] = _redact(call.body)
            except ValueError:
                call.body = ...  # unparseable
                entry["body"] = f"<unparseable, {len(raw)} bytes>"
        try:
            try:
                hang = _take(state.hangs, request.url.path, request.method)
                if hang is not None:
                    await _wait(state, request, asyncio.Event(), hang.seconds)
                if state.closing:
                    raise Refusal(503, "service unavailable: shutting down")
                fault = _take(state.faults, request.url.path, request.method)
                if fault is not None:
                    raise Refusal(fault.status, fault.body or "injected failure")
                resp = await handler(state, call)
            except Refusal as r:
                resp = state.error_response(r.status, r.reason)
                if r.status == 500:
                    entry["session_id"] = state.session_ids[-1]
            except ClientGone:
                entry["disconnected"] = True
                log.info("%s %s: client went away", request.method, request.url.path)
                return Response(status_code=499)
        except Exception:
            resp = state.error_response(500, "")
            entry["session_id"] = sid = state.session_ids[-1]
            log.exception("internal error, session %s", sid)
        entry["status"] = resp.status_code
        return resp

    return endpoint


# --------------------------------------------------------------------------- control


async def _control_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refusal(400, "body must be JSON") from None
    if not isinstance(body, dict):
        raise Refusal(400, "body must be a JSON object")
    return body


def _control(fn: Callable[[DoubleState, Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state: DoubleState = request.app.state.double
        try:
            return JSONResponse(await fn(state, request))
        except Refusal as r:
            return JSONResponse({"error": r.reason}, status_code=r.status)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, status_code=400)

    return endpoint


async def _poll_pending(state: DoubleState, wait: float) -> None:
    deadline = time.monotonic() + wait
    while not state.pending() and time.monotonic() < deadline and not state.closing:
        await asyncio.sleep(0.005)


async def c_pending(state: DoubleState, request: Request) -> Any:
    wait = _num(float(request.query_params.get("wait", 0)), "wait") or 0.0
    await _poll_pending(state, wait)
    return {"pending": state.pending()}


async def c_approve(state: DoubleState, request: Request) -> Any:
    body = await _control_body(request)
    extra = set(body) - {"id", "decision", "all", "wait"}
    if extra:
        raise ValueError(f"unknown keys: {sorted(extra)}")
    decision = _choice(body.get("decision", "approve"), "decision", ("approve", "deny"))
    await _poll_pending(state, _num(body.get("wait", 0), "wait") or 0.0)
    decided = state.decide(body.get("id"), decision, bool(body.get("all", False)))
    if not decided:
        raise Refusal(404, "no matching pending approval")
    return {"decided": [{k: d[k] for k in ("id", "kind", "user", "status")} for d in decided]}


async def c_config(state: DoubleState, request: Request) -> Any:
    if request.method == "POST":
        return state.configure(**await _control_body(request))
    return state.config_dict()


async def c_expire(state: DoubleState, request: Request) -> Any:
    body = await _control_body(request)
    return {"expired": state.expire_tokens(body.get("user"))}


async def c_state(state: DoubleState, request: Request) -> Any:
    return state.snapshot()


async def c_requests(state: DoubleState, request: Request) -> Any:
    with state._lock:
        if request.method == "DELETE":
            state.requests.clear()
        return {"requests": copy.deepcopy(state.requests)}


async def c_reset(state: DoubleState, request: Request) -> Any:
    state.reset()
    return {"reset": True}


def create_app(state: DoubleState) -> Starlette:
    routes = [
        Route("/token", _api(h_token_new), methods=["POST"]),
        Route("/token", _api(h_token_refresh), methods=["PATCH"]),
        Route("/gen_key", _api(h_gen_key), methods=["POST"]),
        Route("/sign_cert", _api(h_sign_cert), methods=["POST"]),
        Route("/user", _api(h_user_get), methods=["GET"]),
        Route("/user", _api(h_user_patch), methods=["PATCH"]),
        Route("/quota", _api(h_quota), methods=["GET"]),
        Route("/_double/pending", _control(c_pending), methods=["GET"]),
        Route("/_double/approve", _control(c_approve), methods=["POST"]),
        Route("/_double/config", _control(c_config), methods=["GET", "POST"]),
        Route("/_double/expire_tokens", _control(c_expire), methods=["POST"]),
        Route("/_double/state", _control(c_state), methods=["GET"]),
        Route("/_double/requests", _control(c_requests), methods=["GET", "DELETE"]),
        Route("/_double/reset", _control(c_reset), methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.double = state
    return app


# --------------------------------------------------------------------------- running


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted sockets (else ~40 ms per request)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _server(state: DoubleState, *, access_log: bool, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(state),
        lifespan="off",
        access_log=access_log,
        log_level=log_level,
        timeout_graceful_shutdown=2,
        loop="asyncio",
        http="h11",
        ws="none",
    )
    return uvicorn.Server(config)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.contextmanager
def run_double(
    ca_key: str | Path | asyncssh.SSHKey,
    *,
    users: str | Path | list[dict[str, Any]] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    state: DoubleState | None = None,
    log_level: str = "warning",
    **config: Any,
) -> Iterator[tuple[str, DoubleState]]:
    """Run the double in a background thread; yields ``(base_url, state)``.

    ``config`` keys are those of ``POST /_double/config``.  Usable from sync and async tests
    (it has its own thread and event loop).  On exit held requests answer 503 and the server
    stops (~0.2 s).
    """
    state = state or DoubleState(ca_key, users, **config)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    server = _server(state, access_log=False, log_level=log_level)
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # surfaced to the caller
            errors.append(e)

    thread = threading.Thread(target=target, name=f"api-double-{bound}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if errors or not thread.is_alive():
                raise RuntimeError(f"api double failed to start: {errors!r}")
            if time.monotonic() > deadline:
                raise RuntimeError("api double did not start within 10 s")
            time.sleep(0.002)
        yield _url(host, bound), state
    finally:
        state.close()
        server.should_exit = True
        thread.join(timeout=2)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5)
        sock.close()


@contextlib.asynccontextmanager
async def arun_double(ca_key: str | Path | asyncssh.SSHKey, **kw: Any) -> AsyncIterator[tuple[str, DoubleState]]:
    """Async variant of ``run_double``: start/stop happen in a worker thread."""
    cm = run_double(ca_key, **kw)
    result = await asyncio.to_thread(cm.__enter__)
    try:
        yield result
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Test double of the SJTU HPC platform API.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--ca-key", required=True, help="OpenSSH private key of the user CA")
    p.add_argument("--users", help="JSON file of users, merged by name onto the built-ins")
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument(
        "--auto-approve", type=float, metavar="SECONDS", help="approve two-factor requests automatically after SECONDS"
    )
    p.add_argument("--bearer-prefix", choices=("always", "never", "alternate"))
    p.add_argument("--error-format", choices=("text", "json"))
    p.add_argument("--token-ttl", type=float)
    p.add_argument("--max-valid-time", type=int)
    p.add_argument("--log-level", default="info")
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    cfg = {
        k: v
        for k, v in {
            "auto_approve_after": a.auto_approve,
            "bearer_prefix": a.bearer_prefix,
            "error_format": a.error_format,
            "token_ttl": a.token_ttl,
            "max_valid_time": a.max_valid_time,
        }.items()
        if v is not None
    }
    state = DoubleState(a.ca_key, a.users, **cfg)
    sock = _bind(a.host, a.port)
    port = sock.getsockname()[1]
    server = _server(state, access_log=True, log_level=a.log_level)

    def on_signal(signum: int, frame: Any) -> None:
        # uvicorn handles SIGINT/SIGTERM while serving and re-raises them afterwards;
        # this handler only makes that re-raise (or an early signal) a clean stop.
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.002)
        if server.started:
            print(port, flush=True)
            if a.port_file:
                tmp = f"{a.port_file}.tmp{os.getpid()}"
                Path(tmp).write_text(f"{port}\n", encoding="utf-8")
                os.replace(tmp, a.port_file)
        while not server.should_exit and not task.done():
            await asyncio.sleep(0.05)
        state.close()  # held requests answer 503 at once instead of delaying the shutdown
        await task

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
