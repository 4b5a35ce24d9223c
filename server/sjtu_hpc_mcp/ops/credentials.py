"""Credentials as use cases: the token (refresh, or a new one with the password), the SSH certificate
(two-factor approval, held across calls) and its export, and the status the person reads.

The password reaches the server from a file the person uploaded (deleted after use) or a one-time local
page (shell/password_page.py); never from the chat. Approvals run in the background (shell/approvals.py):
each call waits a bounded time and says how it stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..core import consent
from ..core.account import check_username
from ..core.certs import covers, parse_certificate
from ..core.credentials import CredentialStatus, FileSeen, assess
from ..core.errors import ApprovalDenied, ApprovalTimeout, HpcError, TokenRefused
from ..core.export import RECORD_FILE, Exported, confirm_question, exported_copies, parse_records, replacements
from ..core.person import login_user
from ..core.platform import Platform
from ..core.since import parse_seen, unseen_count
from ..settings import Settings
from ..shell.approvals import Approvals
from ..shell.approvals import Progress as ApprovalProgress
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
from ..shell.hpc_api import HpcApi
from ..shell.journal import JobJournal
from ..shell.password_page import PasswordPage
from . import export
from .talk import Asked, Person

log = logging.getLogger(__name__)
CERT_TASK = "certificate"
LOGIN_PAGE = "login"
MIN_VALID, MAX_VALID = 300, 7 * 24 * 3600


class TokenResult(BaseModel):
    status: Literal["refreshed", "issued", "waiting_for_password"]
    user: str | None = None
    token_file: str
    page_url: str | None = Field(None, description="One-time local page where the person types the password.")
    password_file_deleted: bool | None = None
    message: str


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


def _seen(store: CredentialStore, name: str | None) -> FileSeen:
    f = store.facts(name)
    return FileSeen(path=str(f.path), present=f.present, mode=f.mode, owner_ok=f.owner_ok)


class Credentials:
    """The person's token, key and certificate: what there is, and getting new ones."""

    def __init__(
        self,
        settings: Settings,
        platform: Platform,
        store: CredentialStore,
        api: HpcApi,
        approvals: Approvals,
        pages: dict[str, PasswordPage],
        slurm_versions: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self.settings = settings
        self.slurm_versions = slurm_versions  # the entry nodes' releases known so far, without I/O
        self.platform = platform
        self.store = store
        self.api = api
        self.approvals = approvals
        self.pages = pages

    # -- what there is ---------------------------------------------------------------------------

    def status(self) -> CredentialStatus:
        store = self.store
        now = datetime.now(UTC)
        status = assess(
            folder=_seen(store, None),
            token=_seen(store, TOKEN),
            key=_seen(store, KEY),
            public_key_text=store.read_text(PUBLIC_KEY),
            cert_text=store.read_text(CERTIFICATE),
            stored_user=self.settings.user or store.user(),
            now=now,
        )
        records = parse_records(store.read_text(RECORD_FILE))
        status.exports = exported_copies(records, [copy_seen(Path(r.folder)) for r in records], now)
        for kind in (CERT_TASK, "update_user"):
            pending = self.approvals.get(kind)
            if pending is not None:
                state = "decided; call the tool again to see the outcome" if pending.task.done() else "waiting"
                status.pending_approvals.append(f"{kind}: {state} ({pending.waited_s} s)")
        journal = JobJournal(self.settings.workspace)  # local files only: no node is asked
        status.unreported_jobs = unseen_count(journal.records(), parse_seen(journal.read_seen()), now) or None
        status.slurm = self.slurm_versions()
        return status

    def known_user(self, given: str | None = None) -> str | None:
        if given:
            return check_username(given)
        return login_user(self.settings.user, self.store.user(), self.store.read_text(CERTIFICATE))

    def require_token(self) -> str:
        token = self.store.token()
        if token is None:
            raise HpcError("E_NO_TOKEN", "There is no API token.", "Call request_token first.")
        return token

    def require_user(self) -> str:
        user = self.known_user()
        if user is None:
            raise HpcError("E_NO_USER", "The HPC username is not known yet.", "Call request_token with username.")
        return user

    async def fresh_token(self) -> str:
        """Refresh the stored token (which also proves it is valid) and store the new one."""
        try:
            token = await self.api.refresh_token(self.require_token())
        except TokenRefused:
            raise TokenRefused(
                "The API token has expired or was refused.", "Call request_token for a new one."
            ) from None
        self.store.write_token(token)
        return token

    # -- the person's password and approvals -------------------------------------------------------

    async def password_via_page(
        self, person: Person, key: str, purpose: str, user: str, *, may_ask: bool = False
    ) -> str | Asked | None:
        """The password typed into a one-time local page; None while the person has not sent it yet.

        The page stays open between calls (pages[key]). The call that opens it waits for nothing, so the
        page's URL reaches the person at once in every host: on 2026-07-28, where the client elicits URLs and
        the tool may answer with input (`may_ask`), the answer asks the client to show the page and the call
        comes back with the person's answer; with an older protocol's URL elicitation the client shows it
        during the call; elsewhere the result carries page_url. The next call waits (at most --approval-wait)
        for the password.
        """
        page = self.pages.get(key)
        answer = person.url_answer(key)
        message = f"{purpose} Use this local page; the assistant never sees it."
        if page is None or page.expired:
            cfg = self.settings
            if cfg.page_port:  # one fixed port (a container's published one): one page at a time
                for other in self.pages.values():
                    other.close()
            page = PasswordPage(purpose, user, host=cfg.page_host, port=cfg.page_port, public_url=cfg.page_url)
            self.pages[key] = page
            await page.open()
            asked = person.ask_url(key, message, page.url) if may_ask else None
            if asked is not None:
                return Asked(asked)
            if not await person.offer_url(message, page.url):
                return None  # the result carries page_url; the next call waits for the password
        elif answer in ("decline", "cancel"):
            return None  # the person would not open it now: say where it is, wait for nothing
        password = await page.wait(self.settings.approval_wait)
        if password is not None:
            self.pages.pop(key, None)
        return password

    async def settle(self, person: Person, kind: str) -> tuple[Literal["waiting", "denied", "done"], str]:
        """Wait a bounded time for a two-factor task, reporting progress; say how it stands."""
        if await self.approvals.wait(kind, person.wait_bound(self.settings.approval_wait), _progress(person)) is None:
            return "waiting", ""
        try:
            self.approvals.take(kind)
        except (ApprovalDenied, ApprovalTimeout) as exc:
            return "denied", exc.message
        return "done", ""

    # -- request_token -----------------------------------------------------------------------------

    async def request_token(
        self, person: Person, username: str | None, password_file: str | None, force_new: bool
    ) -> TokenResult | Asked:
        password: str | None = None
        pw_path: Path | None = None
        if password_file is not None:
            password, pw_path = read_password_file(password_file, self.store.folder)
        try:
            result = await self._token_flow(person, self.known_user(username), password, force_new)
        finally:
            password = None
            deleted = delete_password_file(pw_path) if pw_path is not None else None
            if deleted is False:
                log.warning("could not delete the password file %s", pw_path)
        if isinstance(result, Asked):
            return result
        result.password_file_deleted = deleted
        if deleted is False:
            result.message += f" Could not delete {pw_path}: delete it by hand now."
        return result

    async def _token_flow(
        self, person: Person, user: str | None, password: str | None, force_new: bool
    ) -> TokenResult | Asked:
        store = self.store
        token = store.token()
        refused = False
        if token is not None and not force_new:
            try:
                new = await self.api.refresh_token(token)
            except TokenRefused:
                refused = True
            else:
                path = store.write_token(new)
                return TokenResult(
                    status="refreshed",
                    user=user,
                    token_file=str(path),
                    message="The token was refreshed; the old one is no longer valid.",
                )
        if user is None and LOGIN_PAGE in self.pages:
            user = self.pages[LOGIN_PAGE].user
        if user is None:
            raise HpcError("E_NO_USER", "A new token needs the HPC username.", "Call request_token with username.")
        if password is None:
            purpose = "Type your HPC password to get a new API token."
            typed = await self.password_via_page(person, LOGIN_PAGE, purpose, user, may_ask=True)
            if isinstance(typed, Asked):
                return typed
            if typed is None:
                page = self.pages[LOGIN_PAGE]
                why = " (the stored token was refused)" if refused else " (force_new)" if force_new and token else ""
                return TokenResult(
                    status="waiting_for_password",
                    user=user,
                    token_file=str(store.path(TOKEN)),
                    page_url=page.url,
                    message=f"A new token needs the password{why}. Ask the person to open {page.url} on this "
                    "computer and type it there (or to upload a file holding only the password and pass "
                    "password_file); then call request_token again. Never ask for the password in the chat.",
                )
            password = typed
        new = await self.api.new_token(user, password)
        path = store.write_token(new)
        store.write_user(user)
        return TokenResult(status="issued", user=user, token_file=str(path), message="A new token was stored.")

    # -- request_certificate -----------------------------------------------------------------------

    def _issued(self, status: Literal["issued", "already_valid"], message: str) -> CertificateResult:
        cert = parse_certificate(self.store.read_text(CERTIFICATE) or "")
        return CertificateResult(
            status=status,
            message=message,
            user=cert.principals[0] if cert.principals else None,
            principals=list(cert.principals),
            valid_after=cert.valid_after,
            valid_before=cert.valid_before,
            key_path=str(self.store.path(KEY)),
            certificate_path=str(self.store.path(CERTIFICATE)),
        )

    async def _sign_and_store(self, token: str, user: str, private_key: str, public_key: str, valid: int) -> None:
        cert = await self.api.sign_cert(token, user, public_key, valid)
        parsed = parse_certificate(cert)
        if user not in parsed.principals:
            raise HpcError("E_API_BAD_REPLY", "The signed certificate does not name the user.", "Try again.")
        self.store.write(KEY, private_key.rstrip("\n") + "\n", secret=True)
        self.store.write(PUBLIC_KEY, public_key.strip() + "\n", secret=False)
        self.store.write(CERTIFICATE, cert.strip() + "\n", secret=False)

    async def request_certificate(self, person: Person, valid_time: int, force: bool) -> CertificateResult:
        pending = self.approvals.get(CERT_TASK)
        if pending is None:
            status = self.status()
            left = status.certificate.seconds_left
            if not force and status.ready_for_ssh and covers(left, valid_time):
                return self._issued("already_valid", "The current certificate already covers that; nothing was asked.")
            user = self.require_user()
            token = await self.fresh_token()
            keys = await self.api.gen_key(token, user)
            pending = self.approvals.start(
                CERT_TASK, self._sign_and_store(token, user, keys.private_key, keys.public_key, valid_time)
            )

        state, reason = await self.settle(person, CERT_TASK)
        if state == "waiting":
            return CertificateResult(
                status="waiting_for_approval",
                waited_s=pending.waited_s,
                message="Ask the person to approve the login certificate in the 交我办 app or by the email link; "
                "then call request_certificate again (or credential_status) to pick up the result.",
            )
        if state == "denied":
            return CertificateResult(status="denied", message=f"{reason} Nothing was written.")
        return self._issued("issued", "The certificate was approved and stored; SSH uses it from the next command.")

    async def certificate_and_export(
        self, person: Person, valid_time: int, force: bool, export_to: str, confirm: bool
    ) -> CertificateResult:
        """A certificate that covers valid_time (the usual flow), then a copy in export_to for the person's own SSH.

        The folder is checked before anything is asked: a refused folder or a key there that would be replaced
        without confirm costs the person no approval.
        """
        to = export.target(self.settings, self.store, export_to, await person.roots())
        status = self.status()
        renew = force or self.approvals.get(CERT_TASK) is not None
        renew = renew or not (status.ready_for_ssh and covers(status.certificate.seconds_left, valid_time))
        replaced = replacements(to.found, None if renew else status.key_fingerprint)
        if consent.gate("replace_key", confirm, declined=False, needed=bool(replaced)) == "preview":
            return CertificateResult(status="confirm_needed", message=confirm_question(str(to.folder), replaced, renew))
        result = await self.request_certificate(person, valid_time, force)
        if result.status not in ("issued", "already_valid"):
            result.message += " Nothing was exported yet; call again with the same export_to."
            return result
        if replacements(to.found, self.status().key_fingerprint) and not confirm:
            raise HpcError(
                "E_EXPORT_EXISTS",
                f"The key changed meanwhile and would replace the one in {to.folder}; nothing was exported.",
                "Call again: it asks before replacing it.",
            )
        result.export, reminder = export.write(self.settings, self.platform, self.store, to, self.require_user())
        result.message += " " + reminder
        return result


def _progress(person: Person) -> ApprovalProgress:
    async def progress(done: float, message: str) -> None:
        await person.progress(done, None, message)

    return progress
