"""core.slurm.modules and module_script: Lmod's argv, its answers (recorded on the lab's login nodes, and
the shapes other sites print), and the `module load` lines of a job script a node group cannot satisfy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm import module_script as ms
from sjtu_hpc_mcp.core.slurm import modules as m

RECORDED = Path(__file__).resolve().parents[1] / "lab" / "recorded"
NODE = "sylogin.hpc.sjtu.edu.cn"


def read(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


def listed(found: m.ModuleList) -> list[str]:
    return [e.full + ("*" if e.default else "") for e in found.modules]


# -- argv ---------------------------------------------------------------------------------------------


def test_argv_is_a_login_shell_with_the_value_as_its_argument() -> None:
    assert m.avail_argv() == ["bash", "-lc", m.AVAIL_SH, "bash"]
    assert m.avail_argv("gcc") == ["bash", "-lc", m.AVAIL_SH, "bash", "gcc"]
    assert m.spider_argv("gromacs/2023.2") == ["bash", "-lc", m.SPIDER_SH, "bash", "gromacs/2023.2"]
    assert m.spider_all_argv() == ["bash", "-lc", m.SPIDER_ALL_SH, "bash"]
    for script in (m.AVAIL_SH, m.SPIDER_SH, m.SPIDER_ALL_SH):
        r = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True, timeout=10, check=False)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "-t",
        "--help",
        "-r .*",
        "gcc; id",
        "$(id)",
        "`id`",
        "gcc id",
        "gcc\nid",
        "/etc/passwd",
        "gcc//11",
        "x" * 129,
        "gcc*",
        "gcc?",
        "名字",
        7,
    ],
)
def test_names_that_are_not_module_names_are_refused(bad: object) -> None:
    for build in (m.avail_argv, m.spider_argv):
        with pytest.raises(HpcError) as e:
            build(bad)  # type: ignore[arg-type]
        assert e.value.code == "E_ARG"
    with pytest.raises(HpcError):
        m.spider_argv(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("good", ["gcc", "gcc/11.2.0", "intel-oneapi-compilers/2021.4.0", "py-numpy/1.21_x+cuda", "_x"])
def test_module_names_pass(good: str) -> None:
    assert m.spider_argv(good)[-1] == good


def test_the_value_reaches_module_as_one_argument() -> None:
    """With a stand-in `module` function: the value is `$1` / `"$@"`, whatever it holds."""
    stub = "module() { printf 'ARG<%s>\\n' \"$@\"; }; "
    for script, value in ((m.AVAIL_SH, "a b; id"), (m.SPIDER_SH, "$(touch /nonexistent/x)")):
        r = subprocess.run(["bash", "-c", stub + script, "bash", value], capture_output=True, text=True, check=False)
        assert f"ARG<{value}>" in r.stdout.splitlines(), r.stdout


# -- avail ---------------------------------------------------------------------------------------------


def test_recorded_avail_differs_per_node_group() -> None:
    pi = m.parse_avail(read("lmod_avail_pi.txt"), "pilogin")
    sy = m.parse_avail(read("lmod_avail_sy.txt"), "sylogin")
    kp = m.parse_avail(read("lmod_avail_kp.txt"), "armlogin")
    assert listed(pi) == [
        "cuda/11.8.0",
        "cuda/12.1.1*",
        "gcc/9.3.0",
        "gcc/11.2.0*",
        "miniconda3/4.10.3*",
        "openmpi/4.1.5*",
    ]
    assert listed(sy) == ["cuda/11.8.0", "cuda/12.1.1*", "gcc/11.2.0*", "gcc/13.2.0", "openmpi/4.1.5*"]
    assert listed(kp) == ["bisheng/2.5.0*", "gcc/9.3.0", "gcc/10.3.1*", "hmpi/1.2.0*", "openmpi/4.1.5*"]
    assert [(e.name, e.version) for e in sy.modules][:2] == [("cuda", "11.8.0"), ("cuda", "12.1.1")]
    assert sy.paths == ["/var/tmp/sjtu-hpc-lab/modules/sy"]
    assert "gcc/.12.0-beta" not in listed(pi), "hidden modules stay hidden"
    data = m.parse_avail(read("lmod_avail_data.txt"), "data")
    assert (data.modules, data.paths) == ([], [])


def test_recorded_avail_with_a_filter() -> None:
    found = m.parse_avail(read("lmod_avail_sy_filter.txt"), NODE, "GCC")
    assert listed(found) == ["gcc/11.2.0*", "gcc/13.2.0"], "case-insensitive, default still marked"
    assert m.parse_avail(read("lmod_avail_pi_nomatch.txt"), "pilogin", "gromacs").modules == []


def test_avail_skips_what_a_login_profile_prints_and_reads_other_shapes() -> None:
    out = "\n".join(
        [
            "Welcome to the cluster!",  # a profile's greeting, before the first marker
            "@avail",
            "/opt/modules/Core:",
            "Compiler/",
            "Compiler/gcc/",
            "Compiler/gcc/11",
            "Compiler/gcc/12(default)",  # Tcl Environment Modules mark defaults in terse output
            "cuda/12.1(D)",
            "mygcc(@gcc/11.2.0)",  # an alias
            "tool/.hidden",
            "Lmod Warning: something odd",
            "/etc/lmod/modules:",
            "cuda/12.1",  # the same module from a second directory is listed once
            "@rc 0",
            "@defaults",
            "/opt/modules/Core:",
            "Compiler/gcc/11",
            "@rc 0",
        ]
    )
    found = m.parse_avail(out, NODE)
    assert [(e.full, e.name, e.version, e.default) for e in found.modules] == [
        ("Compiler/gcc/11", "Compiler/gcc", "11", True),
        ("Compiler/gcc/12", "Compiler/gcc", "12", True),
        ("cuda/12.1", "cuda", "12.1", True),
    ]
    assert found.paths == ["/opt/modules/Core", "/etc/lmod/modules"]


def test_a_filter_that_matches_a_directory_name_does_not_list_everything() -> None:
    out = "@avail\n/var/tmp/sjtu-hpc-lab/modules/sy:\ngcc/11.2.0\ncuda/12.1.1\n@rc 0\n@defaults\n@rc 0\n"
    assert listed(m.parse_avail(out, NODE, "lab")) == []
    assert listed(m.parse_avail(out, NODE, "cuda")) == ["cuda/12.1.1"]


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("", "gave no answer"),
        ("@avail\ngcc/1\n", "cut off"),
        ("@avail\ngcc/1\n@rc 0\n@defaults\n", "cut off"),
        ("@avail\nbash: line 1: module: command not found\n@rc 127\n@defaults\n@rc 127\n", "no `module` command"),
        ("@avail\nLmod has detected the following error: broken cache\n@rc 1\n@defaults\n@rc 0\n", "broken cache"),
    ],
    ids=["nothing", "cut", "cut-defaults", "no-lmod", "lmod-error"],
)
def test_avail_failures(out: str, says: str) -> None:
    with pytest.raises(HpcError) as e:
        m.parse_avail(out, NODE)
    assert e.value.code == "E_MODULES" and says in e.value.message


# -- spider --------------------------------------------------------------------------------------------


def test_recorded_spider() -> None:
    gcc = m.parse_spider(read("lmod_spider_sy_gcc.txt"), NODE, "gcc")
    assert (gcc.found, gcc.name, gcc.versions, gcc.description) == (
        True,
        "gcc",
        ["gcc/11.2.0", "gcc/13.2.0"],
        "GNU compilers",
    )
    assert gcc.load is None and gcc.loadable_directly is None
    one = m.parse_spider(read("lmod_spider_sy_gcc_version.txt"), NODE, "gcc/13.2.0")
    assert (one.versions, one.loadable_directly, one.load) == (["gcc/13.2.0"], True, "module load gcc/13.2.0")
    gromacs = m.parse_spider(read("lmod_spider_sy_gromacs.txt"), NODE, "gromacs")
    assert (gromacs.versions, gromacs.loadable_directly, gromacs.needs) == (["gromacs/2023.2"], False, [["gcc/13.2.0"]])
    assert gromacs.load == "module load gcc/13.2.0 gromacs/2023.2"
    assert gromacs.description == "GROMACS molecular dynamics"
    missing = m.parse_spider(read("lmod_spider_pi_gromacs.txt"), "pilogin", "gromacs")
    assert (missing.found, missing.versions) == (False, [])
    cuda = m.parse_spider(read("lmod_spider_pi_cuda_version.txt"), "pilogin", "cuda/12.1.1")
    assert cuda.load == "module load cuda/12.1.1"


def test_spider_with_several_ways_to_load_and_other_matches() -> None:
    out = """@spider

