"""manage_storage read and stat through a real stdio client against the lab (issue 17, item 1).

A 10 MB log's tail comes back bounded (≤ 64 KiB) and fast; a symlink out of the person's folder, another
person's file and a binary file are refused; a pattern that looks like a flag is searched for, not obeyed;
continuation by offset picks up where a call stopped; cold storage is read on a data node, hot storage on
the group's login node; control characters come back escaped. Read-only servers offer both.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from mcp.client import Client

from conftest import install_credentials, load_lab, make_user_cert, stdio_server
from e2e.lab_helpers import DATA, LOGIN, SYDATA, call, error, node_shell, server_args, text_of

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
TAG = "rd" + uuid.uuid4().hex[:8]
KIB64 = 64 * 1024
LOG_LINES = 450_000  # "step 00000001 loss 0.5\n": 23 bytes a line, 10.35 MB


@dataclass
class Env:
    client: Client
    lab: dict[str, Any]
    rel: str
    ws: Path


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def env(anyio_backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    lab = load_lab()
    ws = tmp_path_factory.mktemp("read") / "workspace"
    ws.mkdir()
    install_credentials(ws, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])), token=None)
    rel = lab["home"].split("/", 2)[2]
    other = f"/lustre/home/{lab['other_account']}/{lab['other_user']}"
    hot, cold, sy = f"/lustre/{rel}/{TAG}", f"/archive/{rel}/{TAG}", f"/dssg/{rel}/{TAG}"
    layout = (
        f"mkdir -p {hot}/dir {cold} && cd {hot} && "
        f"seq -f 'step %08.0f loss 0.5' 1 {LOG_LINES} > log.txt && "
        'awk \'BEGIN { for (i = 1; i <= 5000; i++) { s = sprintf("%05d ", i); '
        'while (length(s) < 200) s = s "w"; print s } }\' > wide.txt && '
        "printf 'a\\n-rf x\\nNaN here\\n--help me\\nnan low\\n' > small.txt && "
        "printf 'plain\\n\\033[31mred\\033[0m\\tTab\\r\\n\\007bell \\342\\200\\250 sep\\n' > ctl.txt && "
        "printf 'BIN\\000\\001\\002' > data.bin && "
        f"ln -s {other}/secret.txt other && ln -s /etc/hostname etc && ln -s small.txt inside && "
        f"printf 'cold line 1\\ncold line 2\\n' > {cold}/cold.txt"
    )
    async with node_shell(lab, DATA) as sh, node_shell(lab, SYDATA) as sysh:
        await sh(layout)
        await sysh(f"mkdir -p {sy} && printf 'sy 1\\nsy 2\\n' > {sy}/sy.txt")
        try:
            async with stdio_server(server_args(lab, ws)) as client:
                yield Env(client, lab, rel, ws)
        finally:
            await sh(f"rm -rf -- {hot} {cold}", check=False)
            await sysh(f"rm -rf -- {sy}", check=False)


async def read(e: Env, path: str, **args: Any) -> dict[str, Any]:
    return await call(e.client, "manage_storage", action="read", path=path, **args)


def figure(line: str) -> None:
    print(f"\n{line}")
    target = os.environ.get("SJTU_HPC_FIGURES")
    if target:
        with open(target, "a") as fh:
            fh.write(line + "\n")


async def test_the_tail_of_a_10mb_log_is_bounded_and_fast(env: Env) -> None:
    await read(env, f"lustre:{TAG}/small.txt")  # the connection to the login node is up before timing
    started = time.monotonic()
    r = await read(env, f"lustre:{TAG}/log.txt")
    seconds = time.monotonic() - started
    got = r["read"]
    wire = len(json.dumps(r, ensure_ascii=False).encode())
    assert r["node"] == LOGIN["pi"]
    assert got["size"] > 10_000_000 and got["mode"] == "tail" and got["truncated"] is True
    rows = got["lines"]["rows"]
    assert len(rows) == 100 and rows[-1] == [LOG_LINES, f"step {LOG_LINES:08d} loss 0.5"]
    assert [n for n, _ in rows] == list(range(LOG_LINES - 99, LOG_LINES + 1))
    assert got["shown_bytes"] <= KIB64 and wire <= KIB64
    assert got["next_offset"] == got["size"] - 100 * 23
    assert f"offset={got['next_offset']}" in r["summary"]
    assert seconds < 5, seconds
    # As much as one call may give: 64 KiB of 200-byte lines, and the 1000 lines of the log.
    t2 = time.monotonic()
    wide = (await read(env, f"lustre:{TAG}/wide.txt", limit=1000, max_bytes=KIB64))["read"]
    most = await read(env, f"lustre:{TAG}/log.txt", limit=1000, max_bytes=KIB64)
    seconds2 = time.monotonic() - t2
    assert wide["shown_bytes"] <= KIB64 and 300 <= len(wide["lines"]["rows"]) <= KIB64 // 200
    assert len(json.dumps(wide, ensure_ascii=False).encode()) <= KIB64 + 4096  # + the row numbers
    assert len(most["read"]["lines"]["rows"]) == 1000 and most["read"]["shown_bytes"] == 1000 * 22
    figure(
        f"read tail 10MB: {got['size']} B file, {got['shown_bytes']} B shown, {wire} B result, {seconds:.3f} s; "
        f"64 KiB of wide lines + 1000 lines: {seconds2:.3f} s"
    )


async def test_continuation_by_offset(env: Env) -> None:
    path = f"lustre:{TAG}/log.txt"
    last = (await read(env, path, limit=5))["read"]
    before = (await read(env, path, limit=5, offset=last["next_offset"]))["read"]
    assert [n for n, _ in before["lines"]["rows"]] == list(range(LOG_LINES - 9, LOG_LINES - 4))
    assert before["next_offset"] == last["next_offset"] - 5 * 23
    head = (await read(env, path, mode="head", limit=3))["read"]
    assert head["lines"]["rows"] == [[i, f"step {i:08d} loss 0.5"] for i in (1, 2, 3)]
    assert head["next_offset"] == 3 * 23
    on = (await read(env, path, mode="head", limit=3, offset=head["next_offset"]))["read"]
    assert [n for n, _ in on["lines"]["rows"]] == [4, 5, 6]
    hits = (await read(env, path, mode="match", pattern="step 0000099", limit=4))["read"]
    assert [n for n, _ in hits["lines"]["rows"]] == [990, 991, 992, 993] and hits["truncated"] is True
    more = (await read(env, path, mode="match", pattern="step 0000099", limit=4, offset=hits["next_offset"]))["read"]
    assert [n for n, _ in more["lines"]["rows"]] == [994, 995, 996, 997]
    end = (await read(env, f"lustre:{TAG}/small.txt", mode="head"))["read"]
    assert end["truncated"] is False and "next_offset" not in end


async def test_a_flag_like_pattern_is_searched_for_not_obeyed(env: Env) -> None:
    small = f"lustre:{TAG}/small.txt"
    for pattern, want in (("-rf", [[2, "-rf x"]]), ("--help", [[4, "--help me"]]), ("-e", [])):
        got = (await read(env, small, mode="match", pattern=pattern))["read"]
        assert got["lines"].get("rows", []) == want, pattern
    nan = (await read(env, small, mode="match", pattern="nan", ignore_case=True))["read"]
    assert nan["lines"]["rows"] == [[3, "NaN here"], [5, "nan low"]]
    regex = await read(env, small, mode="match", pattern=".*")
    assert regex["summary"].startswith("No lines holding '.*' in") and regex["read"]["lines"] == {"total": 0}
    assert (await call(env.client, "manage_storage", action="list", path=f"lustre:{TAG}"))["entries"]["total"] == 9
    for args, code in (
        ({"mode": "match"}, "E_ARG"),  # no pattern
        ({"mode": "match", "pattern": "a\nb"}, "E_ARG"),
        ({"mode": "tail", "pattern": "x"}, "E_ARG"),
        ({"max_bytes": 10}, "E_ARG"),
        ({"offset": -1}, "E_ARG"),
        ({"mode": "-rf"}, "E_ARG"),
    ):
        text = await error(env.client, "manage_storage", action="read", path=small, **args)
        assert text.startswith(code), (args, text)
    text = await error(env.client, "manage_storage", action="list", path=f"lustre:{TAG}", pattern="x")
    assert text.startswith("E_ARG") and "only read" in text


async def test_what_is_not_the_persons_text_file_is_refused(env: Env) -> None:
    lab = env.lab
    other = f"/lustre/home/{lab['other_account']}/{lab['other_user']}"
    for path, code in (
        (f"lustre:{TAG}/other", "E_NOT_YOURS"),  # a symlink into another person's folder
        (f"lustre:{TAG}/etc", "E_NOT_YOURS"),  # a symlink out of the pools
        (f"{other}/secret.txt", "E_NOT_YOURS"),
        (f"lustre:{TAG}/../../../{lab['other_account']}/{lab['other_user']}/x", "E_NOT_YOURS"),
        ("/etc/passwd", "E_PATH"),
        (f"lustre:{TAG}/data.bin", "E_BINARY"),
        (f"lustre:{TAG}/dir", "E_NOT_A_FILE"),
        (f"lustre:{TAG}/nope.txt", "E_NOT_FOUND"),
        ("local:/etc/passwd", "E_ARG"),
    ):
        text = await error(env.client, "manage_storage", action="read", path=path)
        assert text.startswith(code + ":"), (path, text)
        assert "Fix: " in text and "root:" not in text
    for path in (f"lustre:{TAG}/other", f"lustre:{TAG}/etc", f"{other}/secret.txt"):
        text = await error(env.client, "manage_storage", action="stat", path=path)
        assert text.startswith("E_NOT_YOURS:"), (path, text)
    inside = (await read(env, f"lustre:{TAG}/inside"))["read"]  # a link that stays inside is read, resolved
    assert inside["path"] == f"/lustre/{env.rel}/{TAG}/small.txt"
    binary = await call(env.client, "manage_storage", action="stat", path=f"lustre:{TAG}/data.bin")
    assert binary["stat"]["binary"] is True and binary["stat"]["size"] == 6 and "binary file" in binary["summary"]
    folder = await call(env.client, "manage_storage", action="stat", path=f"lustre:{TAG}/dir")
    assert folder["stat"]["kind"] == "dir" and "binary" not in folder["stat"]


async def test_cold_is_read_on_a_data_node_hot_on_the_groups_login_node(env: Env) -> None:
    for path, node in (
        (f"lustre:{TAG}/small.txt", LOGIN["pi"]),
        (f"/lustre/{env.rel}/{TAG}/small.txt", LOGIN["pi"]),
        (f"dssg:{TAG}/sy.txt", LOGIN["sy"]),
        (f"archive:{TAG}/cold.txt", DATA),
        (f"cold:{TAG}/cold.txt", DATA),  # through /union
    ):
        r = await read(env, path, mode="head")
        assert r["node"] == node, (path, r["node"])
        assert r["read"]["lines"]["rows"][0][0] == 1
        s = await call(env.client, "manage_storage", action="stat", path=path)
        assert s["node"] == node and s["stat"]["kind"] == "file" and s["stat"]["binary"] is False
        assert s["stat"]["owner"] == env.lab["user"]
    cold = await read(env, f"cold:{TAG}/cold.txt")
    assert cold["read"]["path"] == f"/union/{env.rel}/{TAG}/cold.txt"
    assert cold["read"]["lines"]["rows"] == [[1, "cold line 1"], [2, "cold line 2"]]


async def test_control_characters_come_back_escaped(env: Env) -> None:
    r = await env.client.call_tool("manage_storage", {"action": "read", "path": f"lustre:{TAG}/ctl.txt"})
    assert not r.is_error
    rows = r.structured_content["read"]["lines"]["rows"]  # type: ignore[index]
    assert rows == [
        [1, "plain"],
        [2, "\\x1b[31mred\\x1b[0m\tTab\\r"],
        [3, "\\x07bell \\u2028 sep"],
    ]
    text = text_of(r)
    assert not any(c in text for c in "\x1b\x07\r\u2028") and "\\x1b[31mred" in text


async def test_a_read_only_server_offers_read_and_stat(env: Env) -> None:
    lab = env.lab
    async with stdio_server(server_args(lab, env.ws, "--read-only")) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        ms = tools["manage_storage"]
        assert {"read", "stat"} <= set(ms.input_schema["properties"]["action"]["enum"])
        assert ms.annotations is not None and ms.annotations.read_only_hint is True
        r = await call(c, "manage_storage", action="read", path=f"lustre:{TAG}/small.txt", mode="match", pattern="a")
        assert r["read"]["lines"]["rows"][0] == [1, "a"]
        assert (await call(c, "manage_storage", action="stat", path=f"lustre:{TAG}/small.txt"))["stat"]["size"] == 35
    audit = env.ws / "audit.jsonl"
    lines = audit.read_text().splitlines() if audit.exists() else []
    assert not [ln for ln in lines if '"read"' in ln or '"stat"' in ln]  # reads leave no audit line
