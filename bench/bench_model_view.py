"""What the model reads: each tool's result as the hosts give it to their model, against its text part.

Claude Code, VS Code, Codex and OpenCode give the model only `JSON.stringify(structuredContent)` on success
(the text part is dropped) and only the text on an error. This prints, for one call of each common case,
the bytes of that JSON, the bytes of the text part and their ratio, through the SDK client over stdio
against the lab (tests/lab/up as root first).

    .venv/bin/python bench/bench_model_view.py            # a table
    .venv/bin/python bench/bench_model_view.py --json     # one JSON object per line
    PYTHONPATH=OTHER/server .venv/bin/python bench/bench_model_view.py   # another revision's server
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
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


async def cases(lab: dict[str, Any], ws: Path, url: str, state: Any) -> list[tuple[str, str, Any]]:
    """One call of each common case; the jobs and files it makes are its own (a tag), so two revisions
    measured one after the other see the same lab state."""
    out: list[tuple[str, str, Any]] = []
    api = ("--api-url", url, "--approval-wait", "3")
    tag = "mv" + uuid.uuid4().hex[:8]

    async def run(c: Any, tool: str, case: str, args: dict[str, Any]) -> Any:
        t0 = time.monotonic()
        r = await c.call_tool(tool, args)
        out.append((tool, case, r, time.monotonic() - t0))
        return r

    empty = Path(tempfile.mkdtemp()) / "ws"
    empty.mkdir()
    async with stdio_server(server_args(lab, empty, *api)) as c:
        await run(c, "credential_status", "nothing stored", {})
        await run(c, "request_token", "no password file (page)", {"username": "hpcrobot"})
    key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]))
    install_credentials(ws, key, cert, token=new_token(url))
    async with stdio_server(server_args(lab, ws, *api)) as c, node_shell(lab, LOGIN) as sh:
        await run(c, "credential_status", "ready", {})
        await run(c, "request_token", "refresh", {})
        await run(c, "get_user", "", {})
        await run(c, "query_quota", "both", {})
        await run(c, "request_certificate", "waiting for approval", {"force": True})
        state.decide(decision="approve")
        await run(c, "request_certificate", "issued", {})
        await run(c, "run_slurm", "sinfo pi", {"command": "sinfo", "node_group": "pi"})
        job = {"command": "sbatch", "partition": "cpu", "script": "#!/bin/bash\nsleep 1\n", "options": {"time": "5"}}
        r = await run(c, "run_slurm", "sbatch", {**job, "options": {"time": "5", "job_name": tag}})
        jid = str((r.structured_content or {}).get("submission", {}).get("job_id", "0"))
        await run(c, "run_slurm", "wait (job ends)", {"command": "wait", "partition": "cpu", "job_ids": [jid]})
        await run(c, "run_slurm", "sacct one job", {"command": "sacct", "partition": "cpu", "job_ids": [jid]})
        held = []
        for _ in range(20):
            args = {**job, "options": {"begin": "now+1hour", "time": "10", "job_name": tag}}
            r = await c.call_tool("run_slurm", args)
            if not r.is_error and r.structured_content:
                held.append(str(r.structured_content["submission"]["job_id"]))
        await run(c, "run_slurm", "squeue 20 jobs", {"command": "squeue", "partition": "cpu", "name": tag})
        await run(c, "run_slurm", "squeue limit 5", {"command": "squeue", "partition": "cpu", "name": tag, "limit": 5})
        raw = await sh(f"squeue --me -h -n {tag} -o '%i %P %j %T %M %l %D %R'")
        out.append(("(raw squeue)", "the same 20 jobs", raw, 0.0))
        await run(c, "run_slurm", "scancel preview", {"command": "scancel", "partition": "cpu", "job_ids": held[:1]})
        await run(
            c,
            "run_slurm",
            "scancel confirm",
            {"command": "scancel", "partition": "cpu", "job_ids": held[:1], "confirm": True},
        )
        await c.call_tool("run_slurm", {"command": "scancel", "partition": "cpu", "job_ids": held, "confirm": True})
        await sh(f"mkdir -p {lab['home']}/{tag} && for i in 1 2 3; do echo $i > {lab['home']}/{tag}/f$i; done")
        await run(c, "manage_storage", "list", {"action": "list", "path": f"lustre:{tag}"})
        await run(c, "manage_storage", "usage", {"action": "usage", "path": f"lustre:{tag}"})
        await run(c, "manage_storage", "free", {"action": "free"})
        r = await run(
            c, "transfer_data", "start", {"action": "start", "source": f"lustre:{tag}", "destination": "cold"}
        )
        tid = str((r.structured_content or {}).get("transfer", {}).get("id", ""))
        await run(c, "transfer_data", "status (wait_s 20)", {"action": "status", "transfer_id": tid, "wait_s": 20})
        await run(c, "run_slurm", "error: unknown argument", {"command": "squeue", "nodegroup": "pi"})
        await sh(f"rm -rf {lab['home']}/{tag}")
    return out


LOGIN = "pilogin.hpc.sjtu.edu.cn"


def main() -> None:
    as_json = "--json" in sys.argv
    lab = load_lab()
    ws = Path(tempfile.mkdtemp()) / "ws"
    ws.mkdir()
    with run_double(asyncssh.read_private_key(lab["ca_key"])) as (url, state):
        rows = asyncio.run(cases(lab, ws, url, state))
    if not as_json:
        print(f"{'tool':<20} {'case':<26} {'model B':>8} {'text B':>7} {'ratio':>6} {'s':>5}  error")
    for tool, case, r, took in rows:
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
            row = {"tool": tool, "case": case, "model_bytes": mb, "text_bytes": tb, "seconds": round(took, 2)}
            print(json.dumps({**row, "is_error": err}))
        else:
            ratio = mb / max(tb, 1)
            print(f"{tool:<20} {case:<26} {mb:>8} {tb:>7} {ratio:>6.2f} {took:>5.1f}  {'yes' if err else ''}")


if __name__ == "__main__":
    main()
