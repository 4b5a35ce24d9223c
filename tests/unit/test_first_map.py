"""The server's instructions: in hosts that defer tools, all the model knows before it loads one (issue 14)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mcp.client import Client

from conftest import TOOL_NAMES
from sjtu_hpc_mcp.app import build_server
from sjtu_hpc_mcp.core.guide import FIRST_MAP_BUDGET, first_map
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.settings import Settings

TOOLS = sorted(TOOL_NAMES)


@pytest.mark.parametrize("read_only", [False, True])
def test_the_map_fits_and_names_every_tool_group_and_rule(read_only: bool) -> None:
    text = first_map(load_platform(), read_only)
    assert len(text.encode()) <= FIRST_MAP_BUDGET
    for needle in (*TOOLS, "pi:", "kp:", "sy:", "partition", "node_group", "page_url", "password_file", "50 s"):
        assert needle in text, needle
    assert ("confirm=true" in text) is not read_only
    assert ("read-only" in text) is read_only


def test_the_server_sends_it_as_instructions(tmp_path: Path) -> None:
    async def instructions() -> str | None:
        async with Client(build_server(Settings(workspace=tmp_path))) as c:
            return c.instructions

    assert asyncio.run(instructions()) == first_map(load_platform())
