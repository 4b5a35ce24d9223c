"""Account tools: get_user, query_quota, update_user."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from .._mcp import (
    CallToolResult,
    Consent,
    Context,
    MCPServer,
    Resolve,
    consent_declined,
    destructive,
    elicit_consent,
    lean,
    read_only,
    tool_errors,
)
from ..core import consent
from ..core.account import UserInfo, quota_lines, quota_summary, quota_table, user_info
from ..core.errors import HpcError
from ..core.results import Table
from ..services import Services, services
from ..shell.credentials import delete_password_file, read_password_file
from .credentials import fresh_token, known_user, password_via_page, require_token, require_user, settle

UPDATE_TASK = "update_user"
NEW_PASSWORD_PAGE = "new_password"  # noqa: S105 (a page name)
Group = Literal["pi", "kp", "sy"]


async def fetch_user(svc: Services, group: Group | None = None) -> UserInfo:
    user = require_user(svc)
    return user_info(svc.platform, user, await svc.api.get_user(require_token(svc), user), group)


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


async def _consent_for_update(
    confirm: bool,
    ctx: Context[Any, Any],
    email: str | None = None,
    jaccount: str | None = None,
    contact: str | None = None,
    password_file: str | None = None,
    password_page: bool = False,
) -> Any:
    if not confirm:
        return None
    fields = (("email", email), ("jAccount", jaccount), ("contact method", contact), ("password", password_file))
    what = ", ".join(k for k, v in fields if v) or ("password" if password_page else "settings")
    return elicit_consent(ctx, consent.question("update_user", what=what))


def register(mcp: MCPServer[Services]) -> None:
    @mcp.tool(annotations=read_only("Account details"))
    @tool_errors
    async def get_user(
        ctx: Context[Any, Any],
        node_group: Annotated[Group | None, Field(description="Resolve the home for this node group.")] = None,
    ) -> Annotated[CallToolResult, UserInfo]:
        """The person's HPC account: uid/gid, home (%H resolved), account name, bound email/jAccount, contact."""
        return lean(await fetch_user(services(ctx), node_group))

    @mcp.tool(annotations=read_only("Storage quota"))
    @tool_errors
    async def query_quota(
        ctx: Context[Any, Any],
        quota_type: Literal["account", "user", "both"] = "both",
        name: Annotated[
            str | None,
            Field(
                pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$",
                description="Account (acct-…, implies quota_type account) or user name; default: the person's own.",
            ),
        ] = None,
        raw: Annotated[bool, Field(description="Also return the API's answers as received.")] = False,
    ) -> Annotated[CallToolResult, QuotaResult]:
        """Storage quota of the person's account and/or user, in units a person reads at a glance."""
        svc = services(ctx)
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
            user = name if quota_type == "user" and name else known_user(svc)
            if user is None:
                raise HpcError("E_NO_USER", "The HPC username is not known yet.", "Give name, or call request_token.")
            wanted.append(("user", user))
        if quota_type in ("account", "both"):
            account = name if quota_type == "account" and name else (await fetch_user(svc)).account
            if account is None:
                raise HpcError("E_NO_ACCOUNT", "The account could not be derived from the home.", "Give name.")
            wanted.append(("account", account))
        answers = await asyncio.gather(*(svc.api.quota(t, n) for t, n in wanted))
        lines = [line for (t, n), a in zip(wanted, answers, strict=True) for line in quota_lines(t, n, a)]
        result = QuotaResult(
            summary=quota_summary(lines), quota=quota_table(lines), raw=list(answers) if raw else None
        )
        return lean(result)

    @mcp.tool(annotations=destructive("Update the account"))
    @tool_errors
    async def update_user(
        ctx: Context[Any, Any],
        email: Annotated[str | None, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] = None,
        jaccount: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
        contact: Annotated[
            Literal["jiaowoban", "email"] | None, Field(description="Preferred two-factor channel.")
        ] = None,
        password_file: Annotated[
            str | None,
            Field(description="Absolute path of an uploaded file holding only the new password; deleted after use."),
        ] = None,
        password_page: Annotated[
            bool, Field(description="The person types the new password on a one-time local page instead.")
        ] = False,
        confirm: Annotated[bool, Field(description="true only after the person agreed to the change.")] = False,
        approval: Annotated[Consent, Resolve(_consent_for_update)] = None,
    ) -> Annotated[CallToolResult, UpdateResult]:
        """Change the password, email, jAccount or preferred contact; needs confirm=true and two-factor approval.

        Without confirm it only shows what would change.
        """
        changes = {k: v for k, v in (("email", email), ("jAccount", jaccount), ("contact", contact)) if v}
        return lean(await _update(services(ctx), ctx, changes, password_file, password_page, confirm, approval))


NEW_PASSWORD_SHOWN = "(new password, typed by the person)"  # noqa: S105 (a description)


async def _update(
    svc: Services,
    ctx: Context[Any, Any],
    changes: dict[str, str],
    password_file: str | None,
    password_page: bool,
    confirm: bool,
    approval: Consent,
) -> UpdateResult:
    pending = svc.approvals.get(UPDATE_TASK)
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
        step = consent.gate("update_user", confirm, consent_declined(approval))
        if step == "preview" and password_file:
            read_password_file(password_file, svc.store.folder)  # check it now; keep it for the real call
        if step != "go":
            return UpdateResult(status=step, changes=shown, message=consent.say("update_user", step))
        user = require_user(svc)
        if password_file:
            password, path = read_password_file(password_file, svc.store.folder)
            delete_password_file(path)
            changes["password"] = password
        elif password_page:
            typed = await password_via_page(
                svc, ctx, "new_password", "Type the NEW password for your HPC account.", user
            )
            if not isinstance(typed, str):  # update_user asks for consent: no page input in its answer
                url = svc.pages[NEW_PASSWORD_PAGE].url
                return UpdateResult(
                    status="waiting_for_password",
                    changes=shown,
                    page_url=url,
                    message=f"Ask the person to open {url} on this computer and type the new password; "
                    "then call update_user again with the same arguments.",
                )
            changes["password"] = typed
        token = await fresh_token(svc)
        pending = svc.approvals.start(UPDATE_TASK, svc.api.update_user(token, user, changes), detail=", ".join(shown))

    shown_keys = {k: "changed" for k in pending.detail.split(", ") if k}
    state, reason = await settle(svc, ctx, UPDATE_TASK)
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
