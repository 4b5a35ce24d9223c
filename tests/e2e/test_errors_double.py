"""Errors a model can act on, against the HPC API double: a gateway's HTML page, an acct- quota name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from conftest import stdio_server
from lab.api_double import DoubleState, run_double

pytestmark = pytest.mark.anyio


@pytest.fixture
def double() -> Iterator[tuple[str, DoubleState]]:
    with run_double(asyncssh.generate_private_key("ssh-ed25519")) as pair:
        yield pair


async def test_a_bad_gateway_page_is_unavailable_not_a_refusal(
    double: tuple[str, DoubleState], workspace: Path
) -> None:
    url, state = double
    state.configure(
        fail_next=[{"path": "/quota", "status": 502, "body": "<html><body>502 Bad Gateway</body></html>"}]
    )
    async with stdio_server(["--workspace", str(workspace), "--api-url", url]) as c:
        r = await c.call_tool("query_quota", {"quota_type": "user", "name": "hpcrobot"})
    text = r.content[0].text  # type: ignore[union-attr]
    assert r.is_error and text.startswith("E_API_UNAVAILABLE: The HPC API is unavailable (HTTP 502"), text
    assert "<html" not in text and "correct the request" not in text and "try again later" in text.lower()


async def test_an_acct_name_implies_the_account_quota(double: tuple[str, DoubleState], workspace: Path) -> None:
    url, _ = double
    async with stdio_server(["--workspace", str(workspace), "--api-url", url]) as c:
        r = await c.call_tool("query_quota", {"name": "acct-hpc"})
    assert not r.is_error, r.content
    assert r.structured_content is not None
    table = r.structured_content["quota"]
    lines = [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
    assert lines and {q["quota"] for q in lines} == {"account acct-hpc"}
    assert re.search(r"account acct-hpc", r.structured_content["summary"])
