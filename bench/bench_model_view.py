"""What the model reads: each tool's result as the hosts give it to their model, against its text part.

Claude Code, VS Code, Codex and OpenCode give the model only `JSON.stringify(structuredContent)` on success
(the text part is dropped) and only the text on an error. This prints, for one call of each common case,
the bytes of that JSON, the bytes of the text part and their ratio, through the SDK client over stdio
against the lab (tests/lab/up as root first).

    .venv/bin/python bench/bench_model_view.py            # a table
    .venv/bin/python bench/bench_model_view.py --json     # one JSON object per line
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncssh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import install_credentials, load_lab, make_user_cert, stdio_server  # noqa: E402
from e2e.lab_helpers import new_token, node_shell, server_args  # noqa: E402
from lab.api_double import run_double  # noqa: E402


def model_view(result: Any) -> str:
    """The bytes a Claude Code model receives: the structured part on success, the text on an error."""
    if result.is_error or result.structured_content is None:
        return "".join(getattr(c, "text", "") for c in result.content)
    return json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"))


async def cases(lab: dict[str, Any], ws: Path, url: str) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    api = ("--api-url", url, "--approval-wait", "3")
    empty = Path(tempfile.mkdtemp()) / "ws"
    empty.mkdir()
    async with stdio_server(server_args(lab, empty, *api)) as c:
        out.append(("credential_status", "nothing stored", await c.call_tool("credential_status", {})))
        t0 = time.monotonic()
        r = await c.call_tool("request_token", {"username": "hpcrobot"})
        out.append(("request_token", f"no file: page ({time.monotonic() - t0:.1f} s)", r))
    key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]))
    install_credentials(ws, key, cert, token=new_token(url))
    async with stdio_server(server_args(lab, ws, *api)) as c:
        out.append(("credential_status", "ready", await c.call_tool("credential_status", {})))
        out.append(("request_token", "refresh", await c.call_tool("request_token", {})))
        out.append(("get_user", "", await c.call_tool("get_user", {})))
        out.append(("query_quota", "both", await c.call_tool("query_quota", {})))
        out.append(("run_slurm", "sinfo", await c.call_tool("run_slurm", {"command": "sinfo", "node_group": "pi"})))
        held = []
        for _ in range(20):
            r = await c.call_tool(
                "run_slurm",
                {
                    "command": "sbatch",
                    "partition": "cpu",
                    "script": "#!/bin/bash\nsleep 600\n",
                    "options": {"begin": "now+1hour", "time": "10"},
                },
            )
            if not r.is_error and r.structured_content:
                held.append(int(r.structured_content["submission"]["job_id"]))
        out.append(("run_slurm", "sbatch", r))
        sq = await c.call_tool("run_slurm", {"command": "squeue", "node_group": "pi"})
        out.append(("run_slurm", f"squeue {len(held)} jobs", sq))
        out.append(
            (
                "run_slurm",
                "squeue limit 5",
                await c.call_tool("run_slurm", {"command": "squeue", "node_group": "pi", "limit": 5}),
            )
        )
        out.append(
            (
                "run_slurm",
                "scancel preview",
                await c.call_tool(
                    "run_slurm", {"command": "scancel", "node_group": "pi", "job_ids": [str(j) for j in held[:1]]}
                ),
            )
        )
        out.append(("run_slurm", "sacct", await c.call_tool("run_slurm", {"command": "sacct", "node_group": "pi"})))
        async with node_shell(lab, lab_helpers_login()) as sh:
            raw = await sh("squeue --me -h -o '%i %P %j %T %M %l %D %R' | head -20")
        out.append(("(raw squeue)", f"{len(raw.splitlines())} lines", raw))
        if held:
            await c.call_tool(
                "run_slurm",
                {"command": "scancel", "node_group": "pi", "job_ids": [str(j) for j in held], "confirm": True},
            )
        out.append(
            ("manage_storage", "usage", await c.call_tool("manage_storage", {"action": "usage", "path": "lustre:"}))
        )
        out.append(("manage_storage", "free", await c.call_tool("manage_storage", {"action": "free"})))
        out.append(
            ("manage_storage", "list", await c.call_tool("manage_storage", {"action": "list", "path": "lustre:"}))
        )
        out.append(("transfer_data", "list", await c.call_tool("transfer_data", {"action": "list"})))
        out.append(
            ("run_slurm", "error: bad arg", await c.call_tool("run_slurm", {"command": "squeue", "nodegroup": "pi"}))
        )
    return out


def lab_helpers_login() -> str:
    return "pilogin.hpc.sjtu.edu.cn"


def main() -> None:
    as_json = "--json" in sys.argv
    lab = load_lab()
    ws = Path(tempfile.mkdtemp()) / "ws"
    ws.mkdir()
    with run_double(asyncssh.read_private_key(lab["ca_key"])) as (url, _state):
        rows = asyncio.run(cases(lab, ws, url))
    if not as_json:
        print(f"{'tool':<18} {'case':<28} {'model B':>8} {'text B':>7} {'ratio':>6}  error")
    for tool, case, r in rows:
        if isinstance(r, str):
            view, text, err = r, r, False
        else:
            view = model_view(r)
            text = "".join(getattr(c, "text", "") for c in r.content)
            err = bool(r.is_error)
        mb, tb = len(view.encode()), len(text.encode())
        if "--show" in sys.argv:
            print(f"--- {tool} {case}\n{view}\n  [text] {text if view != text else '(same)'}")
        if as_json:
            print(json.dumps({"tool": tool, "case": case, "model_bytes": mb, "text_bytes": tb, "is_error": err}))
        else:
            print(f"{tool:<18} {case:<28} {mb:>8} {tb:>7} {mb / max(tb, 1):>6.2f}  {'yes' if err else ''}")
    subprocess.run(["true"], check=False)


if __name__ == "__main__":
    main()
