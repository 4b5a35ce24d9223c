"""Resources (the platform tables), prompts with completions, and the logging capability, over real clients."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.types import PromptReference

from conftest import stdio_server
from sjtu_hpc_mcp.app import build_server
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.settings import Settings

pytestmark = pytest.mark.anyio
P = load_platform()


@pytest.mark.parametrize("era", [{}, {"mode": "legacy"}], ids=["2026-07-28", "2025-11-25"])
async def test_resources_are_the_platform_tables(tmp_path: Path, era: dict[str, Any]) -> None:
    async with Client(build_server(Settings(workspace=tmp_path)), **era) as c:
        listed = {str(r.uri): r for r in (await c.list_resources()).resources}
        assert {"sjtu-hpc://platform/partitions", "sjtu-hpc://platform/storage"} <= set(listed)
        parts = json.loads((await c.read_resource("sjtu-hpc://platform/partitions")).contents[0].text)  # type: ignore[union-attr]
        pools = json.loads((await c.read_resource("sjtu-hpc://platform/storage")).contents[0].text)  # type: ignore[union-attr]
    assert parts["partitions"]["a100"] == {"node_group": "sy", "max_minutes": 10080}
    assert parts["partitions"]["debug"]["max_minutes"] == 20
    assert parts["node_groups"]["kp"]["job_entry"] == "armlogin.hpc.sjtu.edu.cn"
    assert set(parts["partitions"]) == set(P.partitions)
    assert pools["pools"]["/archive"]["writable_on"] == ["data.hpc.sjtu.edu.cn", "sydata.hpc.sjtu.edu.cn"]
    assert pools["pools"]["/union"]["union_of"] == ["/archive", "/vault"]
    assert any("cold" in rule for rule in pools["rules"])


async def test_prompts_and_their_completions(tmp_path: Path) -> None:
    async with stdio_server(["--workspace", str(tmp_path)]) as c:
        prompts = {p.name: p for p in (await c.list_prompts()).prompts}
        assert set(prompts) == {"submit_job", "archive_results"}
        assert [a.name for a in prompts["submit_job"].arguments or []] == ["partition", "node_group", "goal"]
        r = await c.get_prompt("submit_job", {"partition": "a100", "goal": "train a model"})
        text = r.messages[0].content.text  # type: ignore[union-attr]
        assert "sylogin.hpc.sjtu.edu.cn" in text and "test_only" in text and "train a model" in text
        r = await c.get_prompt("submit_job", {"node_group": "kp"})
        text = r.messages[0].content.text  # type: ignore[union-attr]
        assert "armlogin.hpc.sjtu.edu.cn" in text and "sinfo node_group=kp" in text
        r = await c.get_prompt("submit_job", {})
        assert "Ask me which cluster" in r.messages[0].content.text  # type: ignore[union-attr]
        r = await c.get_prompt("archive_results", {"path": "/lustre/home/acct-x/u/run1", "pool": "/vault"})
        text = r.messages[0].content.text  # type: ignore[union-attr]
        assert "transfer_data" in text and "/vault/home/acct-x/u/run1" in text and "verify=true" in text

        async def complete(prompt: str, arg: str, value: str, **known: str) -> list[str]:
            ref = PromptReference(type="ref/prompt", name=prompt)
            res = await c.complete(ref, {"name": arg, "value": value}, known or None)
            return res.completion.values

        assert await complete("submit_job", "partition", "a") == ["arm128c256g", "a100", "a800"]
        assert set(await complete("submit_job", "partition", "", node_group="kp")) == set(P.group("kp").partitions)
        assert await complete("archive_results", "pool", "/") == ["/archive", "/vault"]
        assert await complete("submit_job", "node_group", "") == ["pi", "kp", "sy"]
        assert await complete("submit_job", "goal", "x") == []


async def test_the_client_sets_the_log_level_and_sees_notable_events(tmp_path: Path) -> None:
    seen: list[Any] = []

    async def on_log(params: Any) -> None:
        seen.append(params)

    args = ["--workspace", str(tmp_path), "--approval-wait", "1"]
    async with stdio_server(args, logging_callback=on_log, mode="legacy") as c:
        caps = c.initialize_result.capabilities if hasattr(c, "initialize_result") else None
        if caps is not None:
            assert caps.logging is not None and caps.completions is not None
        with warnings.catch_warnings():  # the capability is gone from 2026-07-28; legacy clients use it
            warnings.simplefilter("ignore")
            await c.set_logging_level("info")
        # A password page opening is a notable event (logged at INFO).
        r = await c.call_tool("request_token", {"username": "hpcrobot"})
        assert not r.is_error
        for _ in range(50):  # the call returns as the page opens; its log event is sent alongside
            if seen:
                break
            await anyio.sleep(0.05)
    assert any(p.level in ("info", "warning") and "sjtu_hpc_mcp" in (p.logger or "") for p in seen), seen


@pytest.mark.parametrize("opt_in", [True, False])
async def test_a_2026_request_that_opts_in_sees_the_events(tmp_path: Path, opt_in: bool) -> None:
    seen: list[Any] = []

    async def on_log(params: Any) -> None:
        seen.append(params)

    meta = {"io.modelcontextprotocol/logLevel": "info"} if opt_in else None
    server = build_server(Settings(workspace=tmp_path, approval_wait=1))
    async with Client(server, logging_callback=on_log) as c:  # 2026-07-28: no logging/setLevel
        r = await c.call_tool("request_token", {"username": "hpcrobot"}, meta=meta)  # type: ignore[arg-type]
        assert not r.is_error
    if opt_in:
        assert any(p.level == "info" and "password page" in str(p.data) for p in seen), seen
    else:
        assert seen == []