----------------------------------------------------------------------------
  fftw: fftw/3.3.10
----------------------------------------------------------------------------
    Description:
      Fast Fourier transforms, a long description that Lmod wraps onto a
      second line

    You will need to load all module(s) on any one of the lines below before the
      "fftw/3.3.10" module is available to load.

      gcc/11.2.0  openmpi/4.1.5
      intel/2021.4.0  impi/2021.4.0

----------------------------------------------------------------------------
     Other possible modules matches:
        fftw-mpi  py-pyfftw
----------------------------------------------------------------------------
@rc 0
"""
    info = m.parse_spider(out, NODE, "fftw/3.3.10")
    assert info.needs == [["gcc/11.2.0", "openmpi/4.1.5"], ["intel/2021.4.0", "impi/2021.4.0"]]
    assert info.load == "module load gcc/11.2.0 openmpi/4.1.5 fftw/3.3.10"
    assert info.description == ("Fast Fourier transforms, a long description that Lmod wraps onto a second line")
    assert info.others == ["fftw-mpi", "py-pyfftw"]


def test_spider_failures() -> None:
    with pytest.raises(HpcError) as e:
        m.parse_spider("@spider\n\nbash: module: command not found\n@rc 127\n", NODE, "x")
    assert e.value.code == "E_MODULES"
    with pytest.raises(HpcError):
        m.parse_spider("@spider\n  gcc: gcc/1\n", NODE, "gcc")  # cut off
    assert not m.parse_spider("@spider\n\n@rc 0\n", NODE, "x").found


def test_recorded_spider_all() -> None:
    sy = m.parse_spider_all(read("lmod_spider_all_sy.txt"), NODE)
    assert "gromacs/2023.2" in sy and "gromacs" in sy, "modules behind a compiler level are known"
    pi = m.parse_spider_all(read("lmod_spider_all_pi.txt"), "pilogin")
    assert "gromacs" not in pi and "gcc/9.3.0" in pi and "gcc/9.3.0" not in sy


# -- a job script's module loads -----------------------------------------------------------------------

SCRIPT = """#!/bin/bash
#SBATCH -p a100
# module load commented/1
module purge
module load gcc/13.2.0 gromacs/2023.2  # the MD run
ml cuda/12.1 openmpi
ml -gcc intel/2021
module swap gcc/11.2.0 gcc/12
if module load foo; then echo ok; fi
module load \\
   bar/$V baz
