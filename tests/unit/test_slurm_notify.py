"""core.slurm.notify and sbatch_argv's mail options: mail goes to the person's bound email only."""

from __future__ import annotations

from pathlib import Path

import pytest

from sjtu_hpc_mcp.core.errors import HpcError
from sjtu_hpc_mcp.core.slurm import commands as c
from sjtu_hpc_mcp.core.slurm import notify as n
from sjtu_hpc_mcp.core.slurm.scontrol import parse_scontrol_jobs

EMAIL = "hpcrobot@sjtu.edu.cn"


@pytest.mark.parametrize(("notify", "mail_type"), [("end", "END"), ("fail", "FAIL"), ("both", "END,FAIL")])
def test_mail_options(notify: str, mail_type: str) -> None:
    assert n.mail_options(notify, EMAIL) == {"mail_type": mail_type, "mail_user": EMAIL}
    assert n.mail_argv(notify, EMAIL) == [f"--mail-type={mail_type}", f"--mail-user={EMAIL}"]


def test_no_bound_email_is_refused() -> None:
    with pytest.raises(HpcError) as e:
        n.mail_options("end", None)
    assert e.value.code == "E_NO_EMAIL" and "update_user" in str(e.value)


@pytest.mark.parametrize(
    "bad",
    [
        "h***@sjtu.edu.cn",  # masked by the API
        "-oX@sjtu.edu.cn",
        ".a@sjtu.edu.cn",
        "a b@sjtu.edu.cn",
        "a@localhost",
        "a@sjtu.edu.cn,b@evil.example",
        "a@sjtu.edu.cn\nb",
        '"a"@sjtu.edu.cn',
        "用户@sjtu.edu.cn",
        "a@-sjtu.edu.cn",
        "a@@sjtu.edu.cn",
        "x" * 250 + "@a.cn",
        "",
    ],
)
def test_malformed_emails_are_refused(bad: str) -> None:
    with pytest.raises(HpcError) as e:
        n.mail_options("both", bad)
    assert e.value.code == "E_NO_EMAIL"


@pytest.mark.parametrize("good", ["a@b.cn", "first.last+hpc@sjtu.edu.cn", "user_1@mail.sjtu.edu.cn", "A-B@x-y.org"])
def test_plain_addresses_pass(good: str) -> None:
    assert n.check_email(good) == good


def test_unknown_notify_is_an_argument_error() -> None:
    with pytest.raises(HpcError) as e:
        n.mail_options("always", EMAIL)
    assert e.value.code == "E_ARG"


def test_bound_email_from_the_api_user_record() -> None:
    assert n.bound_email({"email": EMAIL}) == EMAIL
    assert n.bound_email({"email": f"  {EMAIL} "}) == EMAIL
    assert n.bound_email({"email": ["", EMAIL]}) == EMAIL
    for raw in ({}, {"email": None}, {"email": ""}, {"email": "  "}, {"email": 5}, {"email": []}):
        assert n.bound_email(raw) is None, raw


def test_sbatch_argv_takes_the_mail_options() -> None:
    o = c.SbatchOptions(partition="cpu", comment="mcp-0123456789abcdef", **n.mail_options("both", EMAIL))
    assert c.sbatch_argv("/lustre/home/a/u/job.sh", o) == [
        "sbatch",
        "--parsable",
        "--partition=cpu",
        "--comment=mcp-0123456789abcdef",
        "--mail-type=END,FAIL",
        f"--mail-user={EMAIL}",
        "/lustre/home/a/u/job.sh",
    ]
    assert not any(a.startswith("--mail") for a in c.sbatch_argv("/x.sh", c.SbatchOptions(partition="cpu")))


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"mail_type": "END"}, "E_ARG"),
        ({"mail_user": EMAIL}, "E_ARG"),
        ({"mail_type": "ALL", "mail_user": EMAIL}, "E_ARG"),
        ({"mail_type": "END", "mail_user": "-x@y.cn"}, "E_NO_EMAIL"),
        ({"mail_type": "END", "mail_user": "a@b.cn --mail-type=ALL"}, "E_NO_EMAIL"),
    ],
)
def test_sbatch_argv_refuses_mail_options_not_made_by_notify(fields: dict[str, str], code: str) -> None:
    with pytest.raises(HpcError) as e:
        c.sbatch_argv("/x.sh", c.SbatchOptions(partition="cpu", **fields))
    assert e.value.code == code


def test_slurm_records_them() -> None:
    """scontrol show job of a job submitted in the lab with notify both (tests/lab/recorded/INDEX.txt)."""
    text = (Path(__file__).resolve().parents[1] / "lab" / "recorded" / "scontrol_mail.txt").read_text()
    [job] = parse_scontrol_jobs(text)
    assert (job.fields["MailUser"], job.fields["MailType"]) == (EMAIL, "END,FAIL")
