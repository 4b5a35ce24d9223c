"""A one-time page on 127.0.0.1 where the person types a password, so it never passes through the assistant.

The address holds an unguessable path; the page accepts one submission, then closes. It also
closes after `lifetime` seconds. The password is kept in memory only until the caller takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import secrets
import time
from urllib.parse import parse_qs

from ..core.errors import HpcError

log = logging.getLogger(__name__)
MAX_BODY = 4096

_FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>SJTU HPC password</title>
<meta name="referrer" content="no-referrer"></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">
<h1>SJTU HPC (交我算)</h1><p>{purpose}</p>
<form method="post"><label>Password for <b>{user}</b><br>
<input type="password" name="password" autocomplete="current-password" autofocus required></label>
<button type="submit">Send</button></form>
<p><small>This page runs on your own computer (127.0.0.1) and works once.
The assistant never sees what you type.</small></p></body></html>"""
_DONE = "<!doctype html><meta charset='utf-8'><p>Received. You can close this page and return to the assistant.</p>"


class PasswordPage:
    """`host`/`port` are where it listens (0: any free port); `public_url` is the base the person is given,
    e.g. the host port a container's fixed page port is published on."""

    def __init__(
        self,
        purpose: str,
        user: str,
        lifetime: float = 600.0,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
    ) -> None:
        self.purpose = purpose
        self.user = user
        self.lifetime = lifetime
        self.host = host
        self.port = port
        self.public_url = public_url
        self.path = "/p/" + secrets.token_urlsafe(24)
        self.url = ""
        self._password: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._server: asyncio.Server | None = None
        self._deadline = time.monotonic() + lifetime

    async def open(self) -> str:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            raise HpcError(
                "E_PAGE_PORT",
                f"the password page cannot listen on {self.host}:{self.port} ({exc.strerror}).",
                "finish or wait out the other open password page (10 minutes), or give the server another "
                "--page-port; a password_file works meanwhile.",
            ) from None
        port = self._server.sockets[0].getsockname()[1]
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104 (compared, not bound)
        self.url = f"{self.public_url or f'http://{shown}:{port}'}{self.path}"
        log.info("password page: open on %s:%d for one use within %d s", self.host, port, self.lifetime)
        asyncio.get_running_loop().call_later(self.lifetime, self.close)
        return self.url

    @property
    def expired(self) -> bool:
        """Past its lifetime, or closed without a password to hand over."""
        received = self._password.done() and not self._password.cancelled()
        return not received and (time.monotonic() > self._deadline or self._server is None)

    async def wait(self, seconds: float) -> str | None:
        """The password once submitted (and the page closed), or None after `seconds`."""
        await asyncio.wait({self._password}, timeout=seconds)
        if self._password.done() and not self._password.cancelled():
            return self._password.result()
        return None

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if not self._password.done():
            self._password.cancel()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await asyncio.wait_for(self._respond(reader), 10)
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            status, body = "400 Bad Request", "<p>Bad request.</p>"
        data = body.encode()
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {len(data)}\r\n"
            "Cache-Control: no-store\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
            "Connection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + data)
            await writer.drain()
        writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        request_line = (await reader.readline()).decode("latin-1").split()
        headers: dict[str, str] = {}
        while True:
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if len(request_line) < 2 or not secrets.compare_digest(request_line[1].encode(), self.path.encode()):
            return "404 Not Found", "<p>Not found.</p>"
        if self._password.done():
            return "410 Gone", "<p>This page was already used.</p>"
        if request_line[0] == "GET":
            return "200 OK", _FORM.format(purpose=html.escape(self.purpose), user=html.escape(self.user))
        if request_line[0] != "POST":
            return "405 Method Not Allowed", "<p>Method not allowed.</p>"
        length = int(headers.get("content-length", "0"))
        if length <= 0 or length > MAX_BODY:
            return "400 Bad Request", "<p>Bad request.</p>"
        form = parse_qs((await reader.readexactly(length)).decode("utf-8", "replace"))
        password = (form.get("password") or [""])[0]
        if not password:
            return "400 Bad Request", "<p>The password was empty; go back and try again.</p>"
        self._password.set_result(password)
        log.info("password page: a password was received")
        asyncio.get_running_loop().call_soon(self.close)
        return "200 OK", _DONE
