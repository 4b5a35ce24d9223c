"""The person's quota beside a transfer or a storage act: read in parallel, bounded, never in the way."""

from __future__ import annotations

import asyncio

from ..core.account import QuotaLine, quota_lines
from ..core.errors import HpcError
from ..shell.hpc_api import HpcApi

QUOTA_S = 3.0  # the API is slower than the node; past this the act goes on with the pools' free space only


async def person_quota(api: HpcApi, rel: str) -> tuple[list[QuotaLine], list[str]]:
    """The person's user and account quota lines, when the API answers in time (it needs no token)."""
    account, user = rel.split("/")[1:3]
    try:
        both = asyncio.gather(api.quota("user", user), api.quota("account", account))
        answers = await asyncio.wait_for(both, QUOTA_S)
    except (HpcError, TimeoutError):
        return [], ["The quota could not be read from the API; only the pools' free space was checked."]
    pairs = (("user", user), ("account", account))
    return [q for (k, w), a in zip(pairs, answers, strict=True) for q in quota_lines(k, w, a)], []