source /etc/profile && module --force load qux
echo module load not-a-command
module try-load maybe
ml av
ml load GCC/13.2.0
module load 'quoted/1' "unbalanced
"""


def test_module_loads() -> None:
    assert [(u.line, u.module) for u in ms.module_loads(SCRIPT)] == [
        (5, "gcc/13.2.0"),
        (5, "gromacs/2023.2"),
        (6, "cuda/12.1"),
        (6, "openmpi"),
        (7, "intel/2021"),
        (8, "gcc/12"),
        (9, "foo"),
        (10, "baz"),
        (12, "qux"),
        (16, "GCC/13.2.0"),
    ]
    assert ms.module_loads("") == [] and ms.module_loads("module\nml\nmodule load\n") == []


def test_is_available_follows_lmod() -> None:
    known = m.parse_spider_all(read("lmod_spider_all_sy.txt"), NODE)
    for name in ("gcc", "gcc/13.2.0", "gcc/13", "gcc/13.2", "cuda/12", "gromacs", "gromacs/2023"):
        assert ms.is_available(name, known), name
    for name in ("GCC", "gcc/12", "gcc/1", "gcc/13.2.0.1", "gcc/13.2.00", "cud", "intel"):
        assert not ms.is_available(name, known), name


def test_missing_module_warnings() -> None:
    known = m.parse_spider_all(read("lmod_spider_all_sy.txt"), NODE)
    missing = [(u.line, u.module) for u in ms.missing_modules(SCRIPT, known)]
    assert missing == [(7, "intel/2021"), (8, "gcc/12"), (9, "foo"), (10, "baz"), (12, "qux"), (16, "GCC/13.2.0")]
    warnings = ms.missing_module_warnings(SCRIPT, known, "sy")
    assert warnings[1] == (
        "Line 8 loads module gcc/12, which node group sy does not have; it has gcc/11.2.0, gcc/13.2.0. "
        "The job would fail when it starts."
    )
    assert "run_slurm modules lists what it has" in warnings[0]
    assert "gcc/11.2.0, gcc/13.2.0" in warnings[-1], "another case of the same name is offered"
    pi = m.parse_spider_all(read("lmod_spider_all_pi.txt"), "pilogin")
    assert ms.missing_module_warnings("module load gromacs\n", pi, "pi") != []
    assert ms.missing_module_warnings("module load gromacs\n", known, "sy") == []
    assert ms.missing_modules("ml gcc\nml gcc\n", []) == [ms.ModuleLoad(1, "gcc")], "each name once"
