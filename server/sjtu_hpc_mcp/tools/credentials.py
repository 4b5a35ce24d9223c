"""Credential tools: credential_status, request_token, request_certificate."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .._mcp import (
    CallToolResult,
    Context,
    InputRequiredResult,
    MCPServer,
    lean,
    mutating,
    offer_url,
    open_url_input,
    read_only,
    tool_errors,
    url_input_answer,
    wait_bound,
)
from ..core import consent
from ..core.account import check_username
from ..core.certs import covers, parse_certificate
from ..core.credentials import CredentialStatus, FileSeen, assess
from ..core.errors import ApprovalDenied, ApprovalTimeout, HpcError, TokenRefused
from ..core.export import (
    DEFAULT_FOLDER,
    RECORD_FILE,
    Exported,
    confirm_question,
    exported_copies,
    parse_records,
    replacements,
)
from ..core.person import login_user
from ..services import Services, services
from ..shell.credentials import (
    CERTIFICATE,
    KEY,
    PUBLIC_KEY,
    TOKEN,
    CredentialStore,
    delete_password_file,
    read_password_file,
)
from ..shell.export import copy_seen
from ..shell.password_page import PasswordPage
from . import export

log = logging.getLogger(__name__)
CERT_TASK = "certificate"
LOGIN_PAGE = "login"
MIN_VALID, MAX_VALID = 300, 7 * 24 * 3600


def _seen(store: CredentialStore, name: str | None) -> FileSeen:
    f = store.facts(name)
    return FileSeen(path=str(f.path), present=f.present, mode=f.mode, owner_ok=f.owner_ok)


def current_status(svc: Services) -> CredentialStatus:
    store = svc.store
    now = datetime.now(UTC)
    status = assess(
        folder=_seen(store, None),
        token=_seen(store, TOKEN),
        key=_seen(store, KEY),
        public_key_text=store.read_text(PUBLIC_KEY),
        cert_text=store.read_text(CERTIFICATE),
        stored_user=svc.settings.user or store.user(),
        now=now,
    )
    records = parse_records(store.read_text(RECORD_FILE))
    status.exports = exported_copies(records, [copy_seen(Path(r.folder)) for r in records], now)
    for kind in (CERT_TASK, "update_user"):
        pending = svc.approvals.get(kind)
        if pending is not None:
            state = "decided; call the tool again to see the outcome" if pending.task.done() else "waiting"
            status.pending_approvals.append(f"{kind}: {state} ({pending.waited_s} s)")
    return status


def known_user(svc: Services, given: str | None = None) -> str | None:
    if given:
        return check_username(given)
    return login_user(svc.settings.user, svc.store.user(), svc.store.read_text(CERTIFICATE))


def require_token(svc: Services) -> str:
    token = svc.store.token()
    if token is None:
        raise HpcError("E_NO_TOKEN", "There is no API token.", "Call request_token first.")
    return token


def require_user(svc: Services) -> str:
    user = known_user(svc)
    if user is None:
        raise HpcError("E_NO_USER", "The HPC username is not known yet.", "Call request_token with username.")
    return user


async def fresh_token(svc: Services) -> str:
    """Refresh the stored token (which also proves it is valid) and store the new one."""
    try:
        token = await svc.api.refresh_token(require_token(svc))
    except TokenRefused:
        raise TokenRefused("The API token has expired or was refused.", "Call request_token for a new one.") from None
    svc.store.write_token(token)
    return token


# -- request_token ---------------------------------------------------------------------------


class TokenResult(BaseModel):
    status: Literal["refreshed", "issued", "waiting_for_password"]
    user: str | None = None
    token_file: str
    page_url: str | None = Field(None, description="One-time local page where the person types the password.")
    password_file_deleted: bool | None = None
    message: str


async def _request_token(
    svc: Services, ctx: Context[Any, Any], username: str | None, password_file: str | None, force_new: bool
) -> TokenResult | InputRequiredResult:
    password: str | None = None
    pw_path: Path | None = None
    if password_file is not None:
        password, pw_path = read_password_file(password_file, svc.store.folder)
    try:
        result = await _token_flow(svc, ctx, known_user(svc, username), password, force_new)
    finally:
        password = None
        deleted = delete_password_file(pw_path) if pw_path is not None else None
        if deleted is False:
            log.warning("could not delete the password file %s", pw_path)
    if isinstance(result, InputRequiredResult):
        return result
    result.password_file_deleted = deleted
    if deleted is False:
        result.message += f" Could not delete {pw_path}: delete it by hand now."
    return result


async def _token_flow(
    svc: Services, ctx: Context[Any, Any], user: str | None, password: str | None, force_new: bool
) -> TokenResult | InputRequiredResult:
    token = svc.store.token()
    refused = False
    if token is not None and not force_new:
        try:
            new = await svc.api.refresh_token(token)
        except TokenRefused:
            refused = True
        else:
            path = svc.store.write_token(new)
            return TokenResult(
                status="refreshed",
                user=user,
                token_file=str(path),
                message="The token was refreshed; the old one is no longer valid.",
            )
    if user is None and LOGIN_PAGE in svc.pages:
        user = svc.pages[LOGIN_PAGE].user
    if user is None:
        raise HpcError("E_NO_USER", "A new token needs the HPC username.", "Call request_token with username.")
    if password is None:
        typed = await _password_from_page(svc, ctx, user)
        if isinstance(typed, InputRequiredResult):
            return typed
        if typed is None:
            page = svc.pages[LOGIN_PAGE]
            why = " (the stored token was refused)" if refused else " (force_new)" if force_new and token else ""
            return TokenResult(
                status="waiting_for_password",
                user=user,
                token_file=str(svc.store.path(TOKEN)),
                page_url=page.url,
                message=f"A new token needs the password{why}. Ask the person to open {page.url} on this "
                "computer and type it there (or to upload a file holding only the password and pass "
                "password_file); then call request_token again. Never ask for the password in the chat.",
            )
        password = typed
    new = await svc.api.new_token(user, password)
    path = svc.store.write_token(new)
    svc.store.write_user(user)
    return TokenResult(status="issued", user=user, token_file=str(path), message="A new token was stored.")


async def password_via_page(
    svc: Services, ctx: Context[Any, Any], key: str, purpose: str, user: str, *, may_ask: bool = False
) -> str | InputRequiredResult | None:
    """The password typed into a one-time local page; None while the person has not sent it yet.

    The page stays open between calls (svc.pages[key]). The call that opens it waits for nothing, so the
    page's URL reaches the person at once in every host: on 2026-07-28, where the client elicits URLs and
    the tool may answer with input (`may_ask`), the answer asks the client to show the page and the call
    comes back with the person's answer; with an older protocol's URL elicitation the client shows it during
    the call; elsewhere the result carries page_url. The next call waits (at most --approval-wait) for
    the password.
    """
    page = svc.pages.get(key)
    answer = url_input_answer(ctx, key)
    message = f"{purpose} Use this local page; the assistant never sees it."
    if page is None or page.expired:
        cfg = svc.settings
        if cfg.page_port:  # one fixed port (a container's published one): one page at a time
            for other in svc.pages.values():
                other.close()
        page = PasswordPage(purpose, user, host=cfg.page_host, port=cfg.page_port, public_url=cfg.page_url)
        svc.pages[key] = page
        await page.open()
        asked = open_url_input(ctx, key, message, page.url) if may_ask else None
        if asked is not None:
            return asked
        if not await offer_url(ctx, message, page.url):
            return None  # the result carries page_url; the next call waits for the password
    elif answer in ("decline", "cancel"):
        return None  # the person would not open it now: say where it is, wait for nothing
    password = await page.wait(svc.settings.approval_wait)
    if password is not None:
        svc.pages.pop(key, None)
    return password


async def _password_from_page(svc: Services, ctx: Context[Any, Any], user: str) -> str | InputRequiredResult | None:
    purpose = "Type your HPC password to get a new API token."
    return await password_via_page(svc, ctx, LOGIN_PAGE, purpose, user, may_ask=True)


async def settle(svc: Services, ctx: Context[Any, Any], kind: str) -> tuple[Literal["waiting", "denied", "done"], str]:
    """Wait a bounded time for a two-factor task, reporting progress; say how it stands."""

    async def progress(done: float, message: str) -> None:
        await ctx.report_progress(done, None, message)

    if await svc.approvals.wait(kind, wait_bound(svc.settings.approval_wait), progress) is None:
        return "waiting", ""
    try:
        svc.approvals.take(kind)
    except (ApprovalDenied, ApprovalTimeout) as exc:
        return "denied", exc.message
    return "done", ""


# -- request_certificate ---------------------------------------------------------------------


class CertificateResult(BaseModel):
    status: Literal["issued", "already_valid", "waiting_for_approval", "denied", "confirm_needed"]
    message: str
    user: str | None = None
    principals: list[str] = []
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    key_path: str | None = None
    certificate_path: str | None = None
    waited_s: int | None = None
    export: Exported | None = None


def _issued(svc: Services, status: Literal["issued", "already_valid"], message: str) -> CertificateResult:
    cert = parse_certificate(svc.store.read_text(CERTIFICATE) or "")
    return CertificateResult(
        status=status,
        message=message,
        user=cert.principals[0] if cert.principals else None,
        principals=list(cert.principals),
        valid_after=cert.valid_after,
        valid_before=cert.valid_before,
        key_path=str(svc.store.path(KEY)),
        certificate_path=str(svc.store.path(CERTIFICATE)),
    )


async def _sign_and_store(svc: Services, token: str, user: str, private_key: str, public_key: str, valid: int) -> None:
    cert = await svc.api.sign_cert(token, user, public_key, valid)
    parsed = parse_certificate(cert)
    if user not in parsed.principals:
        raise HpcError("E_API_BAD_REPLY", "The signed certificate does not name the user.", "Try again.")
    svc.store.write(KEY, private_key.rstrip("\n") + "\n", secret=True)
    svc.store.write(PUBLIC_KEY, public_key.strip() + "\n", secret=False)
    svc.store.write(CERTIFICATE, cert.strip() + "\n", secret=False)


async def _request_certificate(
    svc: Services, ctx: Context[Any, Any], valid_time: int, force: bool
) -> CertificateResult:
    pending = svc.approvals.get(CERT_TASK)
    if pending is None:
        status = current_status(svc)
        left = status.certificate.seconds_left
        if not force and status.ready_for_ssh and covers(left, valid_time):
            return _issued(svc, "already_valid", "The current certificate already covers that; nothing was asked.")
        user = require_user(svc)
        token = await fresh_token(svc)
        keys = await svc.api.gen_key(token, user)
        pending = svc.approvals.start(
            CERT_TASK, _sign_and_store(svc, token, user, keys.private_key, keys.public_key, valid_time)
        )

    state, reason = await settle(svc, ctx, CERT_TASK)
    if state == "waiting":
        return CertificateResult(
            status="waiting_for_approval",
            waited_s=pending.waited_s,
            message="Ask the person to approve the login certificate in the 交我办 app or by the email link; "
            "then call request_certificate again (or credential_status) to pick up the result.",
        )
    if state == "denied":
        return CertificateResult(status="denied", message=f"{reason} Nothing was written.")
    return _issued(svc, "issued", "The certificate was approved and stored; SSH uses it from the next command.")


async def _certificate_and_export(
    svc: Services, ctx: Context[Any, Any], valid_time: int, force: bool, export_to: str, confirm: bool
) -> CertificateResult:
    """A certificate that covers valid_time (the usual flow), then a copy in export_to for the person's own SSH.

    The folder is checked before anything is asked: a refused folder or a key there that would be replaced
    without confirm costs the person no approval.
    """
    to = await export.target(svc, ctx, export_to)
    status = current_status(svc)
    renew = force or svc.approvals.get(CERT_TASK) is not None
    renew = renew or not (status.ready_for_ssh and covers(status.certificate.seconds_left, valid_time))
    replaced = replacements(to.found, None if renew else status.key_fingerprint)
    if consent.gate("replace_key", confirm, declined=False, needed=bool(replaced)) == "preview":
        return CertificateResult(status="confirm_needed", message=confirm_question(str(to.folder), replaced, renew))
    result = await _request_certificate(svc, ctx, valid_time, force)
    if result.status not in ("issued", "already_valid"):
        result.message += " Nothing was exported yet; call again with the same export_to."
        return result
    if replacements(to.found, current_status(svc).key_fingerprint) and not confirm:
        raise HpcError(
            "E_EXPORT_EXISTS",
            f"The key changed meanwhile and would replace the one in {to.folder}; nothing was exported.",
            "Call again: it asks before replacing it.",
        )
    result.export, reminder = export.write(svc, to, require_user(svc))
    result.message += " " + reminder
    return result


def register(mcp: MCPServer[Services]) -> None:
    @mcp.tool(annotations=read_only("Credential status"))
    @tool_errors
    async def credential_status(ctx: Context[Any, Any]) -> Annotated[CallToolResult, CredentialStatus]:
        """Whether the API token, SSH key and certificate are present, valid and safely stored, and the next step.

        Never shows a secret.
        """
        return lean(current_status(services(ctx)))

    @mcp.tool(annotations=mutating("Get or refresh the API token"))
    @tool_errors
    async def request_token(
        ctx: Context[Any, Any],
        username: Annotated[str | None, Field(description="HPC username; needed the first time.")] = None,
        password_file: Annotated[
            str | None,
            Field(
                description="Absolute path of a file the person uploaded holding only the password; deleted after use."
            ),
        ] = None,
        force_new: Annotated[bool, Field(description="Skip refreshing; log in with the password.")] = False,
    ) -> Annotated[CallToolResult, TokenResult] | InputRequiredResult:
        """Refresh the stored API token, or get a new one with the password.

        The password comes from an uploaded file (password_file) or a one-time local page the person
        opens (page_url in the result); never from the chat.
        """
        result = await _request_token(services(ctx), ctx, username, password_file, force_new)
        return result if isinstance(result, InputRequiredResult) else lean(result)

    @mcp.tool(annotations=mutating("Get an SSH certificate"))
    @tool_errors
    async def request_certificate(
        ctx: Context[Any, Any],
        valid_time: Annotated[int, Field(ge=MIN_VALID, le=MAX_VALID, description="Seconds it must be valid.")] = 3600,
        force: Annotated[bool, Field(description="Ask even if the current certificate is still valid.")] = False,
        export_to: Annotated[
            str | None, Field(description=f"Also copy key, certificate and an ssh config here ({DEFAULT_FOLDER}).")
        ] = None,
        confirm: Annotated[bool, Field(description="Replace a different key in export_to.")] = False,
    ) -> Annotated[CallToolResult, CertificateResult]:
        """Get an SSH key and certificate (the person approves in 交我办 or by email; on waiting_for_approval call
        again); export_to also copies them for the person's own ssh, scp or VS Code.
        """
        svc = services(ctx)
        if export_to is not None:
            return lean(await _certificate_and_export(svc, ctx, valid_time, force, export_to, confirm))
        return lean(await _request_certificate(svc, ctx, valid_time, force))
