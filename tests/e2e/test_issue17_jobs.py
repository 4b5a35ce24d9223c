"""Issue 17 (software, notices, since) through a real stdio client against the lab and the API double:
the module list differs per node group and a script loading a module its group lacks warns before sbatch;
`notify` reaches Slurm's record with the bound email; two finished jobs appear once in `since`.
They need a running lab: `sudo tests/lab/up`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import httpx2
import pytest
from mcp.client import Client

from conftest import LAB_SLURM, install_credentials, make_user_cert, stdio_server
from e2e.lab_helpers import LOGIN, call, node_shell, server_args
from lab.api_double import run_double

pytestmark = [pytest.mark.lab, pytest.mark.anyio]
LMOD = pytest.mark.skipif(
    LAB_SLURM not in ("", "22.05"),
    reason="the Slurm 24.11 entry nodes run in a Debian 13 tree without Lmod (tests/lab/slurm24)",
)
GROMACS_SCRIPT = "#!/bin/bash\nmodule load gcc/13.2.0\nmodule load gromacs/2023.2\necho md\n"


async def _token(url: str, user: str) -> str:
    async with httpx2.AsyncClient() as http:
        r = await http.post(
            f"{url}/token",
            json={"domain": "pi", "operator": user, "password": "lab-password-1"},
            headers={"Accept": "text/plain"},
        )
        r.raise_for_status()
        return r.text.removeprefix("Bearer ").strip()


@pytest.fixture
async def client(lab: dict[str, Any], workspace: Path) -> AsyncIterator[Client]:
    install_credentials(workspace, *make_user_cert(asyncssh.read_private_key(lab["ca_key"])))
    (workspace / "credentials" / "hpc_user").write_text(lab["user"] + "\n")
    with run_double(lab["ca_key"]) as (url, state):
        state.configure(token_ttl=3600)
        (workspace / "credentials" / "hpc_token").write_text(await _token(url, lab["user"]) + "\n")
        async with stdio_server(server_args(lab, workspace, "--api-url", url)) as c:
            yield c


def _modules(result: dict[str, Any]) -> set[str]:
    return {row[0] for row in result["table"].get("rows", [])}


@LMOD
async def test_the_module_list_differs_per_node_group(client: Client) -> None:
    pi = await call(client, "run_slurm", command="modules", node_group="pi")
    sy = await call(client, "run_slurm", command="modules", partition="a100")
    kp = await call(client, "run_slurm", command="modules", node_group="kp")
    assert pi["node"] == LOGIN["pi"] and sy["node"] == LOGIN["sy"]
    assert {"cuda/12.1.1", "miniconda3/4.10.3"} <= _modules(pi) and "gcc/13.2.0" not in _modules(pi)
    assert {"gcc/11.2.0", "gcc/13.2.0"} <= _modules(sy) and "miniconda3/4.10.3" not in _modules(sy)
    assert "bisheng/2.5.0" in _modules(kp) and len({frozenset(_modules(r)) for r in (pi, sy, kp)}) == 3
    assert ["gcc/11.2.0", True] in sy["table"]["rows"]  # the default the site set
    # GROMACS: on sy behind gcc/13.2.0 (spider finds it and says what to load first); pi has none
    g = await call(client, "run_slurm", command="modules", node_group="sy", module="gromacs/2023.2")
    assert g["module"]["found"] and "gcc/13.2.0" in g["module"]["load"], g
    none = await call(client, "run_slurm", command="modules", node_group="pi", module="gromacs")
    assert none["module"]["found"] is False and "no module gromacs" in none["summary"]
    cuda = await call(client, "run_slurm", command="modules", node_group="pi", module="cuda")
    assert {"cuda/11.8.0", "cuda/12.1.1"} <= set(cuda["module"]["versions"])


@LMOD
async def test_a_module_the_group_lacks_warns_before_sbatch(client: Client, lab: dict[str, Any]) -> None:
    est = await call(client, "run_slurm", command="sbatch", partition="debug", script=GROMACS_SCRIPT, test_only=True)
    warnings = est["submission"]["warnings"]
    assert any("gromacs/2023.2" in w and "node group pi" in w for w in warnings), warnings
    assert any("gcc/13.2.0" in w for w in warnings), warnings  # pi has gcc 9.3.0 and 11.2.0 only
    assert est["submission"]["estimated_start"]
    # the same script is fine on sy: no module warning, and the warning never blocks a real submission
    sy = await call(client, "run_slurm", command="sbatch", partition="small", script=GROMACS_SCRIPT, test_only=True)
    assert not any("module" in w for w in sy["submission"].get("warnings", [])), sy
    sub = await call(client, "run_slurm", command="sbatch", partition="debug", script=GROMACS_SCRIPT)
    assert sub["submission"]["job_id"] and any("gromacs" in w for w in sub["submission"]["warnings"])
    await call(client, "run_slurm", command="wait", node_group="pi", job_ids=[sub["submission"]["job_id"]])


async def test_notify_reaches_slurms_record_with_the_bound_email(client: Client, lab: dict[str, Any]) -> None:
    script = "#!/bin/bash\nsleep 20\n"
    sub = await call(
        client, "run_slurm", command="sbatch", partition="debug", script=script, notify="both", options={"time": "2"}
    )
    job_id = sub["submission"]["job_id"]
    assert "hpcrobot@sjtu.edu.cn" in sub["summary"]
    async with node_shell(lab, LOGIN["pi"]) as sh:  # as the lab user, beside the server
        shown = await sh(f"scontrol show job {job_id}")
        await sh(f"scancel {job_id}", check=False)
    assert re.search(r"\bMailUser=hpcrobot@sjtu\.edu\.cn\b", shown), shown
    mail_type = re.search(r"\bMailType=(\S+)", shown)
    assert mail_type and {"END", "FAIL"} <= set(mail_type.group(1).split(",")), shown


async def test_two_finished_jobs_appear_once_in_since(client: Client) -> None:
    ids = []
    for code in (0, 3):
        script = f"#!/bin/bash\necho since-{code} >&2\nexit {code}\n"
        sub = await call(client, "run_slurm", command="sbatch", partition="debug", script=script)
        ids.append(sub["submission"]["job_id"])
    status = await call(client, "credential_status")
    assert status["unreported_jobs"] == 2
    done = await call(client, "run_slurm", command="wait", node_group="pi", job_ids=ids)
    for _ in range(5):
        if done.get("done"):
            break
        done = await call(client, "run_slurm", command="wait", node_group="pi", job_ids=ids)
    assert done.get("done"), done
    first = await call(client, "run_slurm", command="since")
    got = {j["job_id"]: j for j in first.get("jobs", [])}
    assert set(got) == set(ids), first
    assert got[ids[0]]["state"] == "COMPLETED" and got[ids[1]]["state"] == "FAILED"
    assert got[ids[1]]["exit_code"] == 3 and got[ids[1]]["diagnosis"]
    assert "since-3" in got[ids[1]].get("stderr_tail", "")
    assert all(j["node"] == LOGIN["pi"] and j["partition"] == "debug" for j in got.values())
    second = await call(client, "run_slurm", command="since")
    assert not second.get("jobs") and "No job" in second["summary"], second
    assert "unreported_jobs" not in await call(client, "credential_status")
