"""The account as use cases: the person's details, the storage quota, and changing the account (after the
person's consent, with two-factor approval, the new password from a file or a local page)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..core import consent
from ..core.account import UserInfo, quota_lines, quota_summary, quota_table, user_info
from ..core.errors import HpcError
from ..core.results import Table
from ..core.slurm.notify import bound_email
from ..shell.credentials import delete_password_file, read_password_file
from .credentials import Credentials
from .talk import Person

UPDATE_TASK = "update_user"
NEW_PASSWORD_PAGE = "new_password"  # noqa: S105 (a page name)
NEW_PASSWORD_SHOWN = "(new password, typed by the person)"  # noqa: S105 (a description)
Group = Literal["pi", "kp", "sy"]
QuotaType = Literal["account", "user", "both"]


class QuotaResult(BaseModel):
    summary: str
    quota: Table
    raw: list[dict[str, Any]] | None = Field(None, description="The API's answers as received (with raw=true).")


class UpdateResult(BaseModel):
    status: Literal["preview", "updated", "waiting_for_password", "waiting_for_approval", "denied", "declined"]
    changes: dict[str, str] = {}
    message: str
    waited_s: int | None = None
    page_url: str | None = None


class Account:
    """The person's account through the HPC API."""

    def __init__(self, credentials: Credentials) -> None:
        self.creds = credentials
        self.api = credentials.api
        self.platform = credentials.platform

    async def user(self, group: Group | None = None) -> UserInfo:
        creds = self.creds
        user = creds.require_user()
        return user_info(self.platform, user, await self.api.get_user(creds.require_token(), user), group)

    async def bound_email(self) -> str | None:
        """The email bound to the account, from GET /user as received: where sbatch's notify mails."""
        creds = self.creds
        user = creds.require_user()
        return bound_email(await self.api.get_user(creds.require_token(), user))

    async def quota(self, quota_type: QuotaType, name: str | None, raw: bool) -> QuotaResult:
        if name is not None and name.startswith("acct-"):  # the platform's account names; no user name has it
            if quota_type == "user":
                raise HpcError(
                    "E_ARG", f"{name} is an account name, not a user name.", "Use quota_type account (or both)."
                )
            quota_type = "account"
        if name is not None and quota_type == "both":
            raise HpcError(
                "E_ARG", "A user name needs quota_type user.", f"Call query_quota with quota_type user and name {name}."
            )
        wanted: list[tuple[Literal["account", "user"], str]] = []
        if quota_type in ("user", "both"):
            user = name if quota_type == "user" and name else self.creds.known_user()
            if user is None:
                raise HpcError("E_NO_USER", "The HPC username is not known yet.", "Give name, or call request_token.")
            wanted.append(("user", user))
        if quota_type in ("account", "both"):
            account = name if quota_type == "account" and name else (await self.user()).account
            if account is None:
                raise HpcError("E_NO_ACCOUNT", "The account could not be derived from the home.", "Give name.")
            wanted.append(("account", account))
        answers = await asyncio.gather(*(self.api.quota(t, n) for t, n in wanted))
        lines = [line for (t, n), a in zip(wanted, answers, strict=True) for line in quota_lines(t, n, a)]
        return QuotaResult(summary=quota_summary(lines), quota=quota_table(lines), raw=list(answers) if raw else None)

    async def update(
        self,
        person: Person,
        changes: dict[str, str],
        password_file: str | None,
        password_page: bool,
        *,
        confirm: bool,
        declined: bool,
    ) -> UpdateResult:
        creds = self.creds
        approvals = creds.approvals
        pending = approvals.get(UPDATE_TASK)
        if pending is None:
            shown = dict(changes)
            if password_file or password_page:
                shown["password"] = NEW_PASSWORD_SHOWN
            if not shown:
                raise HpcError(
                    "E_ARG", "Nothing to change.", "Give email, jaccount, contact, password_file or password_page."
                )
            if password_file and password_page:
                raise HpcError(
                    "E_ARG", "Two sources for the new password.", "Give password_file or password_page, not both."
                )
            step = consent.gate("update_user", confirm, declined)
            if step == "preview" and password_file:
                read_password_file(password_file, creds.store.folder)  # check it now; keep it for the real call
            if step != "go":
                return UpdateResult(status=step, changes=shown, message=consent.say("update_user", step))
            user = creds.require_user()
            if password_file:
                password, path = read_password_file(password_file, creds.store.folder)
                delete_password_file(path)
                changes["password"] = password
            elif password_page:
                typed = await creds.password_via_page(
                    person, NEW_PASSWORD_PAGE, "Type the NEW password for your HPC account.", user
                )
                if not isinstance(typed, str):  # update_user asks for consent: no page input in its answer
                    url = creds.pages[NEW_PASSWORD_PAGE].url
                    return UpdateResult(
                        status="waiting_for_password",
                        changes=shown,
                        page_url=url,
                        message=f"Ask the person to open {url} on this computer and type the new password; "
                        "then call update_user again with the same arguments.",
                    )
                changes["password"] = typed
            token = await creds.fresh_token()
            pending = approvals.start(UPDATE_TASK, self.api.update_user(token, user, changes), detail=", ".join(shown))

        shown_keys = {k: "changed" for k in pending.detail.split(", ") if k}
        state, reason = await creds.settle(person, UPDATE_TASK)
        if state == "waiting":
            return UpdateResult(
                status="waiting_for_approval",
                changes=shown_keys,
                waited_s=pending.waited_s,
                message="Ask the person to approve the change in 交我办 or by the email link; then "
                "call update_user again to pick up the result.",
            )
        if state == "denied":
            return UpdateResult(status="denied", changes=shown_keys, message=f"{reason} Nothing changed.")
        return UpdateResult(status="updated", changes=shown_keys, message="The account was updated.")
