"""The core of issue 17 against the lab's real nodes, with asyncssh directly (the tools come later): Lmod's
module trees differ per node group (tests/lab/lmod), a person's file is read with core.files' one argv
(bounded, confined, binary refused, the pattern inert), and sbatch's mail options reach Slurm's record.
They need a running lab: `sudo tests/lab/up`."""

from __future__ import annotations

import shlex
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import asyncssh
import pytest

from conftest import LAB_SLURM
from sjtu_hpc_mcp.core import files as f
from sjtu_hpc_mcp.core import transfer as t
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.core.slurm import commands as c
from sjtu_hpc_mcp.core.slurm import module_script as ms
from sjtu_hpc_mcp.core.slurm import modules as m
from sjtu_hpc_mcp.core.slurm import notify as n
from sjtu_hpc_mcp.core.slurm.scontrol import parse_scontrol_jobs

pytestmark = [pytest.mark.lab, pytest.mark.anyio]

PI, SY, KP = "pilogin.hpc.sjtu.edu.cn", "sylogin.hpc.sjtu.edu.cn", "armlogin.hpc.sjtu.edu.cn"
REL = "home/acct-hpc/hpcrobot"


@pytest.fixture(scope="module")
def keys(lab: dict[str, Any]) -> list[Any]:
    ca = asyncssh.read_private_key(lab["ca_key"])
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(
        key, "issue17", principals=[lab["user"]], valid_after=now - 300, valid_before=now + 3600
    )
    return [(key, cert)]


class Node:
    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    async def run(self, argv: list[str], *, check: bool = True) -> str:
        with anyio.fail_after(60):
            r = await self.conn.run(shlex.join(argv), check=check)
        return str(r.stdout)


@pytest.fixture
async def nodes(lab: dict[str, Any], keys: list[Any]) -> AsyncIterator[dict[str, Node]]:
    conns = {}
    for fqdn in (PI, SY, KP):
        node = lab["nodes"][fqdn]
        conns[fqdn] = await asyncssh.connect(
            node["host"],
            port=node["port"],
            username=lab["user"],
            client_keys=keys,
            known_hosts=lab["known_hosts"],
            agent_path=None,
            config=[],
            connect_timeout=15,
        )
    try:
        yield {fqdn: Node(conn) for fqdn, conn in conns.items()}
    finally:
        for conn in conns.values():
            conn.close()


@pytest.mark.skipif(
    LAB_SLURM not in ("", "22.05"),
    reason="the Slurm 24.11 entry nodes run in a Debian 13 tree without Lmod (tests/lab/slurm24)",
)
async def test_module_trees_differ_per_node_group(nodes: dict[str, Node]) -> None:
    found = {fqdn: m.parse_avail(await node.run(m.avail_argv()), fqdn) for fqdn, node in nodes.items()}
    names = {fqdn: {e.full for e in got.modules} for fqdn, got in found.items()}
    assert "gcc/9.3.0" in names[PI] and "gcc/9.3.0" not in names[SY]
    assert "bisheng/2.5.0" in names[KP] and "bisheng/2.5.0" not in names[PI] | names[SY]
    assert names[PI] != names[SY] != names[KP]
    sy_gcc = [e.full for e in found[SY].modules if e.name == "gcc" and e.default]
    assert sy_gcc == ["gcc/11.2.0"], "sy's default gcc is set explicitly, not the highest"
    gromacs = m.parse_spider(await nodes[SY].run(m.spider_argv("gromacs")), SY, "gromacs")
    assert gromacs.load == "module load gcc/13.2.0 gromacs/2023.2"
    assert not m.parse_spider(await nodes[PI].run(m.spider_argv("gromacs")), PI, "gromacs").found
    script = "#!/bin/bash\nmodule load gcc/13.2.0 gromacs/2023.2\n"
    sy_all = m.parse_spider_all(await nodes[SY].run(m.spider_all_argv()), SY)
    pi_all = m.parse_spider_all(await nodes[PI].run(m.spider_all_argv()), PI)
    assert ms.missing_module_warnings(script, sy_all, "sy") == []
    assert [u.module for u in ms.missing_modules(script, pi_all)] == ["gcc/13.2.0", "gromacs/2023.2"]


async def read(node: Node, path: str, mode: str = "tail", **kw: Any) -> f.FileRead:
    platform = load_platform()
    given = t.resolve_storage_path(platform, t.parse_location(path), REL)  # as manage_storage confines a path
    req = f.read_request(given, mode, **kw)
    out = await node.run(f.read_argv(req, f.personal_roots(platform, REL)))
    return f.parse_read(out, req, platform, REL, PI)


async def test_reading_a_persons_files(lab: dict[str, Any], nodes: dict[str, Node]) -> None:
    pi = nodes[PI]
    home = lab["home"]
    folder = f"{home}/issue17-read"
    setup = (
        'd=$1; rm -rf "$d"; mkdir -p "$d" && cd "$d" || exit 1; '
        "seq -f 'step %08.0f loss 0.5' 1 450000 > log.txt; "  # 10 MB
        "printf 'a\\n-rf x\\nNaN\\n' > small.txt; printf 'BIN\\000\\001' > data.bin; "
        f"ln -s /lustre/home/{lab['other_account']}/{lab['other_user']} other; ln -s /etc/hostname etc"
    )
    await pi.run(["sh", "-c", setup, "sh", folder])
    started = time.monotonic()
    tail = await read(pi, f"{folder}/log.txt", lines=5)
    assert time.monotonic() - started < 5
    assert [r[0] for r in tail.lines.rows] == list(range(449_996, 450_001))
    assert tail.size > 10_000_000 and tail.shown_bytes < 200 and tail.next_offset is not None
    flag = await read(pi, f"{folder}/small.txt", "match", pattern="-rf")
    assert flag.lines.rows == [[2, "-rf x"]]
    for path, code in (
        (f"{folder}/data.bin", "E_BINARY"),
        (f"{folder}/other", "E_NOT_YOURS"),
        (f"{folder}/etc", "E_NOT_YOURS"),
        (f"/lustre/home/{lab['other_account']}/{lab['other_user']}/x", "E_NOT_YOURS"),
        (f"{folder}/nope", "E_NOT_FOUND"),
    ):
        with pytest.raises(HpcError) as e:
            await read(pi, path)
        assert e.value.code == code, path
    await pi.run(["rm", "-rf", "--", folder])


async def test_notify_reaches_slurms_record(lab: dict[str, Any], nodes: dict[str, Node]) -> None:
    pi = nodes[PI]
    script = f"{lab['home']}/issue17-mail.sh"
    await pi.run(["sh", "-c", 'printf "#!/bin/bash\\ntrue\\n" > "$1"', "sh", script])
    email = n.bound_email({"email": f"{lab['user']}@sjtu.edu.cn"})
    options = c.SbatchOptions(partition="debug", time="1", output="/dev/null", **n.mail_options("both", email))
    job = (await pi.run(c.remote_argv(c.sbatch_argv(script, options)))).strip().split(";")[0]
    [detail] = parse_scontrol_jobs(await pi.run(c.remote_argv(c.scontrol_job_argv(job))))
    assert (detail.fields["MailType"], detail.fields["MailUser"]) == ("END,FAIL", email)
    await pi.run(["rm", "-f", "--", script])
