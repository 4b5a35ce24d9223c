"""Before sbatch: the account's real limits (sacctmgr association and QOS) and the person's recent
usage (sacct), read into warnings. Never a refusal: Slurm has the last word."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sjtu_hpc_mcp.core.slurm import validate as v
from sjtu_hpc_mcp.core.slurm.commands import JobOptions
from sjtu_hpc_mcp.core.slurm.outcome import JobUsage
from sjtu_hpc_mcp.core.slurm.parse import rows_of
from sjtu_hpc_mcp.core.slurm.units import decimal, duration_seconds, memory_mb

ASSOC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("account", "Account"),
    ("partition", "Partition"),
    ("max_jobs", "MaxJobs"),
    ("max_submit", "MaxSubmit"),
    ("max_wall", "MaxWall"),
    ("max_tres", "MaxTRES"),
    ("grp_tres", "GrpTRES"),
    ("qos", "QOS"),
)
QOS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("max_wall", "MaxWall"),
    ("max_tres", "MaxTRES"),
    ("max_tres_pu", "MaxTRESPU"),
    ("max_jobs_pu", "MaxJobsPU"),
    ("max_submit_pu", "MaxSubmitPU"),
)
RECENT_START = "now-14days"
FAR_ABOVE = 4  # a request this many times what recent jobs used is worth a word
MIN_RECENT_JOBS = 3


def _fmt(columns: Sequence[tuple[str, str]]) -> str:
    return ",".join(spec for _, spec in columns)


def assoc_argv(user: str) -> list[str]:
    return ["sacctmgr", "--noheader", "--parsable2", "show", "assoc", "where", f"user={v.username(user)}",
            f"format={_fmt(ASSOC_COLUMNS)}"]  # fmt: skip


def qos_argv() -> list[str]:
    return ["sacctmgr", "--noheader", "--parsable2", "show", "qos", f"format={_fmt(QOS_COLUMNS)}"]


def tres(text: str) -> dict[str, float]:
    """`cpu=64,gres/gpu=4,mem=128G,node=2` → {"cpu": 64, "gpu": 4, "mem": 131072 (MB), "node": 2}."""
    out: dict[str, float] = {}
    for item in text.strip().split(","):
        key, sep, value = item.partition("=")
        if not sep:
            continue
        key = key.strip().removeprefix("gres/")
        amount = memory_mb(value) if key == "mem" else decimal(value.split(":")[-1])
        if amount is not None:
            out[key] = float(amount)
    return out


@dataclass(frozen=True)
class Limits:
    """One association (or QOS): None/empty where Slurm sets no limit."""

    source: str  # "association acct-hpc" / "QOS normal"
    max_jobs: int | None = None
    max_submit: int | None = None
    max_wall_s: int | None = None
    max_wall: str | None = None
    per_job: Mapping[str, float] | None = None  # MaxTRES
    group: Mapping[str, float] | None = None  # GrpTRES (the whole account)
    per_user: Mapping[str, float] | None = None  # QOS MaxTRESPU


def parse_assoc(text: str, partition: str) -> tuple[list[Limits], list[str]]:
    """Limits of the associations that apply to the partition, and the QOS names they use."""
    limits, qos = [], []
    for row in rows_of(text, ASSOC_COLUMNS):
        part = row["partition"].strip()
        if part and part != partition:
            continue
        wall = row["max_wall"].strip()
        limits.append(
            Limits(
                source=f"association {row['account'].strip()}" + (f" on {part}" if part else ""),
                max_jobs=decimal(row["max_jobs"]),
                max_submit=decimal(row["max_submit"]),
                max_wall_s=duration_seconds(wall),
                max_wall=wall or None,
                per_job=tres(row["max_tres"]),
                group=tres(row["grp_tres"]),
            )
        )
        qos += [q for q in row["qos"].strip().split(",") if q]
    return limits, list(dict.fromkeys(qos))


def parse_qos(text: str, names: Iterable[str]) -> list[Limits]:
    wanted = set(names)
    out = []
    for row in rows_of(text, QOS_COLUMNS):
        name = row["name"].strip()
        if name not in wanted:
            continue
        wall = row["max_wall"].strip()
        out.append(
            Limits(
                source=f"QOS {name}",
                max_jobs=decimal(row["max_jobs_pu"]),
                max_submit=decimal(row["max_submit_pu"]),
                max_wall_s=duration_seconds(wall),
                max_wall=wall or None,
                per_job=tres(row["max_tres"]),
                per_user=tres(row["max_tres_pu"]),
            )
        )
    return out


@dataclass(frozen=True)
class Ask:
    """What a submission asks for, as far as the options say (None: Slurm's default)."""

    time_s: int | None
    nodes: int
    cpus: int | None
    mem_mb: float | None  # the whole job
    gpus: int | None  # the whole job


def ask_of(o: JobOptions) -> Ask:
    nodes = o.nodes or 1
    tasks = o.ntasks or ((o.ntasks_per_node or 0) * nodes) or None
    cpus = None
    if tasks is not None or o.cpus_per_task is not None:
        cpus = (tasks or nodes) * (o.cpus_per_task or 1)
    per_node_mb = None if o.mem is None else memory_mb(o.mem)
    return Ask(
        time_s=None if o.time is None else duration_seconds(o.time),
        nodes=nodes,
        cpus=cpus,
        mem_mb=None if per_node_mb is None else per_node_mb * nodes,
        gpus=None if o.gpus is None else o.gpus * nodes,
    )


def _mb(mb: float) -> str:
    return f"{mb / 1024:g} GB" if mb >= 1024 else f"{mb:g} MB"


def _over(ask: Ask, caps: Mapping[str, float] | None, what: str, source: str) -> list[str]:
    if not caps:
        return []
    asked = {"cpu": ask.cpus, "mem": ask.mem_mb, "gpu": ask.gpus, "node": ask.nodes}
    out = []
    for key, cap in caps.items():
        value = asked.get(key)
        if value is not None and value > cap:
            shown = (_mb(value), _mb(cap)) if key == "mem" else (f"{value:g}", f"{cap:g}")
            out.append(f"The job asks for {key} {shown[0]}, above the {what} of {shown[1]} ({source}).")
    return out


def limit_warnings(ask: Ask, limits: Sequence[Limits], queued: int | None) -> list[str]:
    """Warnings from the account's limits; `queued` is how many of the person's jobs are queued now."""
    out: list[str] = []
    for lim in limits:
        if ask.time_s is not None and lim.max_wall_s is not None and ask.time_s > lim.max_wall_s:
            out.append(f"time exceeds the MaxWall of {lim.max_wall} ({lim.source}); Slurm will refuse or hold it.")
        out += _over(ask, lim.per_job, "per-job limit", lim.source)
        out += _over(ask, lim.group, "account's group limit", lim.source)
        out += _over(ask, lim.per_user, "per-user limit", lim.source)
        if queued is not None and lim.max_submit is not None and queued + 1 > lim.max_submit:
            out.append(
                f"{queued} of your jobs are queued and {lim.source} allows {lim.max_submit}: sbatch will be refused."
            )
        elif queued is not None and lim.max_jobs is not None and queued + 1 > lim.max_jobs:
            out.append(f"{lim.source} runs at most {lim.max_jobs} of your jobs at once: this one will wait.")
    return out


def usage_warnings(ask: Ask, recent: Iterable[JobUsage]) -> list[str]:
    """When the request is far above what the person's recent completed jobs used."""
    done = [u for u in recent if u.state == "COMPLETED"]
    if len(done) < MIN_RECENT_JOBS:
        return []
    out = []
    rss = [u.max_rss_mb for u in done if u.max_rss_mb is not None]
    if ask.mem_mb is not None and rss and ask.mem_mb > max(FAR_ABOVE * max(rss), 2048):
        out.append(
            f"mem asks for {_mb(ask.mem_mb)}; your last {len(done)} completed jobs used at most {_mb(max(rss))}. "
            "A smaller request usually starts sooner."
        )
    elapsed = [u.elapsed_seconds for u in done if u.elapsed_seconds is not None]
    if ask.time_s is not None and elapsed and ask.time_s > max(FAR_ABOVE * max(elapsed), 3600):
        longest = max(elapsed)
        out.append(
            f"time asks for {ask.time_s // 60} min; your last {len(done)} completed jobs ran at most "
            f"{longest // 60} min. A shorter limit usually starts sooner (backfill)."
        )
    return out
