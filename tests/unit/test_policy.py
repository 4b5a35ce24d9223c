"""The policy: routing to entry nodes, wrong-group refusals, cold-storage refusals, consent."""

from __future__ import annotations

import pytest

from sjtu_hpc_mcp.core.consent import ACTS
from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.platform import load_platform
from sjtu_hpc_mcp.core.policy import (
    check_partitions_in_group,
    cold_paths_in,
    job_route,
    of_other_group,
    refuse_cold_reads,
    time_limit_warnings,
)

P = load_platform()


@pytest.mark.parametrize(
    ("partition", "node"),
    [
        ("cpu", "pilogin.hpc.sjtu.edu.cn"),
        ("dgx2", "pilogin.hpc.sjtu.edu.cn"),
        ("a100", "sylogin.hpc.sjtu.edu.cn"),
        ("debuga100", "sylogin.hpc.sjtu.edu.cn"),
        ("debug100", "sylogin.hpc.sjtu.edu.cn"),
        ("small", "sylogin.hpc.sjtu.edu.cn"),
        ("arm128c256g", "armlogin.hpc.sjtu.edu.cn"),
    ],
)
def test_partition_routes_to_its_login_node(partition: str, node: str) -> None:
    assert job_route(P, partition=partition).node == node


@pytest.mark.parametrize(("group", "node"), [("pi", "pilogin"), ("sy", "sylogin"), ("kp", "armlogin")])
def test_group_routes_to_its_login_node(group: str, node: str) -> None:
    r = job_route(P, node_group=group)
    assert r.node == f"{node}.hpc.sjtu.edu.cn" and r.group == group


def test_partition_and_group_must_agree() -> None:
    assert job_route(P, partition="a100", node_group="sy").node == "sylogin.hpc.sjtu.edu.cn"
    with pytest.raises(HpcError) as err:
        job_route(P, partition="a100", node_group="pi")
    assert err.value.code == "E_WRONG_GROUP"
    assert "cpu" in err.value.fix  # lists the pi partitions


def test_neither_partition_nor_group() -> None:
    with pytest.raises(HpcError, match="E_GROUP_NEEDED"):
        job_route(P)


@pytest.mark.parametrize("bad", ["gpu", "pilogin.hpc.sjtu.edu.cn", "127.0.0.1", "cpu;id"])
def test_hosts_and_unknown_partitions_are_not_routes(bad: str) -> None:
    with pytest.raises(HpcError):
        job_route(P, partition=bad)
    with pytest.raises(HpcError):
        job_route(P, node_group=bad)


def test_filters_must_stay_in_the_group() -> None:
    r = job_route(P, node_group="pi")
    check_partitions_in_group(P, r, ["cpu", "debug"])
    with pytest.raises(HpcError, match="E_WRONG_GROUP"):
        check_partitions_in_group(P, r, ["cpu", "a100"])


@pytest.mark.parametrize(
    "script",
    [
        "cat /archive/home/acct-hpc/u/data.csv",
        "python train.py --data=/vault/x",
        "cp -r /union/home/acct-hpc/u/ds .",
        "ls /lustre/home/../../archive/home",
        "cd $ARCHIVE/ds",
        "cd ${VAULT}",
        "x=$UNION",
        "python a.py '/archive/q'",
        "#SBATCH --chdir=/archive/home/acct-hpc/u",
        'f="/vault/a b"',
        "//archive/x",
    ],
)
def test_cold_storage_in_scripts_is_found(script: str) -> None:
    assert cold_paths_in(P, script)
    with pytest.raises(HpcError) as err:
        refuse_cold_reads(P, "#!/bin/bash\n" + script + "\n")
    assert err.value.code == "E_COLD_STORAGE"
    assert "transfer_data" in err.value.fix


@pytest.mark.parametrize(
    "script",
    [
        "cat /lustre/home/acct-hpc/u/data.csv",
        "python train.py --data=/dssg/home/acct-hpc/u/x",
        "ls data/archive/x",  # relative: hot storage
        "echo $ARCHIVES_DIR",
        "echo archive vault union",
        "cat /archived/x",
        "module load gcc/archive-1.0",
        "#!/bin/bash\nsrun hostname",
    ],
)
def test_hot_storage_scripts_pass(script: str) -> None:
    assert cold_paths_in(P, script) == []
    refuse_cold_reads(P, script, None, "")


def test_options_are_checked_too() -> None:
    with pytest.raises(HpcError, match="E_COLD_STORAGE"):
        refuse_cold_reads(P, "#!/bin/bash\nhostname", "/archive/home/acct-hpc/u/out.txt")


@pytest.mark.parametrize(
    ("act", "needed"),
    [
        ("scancel", True),
        ("update_user", True),
        ("remove", True),
        ("overwrite", True),
        ("sinfo", False),
        ("sbatch", False),
    ],
)
def test_consent_table(act: str, needed: bool) -> None:
    assert (act in ACTS) is needed


def test_time_limits_are_hints() -> None:
    assert time_limit_warnings(P, "debug", 20 * 60) == []
    (w,) = time_limit_warnings(P, "debug", 30 * 60)
    assert "20 minutes" in w
    assert time_limit_warnings(P, "cpu", None) == []
    assert time_limit_warnings(P, "huge", 3 * 86400)


@pytest.mark.parametrize(
    ("group", "partition", "hidden"),
    [
        ("pi", "cpu", False),
        ("pi", "a100", True),
        ("sy", "a100", False),
        ("sy", "cpu", True),
        ("kp", "arm128c256g", False),
        ("pi", "brand_new_partition", False),
        ("pi", None, False),
        ("pi", "", False),
    ],
)
def test_rows_of_other_groups_are_not_reported(group: str, partition: str | None, hidden: bool) -> None:
    assert of_other_group(P, job_route(P, node_group=group), partition) is hidden
