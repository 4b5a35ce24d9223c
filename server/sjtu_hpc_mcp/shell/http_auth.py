"""Bearer-token check in front of the streamable HTTP app (plain ASGI; no SDK import).

The token is compared as SHA-256 digests with `hmac.compare_digest`, so neither its content nor its
length leaks through timing. Non-HTTP scopes (the lifespan) pass through untouched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MIN_TOKEN_CHARS = 16


def read_token_file(path: Path) -> str:
    """The token in `path` (one line); ValueError with what to do when it is missing, empty or short."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"--http-token-file {path}: cannot read it ({exc.strerror})") from None
    return check_token(token, f"--http-token-file {path}")


def check_token(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise ValueError(
            f"{where}: the token must be one word of at least {MIN_TOKEN_CHARS} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


class BearerAuth:
    """Refuses every HTTP request whose `Authorization: Bearer …` is not the configured token (401)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = hashlib.sha256(token.encode()).digest()

    def allows(self, authorization: bytes | None) -> bool:
        scheme, _, given = (authorization or b"").partition(b" ")
        if scheme.lower() != b"bearer":
            given = b""
        return hmac.compare_digest(hashlib.sha256(given.strip()).digest(), self._digest) and bool(given.strip())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.allows(headers.get(b"authorization")):
            await self.app(scope, receive, send)
            return
        missing = b"authorization" not in headers
        log.warning("HTTP request refused: %s bearer token", "no" if missing else "wrong")
        body = json.dumps(
            {
                "error": "invalid_token",
                "error_description": "Send the server's token as `Authorization: Bearer <token>`"
                + (" (none was sent)." if missing else " (the one sent is wrong)."),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer error="invalid_token"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
