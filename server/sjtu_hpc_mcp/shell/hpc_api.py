"""HpcApi: the HTTP client of the platform API (https://api.hpc.sjtu.edu.cn).

- one connection pool per instance; TLS verified; redirects followed only within the same origin;
- every failure becomes an HpcError with a stable code; no httpx exception escapes;
- `sign_cert` and `update_user` are held open by the server for two-factor approval, so they read
  with `approval_timeout` instead of the normal timeout;
- server text is scrubbed of every secret the request carried before it reaches an error message,
  and only method, path and status are logged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import httpx2

from .. import __version__
from ..core.errors import ApprovalDenied, ApprovalTimeout, HpcError, TokenRefused

log = logging.getLogger(__name__)

DOMAIN = "pi"
HELP_MAIL = "hpc@sjtu.edu.cn"
SECURITY_DOCS = "https://docs.hpc.sjtu.edu.cn/accounts/security.html"
NO_CHANNEL = "user have not set email or jAccount"
REASON_MAX = 300
REDACTED = "<redacted>"

_SESSION_RE = re.compile(r"(?:session[\s_-]*id|会话\s*ID)\W{0,6}([A-Za-z0-9][A-Za-z0-9_-]{5,})", re.IGNORECASE)
_PRIVATE_BLOCK_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)
_JWT_RE = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")
# A 403 blames the token only when it says so ("permission denied: a token may only ..." does not).
_TOKEN_HINT_RE = re.compile(
    r"expired|revoked|unauthori[sz]ed|jwt|signature|(invalid|bad|malformed|unknown)\s+(bearer\s+)?token"
    r"|token\s+(is\s+)?(invalid|not valid)",
    re.IGNORECASE,
)
_DENIED_RE = re.compile(r"\b(denied|rejected|declined)\b", re.IGNORECASE)
_TIMED_OUT_RE = re.compile(r"time[ds]?[\s_-]*out|timeout", re.IGNORECASE)
_TOKEN_CHARS_RE = re.compile(r"[\x21-\x7e]+")
_SECRET_FIELD_RE = re.compile(r"pass|secret|token|private", re.IGNORECASE)


@dataclass(frozen=True, repr=False)
class KeyPair:
    private_key: str
    public_key: str

    def __repr__(self) -> str:
        return f"KeyPair(private_key={REDACTED!r}, public_key={self.public_key!r})"


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` without any of `secrets` (raw or JSON-escaped), private-key blocks or JWTs."""
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {s, json.dumps(s)[1:-1]}:
            text = text.replace(form, REDACTED)
    text = _PRIVATE_BLOCK_RE.sub(REDACTED, text)
    return _JWT_RE.sub(REDACTED, text)


