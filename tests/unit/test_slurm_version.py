"""The Slurm release from `sinfo --version` (core.slurm.version): live outputs of the lab's 22.05 and 24.11,
and the other forms builds print."""

from __future__ import annotations

from pathlib import Path

import pytest

from sjtu_hpc_mcp.core.slurm.version import SLURM_VERSION_ARGV, SlurmVersion, parse_slurm_version

RECORDED = Path(__file__).resolve().parents[1] / "lab" / "recorded"


def test_the_argv() -> None:
    assert SLURM_VERSION_ARGV == ("sinfo", "--version")


@pytest.mark.parametrize(
    ("path", "version"),
    [("sinfo_version.txt", SlurmVersion(22, 5, 8)), ("slurm-24.11/sinfo_version.txt", SlurmVersion(24, 11, 5))],
)
def test_the_labs_live_outputs(path: str, version: SlurmVersion) -> None:
    assert parse_slurm_version((RECORDED / path).read_text()) == version


def test_a_host_without_configuration_says_no_version() -> None:
    """sinfo reads its configuration before it answers --version (22.05 too): without one, only errors."""
    text = (RECORDED / "slurm-24.11" / "sinfo_version_noconf.stderr.txt").read_text()
    assert "fatal" in text and parse_slurm_version(text) is None


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("slurm 24.11.5\n", (24, 11, 5)),
        ("slurm-wlm 22.05.8", (22, 5, 8)),
        ("slurm 23.02.7-1.el9\n", (23, 2, 7)),
        ("slurm 24.05.0-0rc1\n", (24, 5, 0)),
        ("slurm 25.05.0\n", (25, 5, 0)),
        ("slurm 17.11.13-2\n", (17, 11, 13)),
        ("slurm 20.11\n", (20, 11, 0)),
        ("24.11.5\n", (24, 11, 5)),
        ("  slurm 24.11.5  \r\n", (24, 11, 5)),
        ("sinfo: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\nslurm 24.11.5\n", (24, 11, 5)),
    ],
)
def test_forms(text: str, version: tuple[int, int, int]) -> None:
    assert parse_slurm_version(text) == version


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "sinfo: fatal: Could not establish a configuration source\n",
        "bash: line 1: sinfo: command not found\n",
        "slurm\n",
        "slurm version unknown\n",
        "sinfo: error: slurm 24.11.5 is not reachable\n",  # a version inside an error line is not the answer
        "slurm 24.1x\n",
    ],
)
def test_no_version(text: str) -> None:
    assert parse_slurm_version(text) is None


def test_it_compares_with_plain_tuples_and_names_the_release() -> None:
    v22, v24 = SlurmVersion(22, 5, 8), SlurmVersion(24, 11, 5)
    assert v22 < v24 and v24 >= (23, 2) and v22 < (23, 2) and v24 > (24, 11) and v24 < (24, 11, 6)
    assert (v22.release, v24.release, str(v22), str(v24)) == ("22.05", "24.11", "22.05.8", "24.11.5")
    assert max([v24, v22]) is v24 and sorted([v24, v22]) == [v22, v24]
