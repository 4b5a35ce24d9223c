"""Record what the lab's Slurm prints for the server's own argv (the builders of core/slurm), into a folder with
an INDEX.txt: each file's command, exit status and stderr file, the job ids by name and the comment token.

    SJTU_HPC_LAB_SLURM=24.11 .venv/bin/python tests/lab/record_slurm.py tests/lab/recorded/slurm-24.11

As root, with the lab up (tests/lab/up). The commands run over SSH on the lab's pilogin as the lab user, as the
server runs them (`env SLURM_TIME_FORMAT=standard …`); sacctmgr limits are set as root for the recording and
removed after it. Takes about three minutes (one job runs into its one-minute time limit).
tests/unit/test_slurm_recorded_live.py checks every file against what it must parse to, reading the job ids from
INDEX.txt, so a new recording keeps those tests meaningful.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parents[1] / "server")]

from conftest import LAB_DIR, lab_json_path, make_user_cert  # noqa: E402
from sjtu_hpc_mcp.core.slurm import commands as c  # noqa: E402
from sjtu_hpc_mcp.core.slurm.limits import assoc_argv, qos_argv  # noqa: E402
from sjtu_hpc_mcp.core.slurm.version import SLURM_VERSION_ARGV  # noqa: E402

NODE = "pilogin.hpc.sjtu.edu.cn"
OOM = "#!/bin/bash\necho start\npython3 -c '\nimport time\na = []\nfor i in range(100):\n    a.append(bytearray(20 * 1024 * 1024))\n    time.sleep(0.05)\n'\n"  # noqa: E501


class Recorder:
    def __init__(self, conn: asyncssh.SSHClientConnection, out: Path, lab: dict[str, Any]) -> None:
        self.conn, self.out, self.lab = conn, out, lab
        self.index: list[str] = []
        self.ids: dict[str, str] = {}
        self.home = lab["home"]
        self.work = f"{self.home}/slurm-rec"

    async def sh(self, command: str) -> asyncssh.SSHCompletedProcess:
        return await self.conn.run(command, check=False)

    async def rec(self, name: str, argv: list[str], note: str = "", env: bool = True) -> str:
        """Run argv on the node (Slurm commands with SLURM_TIME_FORMAT=standard, as the server does)."""
        full = c.remote_argv(argv) if env else argv
        r = await self.sh(shlex.join(full))
        stdout, stderr = str(r.stdout or ""), str(r.stderr or "")
        (self.out / f"{name}.txt").write_text(stdout)
        line = f"{name}.txt  rc={r.exit_status}  $ {shlex.join(full)}"
        if stderr:
            (self.out / f"{name}.stderr.txt").write_text(stderr)
            line += f"  (stderr: {name}.stderr.txt)"
        self.index.append(line + (f"  ({note})" if note else ""))
        return stdout

    async def submit(self, key: str, script: str, options: dict[str, Any] | None = None, raw: list[str] = ()) -> str:
        path = f"{self.work}/{key}.sh"
        async with self.conn.start_sftp_client() as sftp:
            async with sftp.open(path, "w", asyncssh.SFTPAttrs(permissions=0o700)) as fh:
                await fh.write(script)
        opts = c.SbatchOptions(job_name=f"rec-{key}", output=f"{self.work}/%x-%j.out", **(options or {}))
        argv = c.sbatch_argv(path, opts)
        argv[-1:-1] = list(raw)
        r = await self.sh(shlex.join(c.remote_argv(argv)))
        assert r.exit_status == 0, (key, r.stderr)
        job_id = str(r.stdout).strip().split(";")[0]
        self.ids[key] = job_id
        return job_id

    async def state(self, job_id: str) -> str:
        r = await self.sh(shlex.join(["scontrol", "--oneliner", "show", "job", job_id]))
        for word in str(r.stdout).split():
            if word.startswith("JobState="):
                return word.removeprefix("JobState=")
        return ""

    async def wait_for(self, job_id: str, states: set[str], seconds: float = 240) -> None:
        deadline = time.monotonic() + seconds
        while (await self.state(job_id)) not in states:
            assert time.monotonic() < deadline, f"job {job_id} never reached {states}"
            await asyncio.sleep(1)


def admin(argv: list[str]) -> None:
    """A Slurm command as root on the lab's Slurm (the 24.11 one through tests/lab/slurm24 run)."""
    prefix = [] if Path(lab_json_path()) == LAB_DIR / "lab.json" else [str(HERE / "slurm24"), "run"]
    subprocess.run([*prefix, *argv], check=True, capture_output=True)


