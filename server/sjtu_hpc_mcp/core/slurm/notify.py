"""Mail when a job ends: sbatch's `--mail-type` and `--mail-user`, to the person's own bound email only.

The platform runs slurm-mail, which mails the address Slurm records for the job. The address is never
free-form: it is the email bound to the account (`GET /user`, core.account), so a model cannot send
a person's job notices elsewhere. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, get_args

from sjtu_hpc_mcp.core.errors import HpcError

Notify = Literal["end", "fail", "both"]
NOTIFY_VALUES: tuple[str, ...] = get_args(Notify)
MAIL_TYPES: Mapping[str, str] = {"end": "END", "fail": "FAIL", "both": "END,FAIL"}

# A plain address: what any mail system delivers and what cannot be read as anything but an address
# (no quotes, spaces, commas or a leading `-`). A masked address such as h***@sjtu.edu.cn fails it.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = rf"[A-Za-z0-9_+](?:[A-Za-z0-9._+-]{{0,62}}[A-Za-z0-9_+-])?@{_LABEL}(?:\.{_LABEL})+"
_EMAIL = re.compile(EMAIL, re.ASCII)
_MAX_EMAIL = 254


def bound_email(raw_user: Mapping[str, Any]) -> str | None:
    """The email bound to the account, from the API's user record as received (None: none bound)."""
    value = raw_user.get("email")
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    return value.strip() if isinstance(value, str) and value.strip() else None


def check_email(value: object) -> str:
    """An address fit for --mail-user, or E_NO_EMAIL."""
    if not isinstance(value, str) or len(value) > _MAX_EMAIL or not _EMAIL.fullmatch(value):
        raise HpcError(
            "E_NO_EMAIL",
            "The email bound to the account is not a plain address Slurm can mail"
            + (f" ({value[:80]!r})." if isinstance(value, str) else "."),
            "Bind a correct email with update_user (two-factor approval), or submit without notify.",
        )
    return value


def check_mail_type(value: object) -> str:
    if value not in MAIL_TYPES.values():
        raise HpcError("E_ARG", f"Unknown mail type {value!r}.", "Use notify end, fail or both.")
    assert isinstance(value, str)
    return value


def mail_options(notify: str, email: str | None) -> dict[str, str]:
    """The SbatchOptions fields for `notify` (end, fail or both): mail_type and mail_user.

    Refused with E_NO_EMAIL when no email is bound or the bound one is not a plain address.
    """
    if notify not in MAIL_TYPES:
        raise HpcError(
            "E_ARG", f"notify must be one of {', '.join(NOTIFY_VALUES)}, not {notify!r}.", "Use end, fail or both."
        )
    if email is None:
        raise HpcError(
            "E_NO_EMAIL",
            "No email is bound to the account, so Slurm cannot mail the person when the job ends.",
            "Ask the person to bind an email (update_user, with two-factor approval), or submit without notify.",
        )
    return {"mail_type": MAIL_TYPES[notify], "mail_user": check_email(email)}


def mail_argv(notify: str, email: str | None) -> list[str]:
    """`--mail-type=…` and `--mail-user=…` for sbatch."""
    o = mail_options(notify, email)
    return [f"--mail-type={o['mail_type']}", f"--mail-user={o['mail_user']}"]
