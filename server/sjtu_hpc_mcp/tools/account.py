"""Account tools: get_user, query_quota, update_user (the use cases: ops/account.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .._mcp import (
    CallPerson,
    CallToolResult,
    Consent,
    Context,
    Resolve,
    consent_declined,
    elicit_consent,
    lean,
    tool_errors,
)
from ..core import consent
from ..core.account import UserInfo
from ..ops.account import Group, QuotaResult, QuotaType, UpdateResult
from ..services import services


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


@tool_errors
async def get_user(
    ctx: Context[Any, Any],
    node_group: Annotated[Group | None, Field(description="Resolve the home for this node group.")] = None,
) -> Annotated[CallToolResult, UserInfo]:
    """The person's HPC account: uid/gid, home (%H resolved), account name, bound email/jAccount, contact."""
    return lean(await services(ctx).account.user(node_group))


@tool_errors
async def query_quota(
    ctx: Context[Any, Any],
    quota_type: QuotaType = "both",
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
    return lean(await services(ctx).account.quota(quota_type, name, raw))


@tool_errors
async def update_user(
    ctx: Context[Any, Any],
    email: Annotated[str | None, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")] = None,
    jaccount: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
    contact: Annotated[Literal["jiaowoban", "email"] | None, Field(description="Preferred two-factor channel.")] = None,
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
    result = await services(ctx).account.update(
        CallPerson(ctx), changes, password_file, password_page, confirm=confirm, declined=consent_declined(approval)
    )
    return lean(result)