def _json(response: httpx2.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _reason(response: httpx2.Response) -> str:
    """The server's reason: JSON message/detail/error, else the text; whitespace collapsed."""
    data = _json(response)
    reason: Any = None
    if isinstance(data, dict):
        reason = next((data[k] for k in ("message", "detail", "error", "msg") if data.get(k)), None)
    elif isinstance(data, str):
        reason = data
    if reason is None:
        reason = response.content.decode("utf-8", "replace")
    if not isinstance(reason, str):
        reason = json.dumps(reason, ensure_ascii=False)
    return " ".join(reason.split()) or f"no reason given (HTTP {response.status_code})"


UNAVAILABLE = (502, 503, 504)


def _is_html(response: httpx2.Response) -> bool:
    """An HTML page (a proxy's error or login page), never an answer of the API itself."""
    if "html" in response.headers.get("content-type", "").lower():
        return True
    head = response.content[:200].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def _plain(response: httpx2.Response) -> str:
    """A text/plain answer, also accepted as a JSON string literal."""
    text = response.content.decode("utf-8", "replace").strip()
    data = _json(response) if text.startswith('"') else None
    return data.strip() if isinstance(data, str) else text


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


# One person's server: a few requests at once are plenty (a two-factor wait holds one open), and
# keeping at most API_KEEPALIVE idle connections bounds the descriptors a burst of calls leaves behind.
API_KEEPALIVE = 4
API_LIMITS = httpx2.Limits(max_connections=8, max_keepalive_connections=API_KEEPALIVE)


class HpcApi:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        approval_timeout: float | None = 900.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            url = httpx2.URL(base_url)
        except (httpx2.InvalidURL, TypeError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise HpcError("E_API_UNREACHABLE", "the HPC API URL is not a valid http(s) URL.", "check --api-url.")
        self._where = f"{url.scheme}://{url.netloc.decode()}{url.path.rstrip('/')}"  # never user:password@
        self._timeout = timeout
        self._approval_timeout = approval_timeout
        self._url = url
        self._transport = transport
        self._http: httpx2.AsyncClient | None = None

    @property
    def _client(self) -> httpx2.AsyncClient:
        """Made on first use: building the TLS context takes about 100 ms that start-up need not wait for."""
        if self._http is None:
            self._http = httpx2.AsyncClient(
                base_url=self._url,
                timeout=self._timeout,
                transport=self._transport,
                follow_redirects=True,
                max_redirects=3,
                limits=API_LIMITS,
                headers={"User-Agent": f"sjtu-hpc-mcp/{__version__}"},
                event_hooks={"request": [self._same_origin]},
            )
        return self._http

    async def _same_origin(self, request: httpx2.Request) -> None:
        if _origin(request.url) != _origin(self._client.base_url):
            raise HpcError(
                "E_API_REFUSED",
                f"the HPC API redirected to another host ({request.url.host}); not followed.",
                "check --api-url; it should be the API itself, e.g. https://api.hpc.sjtu.edu.cn.",
            )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    # -- the API ---------------------------------------------------------------

    async def new_token(self, user: str, password: str) -> str:
        r = await self._call(
            "POST",
            "/token",
            accept="text/plain",
            body={"domain": DOMAIN, "operator": user, "password": password},
            secrets=(password,),
            login=True,
        )
        return self._token_from(r, "POST /token")

    async def refresh_token(self, token: str) -> str:
        r = await self._call("PATCH", "/token", token=token, accept="text/plain", body={}, refresh=True)
        return self._token_from(r, "PATCH /token")

    async def gen_key(self, token: str, user: str) -> KeyPair:
        r = await self._call(
            "POST", "/gen_key", token=token, accept="application/json", body={"domain": DOMAIN, "hpc_user": user}
        )
        data = _json(r)
        keys = [data.get(k) if isinstance(data, dict) else None for k in ("private_key", "public_key")]
        if not all(isinstance(k, str) and k.strip() for k in keys):
            self._bad_reply("POST /gen_key", "a JSON object with private_key and public_key", r)
        private_key, public_key = (str(k).strip() for k in keys)
        return KeyPair(private_key=private_key + "\n", public_key=public_key)

    async def sign_cert(self, token: str, user: str, public_key: str, valid_time: int) -> str:
        body = {
            "domain": DOMAIN,
            "hpc_user": user,
            "principals": [user],
            "public_key": public_key,
            "valid_time": valid_time,
        }
        r = await self._call("POST", "/sign_cert", token=token, accept="text/plain", body=body, approval=True)
        cert = _plain(r)
        if not cert or not cert.split()[0].endswith("-cert-v01@openssh.com"):
            self._bad_reply("POST /sign_cert", "an OpenSSH certificate", r)
        return cert

    async def get_user(self, token: str, user: str) -> dict[str, Any]:
        r = await self._call(
            "GET", "/user", token=token, accept="application/json", params={"name": user, "domain": DOMAIN}
        )
        return self._object_from(r, "GET /user")

    async def update_user(self, token: str, user: str, changes: dict[str, str]) -> dict[str, Any]:
        hidden = tuple(v for k, v in changes.items() if _SECRET_FIELD_RE.search(k) and isinstance(v, str))
        r = await self._call(
            "PATCH",
            "/user",
            token=token,
            accept="application/json",
            body={**changes, "domain": DOMAIN, "name": user},
            secrets=hidden,
            approval=True,
        )
        return self._object_from(r, "PATCH /user")

    async def quota(self, quota_type: Literal["account", "user"], name: str) -> dict[str, Any]:
        r = await self._call(
            "GET", "/quota", accept="application/json", params={"quota_type": quota_type, "name": name}
        )
        return self._object_from(r, "GET /quota")

    # -- one request -------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        accept: str,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        approval: bool = False,
        login: bool = False,
        refresh: bool = False,
    ) -> httpx2.Response:
        headers = {"Accept": accept}
        if token is not None:
            if not _TOKEN_CHARS_RE.fullmatch(token):  # else httpx/h11 would fail, possibly quoting it
                raise TokenRefused(
                    "the token is empty or malformed (not one word of printable ASCII).",
                    "call request_token to get a new token, then retry.",
                )
            headers["Authorization"] = f"Bearer {token}"
        secrets = (*secrets, *([token] if token else ()))
        timeout = httpx2.Timeout(self._timeout, read=self._approval_timeout if approval else self._timeout)
        what = f"{method} {path}"
        try:
            r = await self._client.request(method, path, headers=headers, json=body, params=params, timeout=timeout)
        except httpx2.ReadTimeout as e:
            raise self._timed_out(what, approval) from e
        except httpx2.TimeoutException as e:
            raise self._timed_out(what, False) from e
        except (httpx2.ConnectError, httpx2.NetworkError, httpx2.ProxyError) as e:
            detail = _scrub(str(e) or type(e).__name__, secrets)[:REASON_MAX]
            raise HpcError(
                "E_API_UNREACHABLE",
                f"cannot reach the HPC API at {self._where} ({what}): {detail}",
                "check the network or VPN (the API may be reachable only from campus or over the SJTU VPN), "
                "and the --api-url setting.",
            ) from e
        except httpx2.TooManyRedirects as e:
            raise HpcError("E_API_BAD_REPLY", f"the HPC API redirected too often on {what}.", "check --api-url.") from e
        except httpx2.HTTPError as e:  # protocol errors, unsupported scheme, bad encoding
            detail = _scrub(str(e) or type(e).__name__, secrets)[:REASON_MAX]
            raise HpcError(
                "E_API_BAD_REPLY",
                f"the HPC API answer to {what} could not be read: {detail}",
                "try again later; check --api-url if it persists.",
            ) from e
        log.debug("%s %s -> %s", method, path, r.status_code)
        if NO_CHANNEL in r.content.decode("utf-8", "replace"):
            raise HpcError(
                "E_NO_SECOND_CHANNEL",
                "the account has neither an email nor a jAccount bound, so two-factor approval cannot reach the user.",
                f"the user must bind an email or jAccount first: {SECURITY_DOCS}",
            )
        if r.is_success:
            return r
        self._refused(r, what, secrets, token=token is not None, approval=approval, login=login, refresh=refresh)

    def _refused(
        self,
        r: httpx2.Response,
        what: str,
        secrets: tuple[str, ...],
        *,
        token: bool,
        approval: bool,
        login: bool,
        refresh: bool,
    ) -> NoReturn:
        status = r.status_code
        if status in UNAVAILABLE or (_is_html(r) and status != 500):
            raise self._unavailable(r, what)
        reason = _scrub(_reason(r), secrets)
        if status == 500:
            m = _SESSION_RE.search(r.content.decode("utf-8", "replace"))
            sid = _scrub(m.group(1), secrets) if m else None
            found = f"session ID: {sid}." if sid else "the answer held no session ID."
            raise HpcError(
                "E_API_INTERNAL",
                f"the HPC API had an internal error (HTTP 500) on {what}; {found}",
                f"write to {HELP_MAIL} with this session ID"
                + (f" ({sid})" if sid else " (none was given; give the time of the failure instead)")
                + " and what was being done.",
            )
        short = reason[:REASON_MAX] + ("…" if len(reason) > REASON_MAX else "")
        if approval and _DENIED_RE.search(reason) and "permission" not in reason.lower():
            raise ApprovalDenied(
                f"the two-factor approval for {what} was denied ({short}).",
                "only retry if the user wants to; they must approve it in 交我办 or by email.",
            )
        if approval and _TIMED_OUT_RE.search(reason) and "token" not in reason.lower():
            raise ApprovalTimeout(
                f"the two-factor approval for {what} timed out at the server ({short}).",
                "retry, and ask the user to approve promptly in 交我办 or by email.",
            )
        if login and status == 401:
            raise HpcError(
                "E_LOGIN_REFUSED",
                f"username or password refused (HTTP 401: {short}).",
                "ask the user to check the username and upload the correct password.",
            )
        token_bad = status == 401 or (status == 403 and _TOKEN_HINT_RE.search(reason) is not None)
        if (refresh and 400 <= status < 500) or (token and token_bad):
            raise TokenRefused(
                f"the HPC API refused the token on {what} (HTTP {status}: {short}).",
                "call request_token to get a new token, then retry.",
            )
        raise HpcError(
            "E_API_REFUSED",
            f"the HPC API refused {what} (HTTP {status}): {short}",
            "correct the request if the reason says how; otherwise tell the user the reason.",
        )

    # -- answers ---------------------------------------------------------------

    def _token_from(self, r: httpx2.Response, what: str) -> str:
        text = _plain(r)
        if text[:7].lower() == "bearer ":
            text = text[7:].strip()
        if not _TOKEN_CHARS_RE.fullmatch(text):
            self._bad_reply(what, "a single token", r)
        return text

    def _object_from(self, r: httpx2.Response, what: str) -> dict[str, Any]:
        data = _json(r)
        if not isinstance(data, dict):
            self._bad_reply(what, "a JSON object", r)
        return data

    def _unavailable(self, r: httpx2.Response, what: str) -> HpcError:
        # A proxy or gateway in front of the API answered: its page says nothing the model can use.
        return HpcError(
            "E_API_UNAVAILABLE",
            f"the HPC API is unavailable (HTTP {r.status_code} on {what}, "
            + ("an HTML error page" if _is_html(r) else "from the gateway in front of it")
            + ")",
            "try again later (in a few minutes); if it persists, tell the person the platform may be down "
            "for maintenance. Nothing needs to change in the request.",
        )

    def _bad_reply(self, what: str, expected: str, r: httpx2.Response) -> NoReturn:
        # The body is not quoted: a malformed answer may still hold a token or a private key.
        kind = r.headers.get("content-type", "no content type")[:60]
        raise HpcError(
            "E_API_BAD_REPLY",
            f"the HPC API answered {what} with HTTP {r.status_code} but not {expected} "
            f"({kind}, {len(r.content)} bytes).",
            "try again later; if it persists, the API may have changed: tell the user.",
        )

    def _timed_out(self, what: str, approval: bool) -> HpcError:
        if approval and self._approval_timeout is not None:
            return HpcError(
                "E_API_TIMEOUT",
                f"no two-factor decision within {self._approval_timeout:g} s on {what}.",
                "ask the user to approve in 交我办 or by email, then retry.",
            )
        return HpcError(
            "E_API_TIMEOUT",
            f"the HPC API did not answer within {self._timeout:g} s ({what}).",
            "check the network or VPN and retry later.",
        )
