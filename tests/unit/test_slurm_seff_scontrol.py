"""seff and scontrol parsers on hand-written outputs (multi-node, odd units, spaces in values)."""

import pytest

from sjtu_hpc_mcp.core.slurm.scontrol import parse_key_values, parse_scontrol_jobs
from sjtu_hpc_mcp.core.slurm.seff import parse_seff

SEFF_MULTINODE = """\
Job ID: 4242
Cluster: sjtupi
User/Group: alice/acct-a
State: COMPLETED (exit code 0)
Nodes: 2
Cores per node: 40
CPU Utilized: 2-03:04:05
CPU Efficiency: 42.50% of 5-00:00:00 core-walltime
Job Wall-clock time: 01:30:00
Memory Utilized: 12.50 GB
Memory Efficiency: 3.26% of 375.00 GB (187.50 GB/node)
The task which had the largest memory consumption differs by 150.00% from the average task max memory consumption
"""


def test_seff_multinode() -> None:
    r = parse_seff(SEFF_MULTINODE)
    assert r is not None
    assert (r.job_id, r.cluster, r.user, r.group) == ("4242", "sjtupi", "alice", "acct-a")
    assert (r.state, r.exit_code) == ("COMPLETED", 0)
    assert (r.nodes, r.cores_per_node, r.cores) == (2, 40, 80)
    assert r.cpu_utilized_seconds == 2 * 86400 + 3 * 3600 + 4 * 60 + 5
    assert r.cpu_efficiency_percent == 42.5
    assert r.core_walltime_seconds == 5 * 86400
    assert r.wall_clock_seconds == 5400
    assert r.memory_utilized_mb == 12.5 * 1024
    assert r.memory_utilized_bytes == int(12.5 * 1024**3)
    assert r.memory_efficiency_percent == 3.26
    assert r.memory_allocated_mb == 375 * 1024
    assert r.memory_allocated_per == "node"
    assert r.efficiency_available is True
    assert r.notes == [SEFF_MULTINODE.splitlines()[-1]]


def test_seff_per_core_and_kb() -> None:
    text = (
        "Job ID: 7\nCluster: c\nUser/Group: u/g\nState: FAILED (exit code 7)\nCores: 1\n"
        "CPU Utilized: 00:00:00\nCPU Efficiency: 0.00% of 00:00:00 core-walltime\n"
        "Job Wall-clock time: 00:00:00\nMemory Utilized: 512.00 KB\n"
        "Memory Efficiency: 0.05% of 1.00 GB (1.00 GB/core)\n"
    )
    r = parse_seff(text)
    assert r is not None
    assert (r.state, r.exit_code, r.cores, r.nodes) == ("FAILED", 7, 1, 1)
    assert r.memory_utilized_mb == 0.5 and r.memory_utilized_bytes == 512 * 1024
    assert (r.memory_allocated_mb, r.memory_allocated_per) == (1024.0, "core")


def test_seff_array_task() -> None:
    r = parse_seff("Job ID: 20\nArray Job ID: 11_2\nState: COMPLETED (exit code 0)\n")
    assert r is not None and r.job_id == "20" and r.array_job_id == "11_2"
    assert r.efficiency_available is False and r.memory_utilized_mb is None


@pytest.mark.parametrize("text", ["", "Job not found.\n", "Usage: seff [Options] <Jobid>\n", "garbage: x\n"])
def test_seff_no_report(text: str) -> None:
    assert parse_seff(text) is None


def test_seff_odd_values_tolerated() -> None:
    text = (
        "Job ID: 9\nState: SOMETHING\nCores: many\nCPU Efficiency: n/a\n"
        "Memory Utilized: lots\nMemory Efficiency: ??\nCPU Utilized: forever\n"
    )
    r = parse_seff(text)
    assert r is not None
    assert r.state == "SOMETHING" and r.exit_code is None and r.cores is None
    assert r.cpu_efficiency_percent is None and r.memory_utilized_mb is None
    assert r.cpu_utilized_seconds is None and r.memory_efficiency_percent is None


SCONTROL = (
    "JobId=77 JobName=my job UserId=alice(1001) GroupId=acct-a(1001) MCS_label=N/A "
    "Account=acct-a QOS=normal JobState=PENDING Reason=ReqNodeNotAvail,_UnavailableNodes:cas[1-2] "
    "Dependency=afterok:76(unfulfilled) ExitCode=0:0 RunTime=00:00:00 TimeLimit=1-00:00:00 "
    "SubmitTime=2026-11-26T06:31:40 StartTime=Unknown EndTime=Unknown Partition=cpu "
    "NodeList= NumNodes=1-2 NumCPUs=4 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* "
    "TRES=cpu=4,mem=1G,node=1 Command=/home/alice/run.sh --flag value WorkDir=/home/alice "
    "Comment=mcp-abc StdErr=/home/alice/err.log StdIn=/dev/null StdOut=/home/alice/out log.txt "
    "Power="
)


def test_key_values_keep_spaces_and_odd_keys() -> None:
    f = parse_key_values(SCONTROL)
    assert f["JobName"] == "my job"
    assert f["Command"] == "/home/alice/run.sh --flag value"
    assert f["Socks/Node"] == "*"
    assert f["NtasksPerN:B:S:C"] == "0:0:*:*"
    assert f["TRES"] == "cpu=4,mem=1G,node=1"
    assert f["NodeList"] == "" and f["Power"] == ""
    assert f["StdOut"] == "/home/alice/out log.txt"


def test_scontrol_job_detail() -> None:
    [job] = parse_scontrol_jobs(SCONTROL + "\n")
    assert job.job_id == "77" and job.name == "my job"
    assert (job.user, job.uid, job.account, job.partition) == ("alice", 1001, "acct-a", "cpu")
    assert (job.state, job.terminal) == ("PENDING", False)
    assert job.reason == "ReqNodeNotAvail,_UnavailableNodes:cas[1-2]"
    assert (job.exit_code, job.signal) == (0, 0)
    assert job.time_limit_seconds == 86400 and job.run_time_seconds == 0
    assert job.start_time is None and job.end_time is None and job.node_list is None
    assert job.num_nodes == "1-2" and job.num_cpus == 4
    assert job.work_dir == "/home/alice" and job.std_out == "/home/alice/out log.txt"
    assert job.std_err == "/home/alice/err.log" and job.std_in == "/dev/null"
    assert job.comment == "mcp-abc"
    assert job.fields["Dependency"] == "afterok:76(unfulfilled)"


def test_scontrol_array_ids_and_junk() -> None:
    text = (
        "slurm_load_jobs error: Invalid job id specified\n"
        "JobId=12 ArrayJobId=12 ArrayTaskId=2-3%1 JobState=PENDING UserId=bob\n"
        "JobId=21 ArrayJobId=12 ArrayTaskId=1 JobState=RUNNING ExitCode=\n"
        "\n"
    )
    pending, running = parse_scontrol_jobs(text)
    assert pending.job_id == "12_[2-3%1]" and pending.user == "bob" and pending.uid is None
    assert running.job_id == "12_1" and running.exit_code is None
    assert parse_scontrol_jobs("") == []
