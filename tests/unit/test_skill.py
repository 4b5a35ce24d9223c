"""SKILL.md (AgentSkills format, metadata.openclaw): every tool and run_slurm command it names exists, and
every one is named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from mcp.client import Client

from sjtu_hpc_mcp.app import build_server
from sjtu_hpc_mcp.settings import Settings

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
SKILL = (ROOT / "SKILL.md").read_text()


def frontmatter(text: str) -> dict[str, str]:
    head = text.split("---\n", 2)[1]
    return dict(line.split(": ", 1) for line in head.strip().splitlines())


def first_column(text: str, heading: str) -> set[str]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


def test_frontmatter_is_agentskills_with_openclaw_metadata() -> None:
    fm = frontmatter(SKILL)
    assert re.fullmatch(r"[a-z0-9-]{1,64}", fm["name"])
    assert fm["description"].startswith("Use when") and len(fm["description"]) <= 1024
    meta = json.loads(fm["metadata"])["openclaw"]
    assert meta["requires"]["bins"] == ["sjtu-hpc-mcp"]
    assert any(i["kind"] == "uv" and "sjtu-hpc-mcp" in i["bins"] and i["package"] for i in meta["install"])


async def test_every_tool_and_command_is_named_and_exists(tmp_path: Path) -> None:
    async with Client(build_server(Settings(workspace=tmp_path))) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert first_column(SKILL, "## Tools") == set(tools)
    commands = set(tools["run_slurm"].input_schema["properties"]["command"]["enum"])
    assert first_column(SKILL, "## `run_slurm` commands") == commands
    named = set(re.findall(r"`([a-z]+_[a-z_]+)`", SKILL))
    unknown = {n for n in named if n.split("_")[0] in {"request", "run", "query", "get", "update", "manage"}}
    assert unknown <= set(tools), unknown - set(tools)


def test_it_says_what_to_tell_the_person_and_how_often_to_poll() -> None:
    assert "交我办" in SKILL and "waiting_for_approval" in SKILL and "known_hosts" in SKILL
    assert re.search(r"once a minute|wait_s", SKILL)