async def record(out: Path) -> None:
    lab = json.loads(lab_json_path().read_text())
    key, cert = make_user_cert(asyncssh.read_private_key(lab["ca_key"]))
    info = lab["nodes"][NODE]
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.txt"):
        old.unlink()
    async with asyncssh.connect(
        info["host"], info["port"], username=lab["user"], client_keys=[(key, asyncssh.import_certificate(cert))],
        known_hosts=lab["known_hosts"], agent_path=None, config=[],
    ) as conn:  # fmt: skip
        r = Recorder(conn, out, lab)
        await r.sh(f"rm -rf {r.work} && mkdir -p {r.work}")
        version = (await r.rec("sinfo_version", list(SLURM_VERSION_ARGV), env=False)).split()[-1]
        await r.rec("sinfo_version_noconf", ["env", "SLURM_CONF=/nonexistent", *SLURM_VERSION_ARGV], env=False,
                    note="a host without a Slurm configuration")  # fmt: skip
        mark = "mcp-" + secrets.token_hex(8)

        # -- jobs, submitted together ---------------------------------------------------------------------
        await r.submit("done", "#!/bin/bash\necho done\n", {"time": "00:05:00"})
        await r.submit("fail", "#!/bin/bash\necho about to fail\nexit 7\n", {"time": "5"})
        await r.submit("oom", OOM, {"time": "5", "mem": "20M"})
        await r.submit("timeout", "#!/bin/bash\necho tick\nsleep 600\n", {"time": "1"})
        await r.submit("gpu", "#!/bin/bash\nsleep 20\n", {"partition": "a100", "gpus": 1, "time": "10"})
        await r.submit("array", "#!/bin/bash\necho task $SLURM_ARRAY_TASK_ID\n", {"array": "1-3", "time": "5"})
        cancel = await r.submit("cancel", "#!/bin/bash\nsleep 600\n", {"ntasks": 2, "mem": "1G"})
        await r.submit("throttle", "#!/bin/bash\nsleep 300\n", {"array": "1-3%1", "time": "10"})
        await r.submit("begin", "#!/bin/bash\ntrue\n", {"begin": "now+1hour", "time": "5"})
        await r.submit("dep", "#!/bin/bash\ntrue\n", {"dependency": f"afterok:{cancel}", "time": "5"})
        await r.submit("byname", "#!/bin/bash\nsleep 600\n", {"time": "10"})
        await r.submit("odd", "#!/bin/bash\ntrue\n", {"time": "5"}, raw=["--job-name=odd|name with space"])
        script = f"{r.work}/rec-tok-{mark}.sh"
        await r.sh(f"printf '#!/bin/bash\\necho tok\\n' > {script} && chmod 700 {script}")
        tok = c.sbatch_argv(script, c.SbatchOptions(job_name="rec-tok", time="5", mem="64M", comment=mark,
                                                    output=f"{r.work}/%x-%j.out"))  # fmt: skip
        r.ids["tok"] = (await r.rec("sbatch_parsable", tok)).strip().split(";")[0]
        await r.submit("big1", "#!/bin/bash\nsleep 60\n", {"ntasks": 16, "time": "5"})
        await r.submit("big2", "#!/bin/bash\nsleep 60\n", {"ntasks": 16, "time": "5"})
        for k in ("cancel", "byname", "gpu"):
            await r.wait_for(r.ids[k], {"RUNNING"})
        for k in ("done", "fail", "oom", "tok"):
            await r.wait_for(r.ids[k], {"COMPLETED", "FAILED", "OUT_OF_MEMORY"})
        await asyncio.sleep(2)

        # -- while jobs run and wait ------------------------------------------------------------------------
        await r.rec("sinfo_busy", c.sinfo_argv())
        await r.rec("sinfo_some", c.sinfo_argv(["cpu", "a100", "debug"]))
        await r.rec("squeue_me", c.squeue_argv())
        await r.rec("squeue_user", c.squeue_argv(lab["user"]))
        await r.rec("squeue_pending", c.squeue_argv(states=["PENDING"]))
        await r.rec("squeue_jobs_array_task", c.squeue_argv(job_ids=[f"{r.ids['throttle']}_1", r.ids["done"]]))
        await r.rec("squeue_expand_arrays", c.squeue_argv(name="rec-throttle", expand_arrays=True))
        await r.rec("squeue_comments", c.squeue_comments_argv())
        await r.rec("scontrol_running", c.scontrol_job_argv(cancel))
        await r.rec("scontrol_pending_begin", c.scontrol_job_argv(r.ids["begin"]))
        await r.rec("scontrol_array", c.scontrol_job_argv(r.ids["throttle"]))
        await r.rec("scontrol_missing", c.scontrol_job_argv("999999"))
        await r.rec("seff_running", c.seff_argv(cancel))
        await r.rec("seff_pending", c.seff_argv(r.ids["begin"]))
        await r.rec("seff_missing", c.seff_argv("999999"))
        await r.sh(f"printf '#!/bin/bash\\ntrue\\n' > {r.work}/rec-test.sh")
        opts = c.SbatchOptions(partition="cpu", time="10", job_name="rec-test", test_only=True)
        await r.rec("sbatch_test_only", c.sbatch_argv(f"{r.work}/rec-test.sh", opts))
        bad = c.SbatchOptions(partition="nosuch")
        await r.rec("sbatch_bad_partition", c.sbatch_argv(f"{r.work}/rec-test.sh", bad))
        await r.rec("sbatch_too_big", c.sbatch_argv(f"{r.work}/rec-test.sh", c.SbatchOptions(mem="100G")))
        await r.rec("scancel_ids", c.scancel_argv([cancel, r.ids["big1"], r.ids["big2"]]))
        await r.rec("scancel_by_name", c.scancel_argv(name="rec-byname", user=lab["user"]))
        await r.rec("scancel_unknown", c.scancel_argv(["999999"]))
        await asyncio.sleep(2)
        await r.rec("squeue_after_cancel", c.squeue_argv(job_ids=[r.ids["dep"], cancel]))

        # -- once the time limit has ended the timeout job ------------------------------------------------------
        await r.wait_for(r.ids["timeout"], {"TIMEOUT"})
        await r.wait_for(r.ids["gpu"], {"COMPLETED"})
        await asyncio.sleep(3)
        await r.rec("sacct_default", c.sacct_argv())
        await r.rec("sacct_states", c.sacct_argv(states=["CANCELLED", "FAILED", "OUT_OF_MEMORY", "TIMEOUT"]))
        await r.rec("sacct_jobs", c.sacct_argv(job_ids=[r.ids["odd"], r.ids["array"], r.ids["throttle"]]))
        await r.rec("sacct_comments", c.sacct_comments_argv())
        await r.rec("sacct_submit_lines", c.sacct_submit_lines_argv())
        usage = [r.ids[k] for k in ("fail", "oom", "timeout", "done", "cancel")]
        await r.rec("sacct_usage", c.sacct_usage_argv(usage))
        for k in ("done", "fail", "oom", "timeout", "gpu"):
            await r.rec(f"seff_{k}", c.seff_argv(r.ids[k]))
        await r.rec("seff_cancel", c.seff_argv(cancel))
        await r.rec("seff_array_task", c.seff_argv(f"{r.ids['array']}_2"))
        await r.rec("scontrol_completed", c.scontrol_job_argv(r.ids["done"]))
        await r.rec("scontrol_array_done", c.scontrol_job_argv(r.ids["array"]))
        await r.rec("scontrol_timeout", c.scontrol_job_argv(r.ids["timeout"]))
        await r.rec("tail_fail_out", c.tail_argv(f"{r.work}/rec-fail-{r.ids['fail']}.out", 4096))
        await r.rec("tail_oom_out", c.tail_argv(f"{r.work}/rec-oom-{r.ids['oom']}.out", 4096))
        await r.rec("tail_missing", c.tail_argv(f"{r.work}/nope.out", 100))
        await r.rec("squeue_end", c.squeue_argv(job_ids=sorted(set(r.ids.values()), key=int)))

        # -- limits: set for the recording, then removed -------------------------------------------------------------
        other = lab["other_user"]
        admin(["sacctmgr", "-i", "modify", "user", other, "set", "MaxJobs=4", "MaxSubmitJobs=10", "MaxWall=1-0"])
        admin(["sacctmgr", "-i", "add", "qos", "mcprec", "MaxWall=2-0", "MaxJobsPerUser=20", "MaxSubmitJobsPerUser=50"])
        try:
            await r.rec("sacctmgr_assoc_limits", assoc_argv(other), note="limits set for the recording, then removed")
            await r.rec("sacctmgr_qos", qos_argv(), note="QOS mcprec added for the recording, then deleted")
        finally:
            admin(["sacctmgr", "-i", "modify", "user", other, "set", "MaxJobs=-1", "MaxSubmitJobs=-1", "MaxWall=-1"])
            admin(["sacctmgr", "-i", "delete", "qos", "mcprec"])
        await r.sh(f"scancel --user={lab['user']} --name=rec-throttle; scancel {r.ids['begin']} {r.ids['dep']}")

    when = datetime.now(UTC).strftime("%Y-%m-%d")
    head = [
        f"Recorded from the local Slurm {version} lab ({lab['lab_dir']}) over SSH on {NODE} as {lab['user']}, {when},",
        "by tests/lab/record_slurm.py.",
        f"job ids: {json.dumps(r.ids)}",
        f"comment token: {mark}",
        f"work dir: {r.work}",
        "",
    ]
    (out / "INDEX.txt").write_text("\n".join(head + r.index) + "\n")
    print(f"recorded {len(r.index)} commands into {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    asyncio.run(record(Path(sys.argv[1])))
