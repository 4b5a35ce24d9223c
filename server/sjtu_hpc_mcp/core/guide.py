"""What the server offers besides tools: the platform tables as read-only documents, the common flows as
prompts, and completion values for their arguments. Pure: built from the Platform tables."""

from __future__ import annotations

import json
from typing import Any

from .platform import Platform

STORAGE_RULES = (
    "Jobs never read cold storage (/archive, /vault, /union): copy the data to hot storage first.",
    "Cold storage is written only from the data nodes (data, sydata); elsewhere it is read-only.",
    "A personal path is the same in every pool: /lustre/home/acct-x/u <-> /archive/home/acct-x/u.",
    "Writing to cold storage: the pool with the most free space (transfer_data destination 'cold').",
    "Reading cold data without a named pool: /union (both cold pools merged).",
)


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def partitions_document(p: Platform) -> str:
    """Partition -> node group -> entry nodes and the docs' wall-time limit (a hint, not a hard rule)."""
    groups = {
        g.name: {"title": g.title, "job_entry": g.job_entry, "data_entry": g.data_entry, "hot_storage": g.hot_storage}
        for g in p.groups.values()
    }
    partitions = {
        part: {"node_group": g.name, "max_minutes": p.max_minutes_of(part)}
        for g in p.groups.values()
        for part in g.partitions
    }
    return _dump({"node_groups": groups, "partitions": partitions, "note": "max_minutes: the docs' limit, a hint"})


def storage_document(p: Platform) -> str:
    """Each storage pool: hot or cold, file system, whose home it is, where it is writable."""
    pools = {
        s.root: {
            "kind": s.kind,
            "fs": s.fs,
            **({"home_of": list(s.groups)} if s.groups else {}),
            **({"union_of": list(s.union_of)} if s.union_of else {}),
            "writable_on": list(s.writable_on),
        }
        for s in p.storage.values()
    }
    return _dump({"pools": pools, "rules": list(STORAGE_RULES)})


def submit_job_prompt(partition: str, node_group: str, goal: str, p: Platform) -> str:
    """The flow for one job; the partition may still be open (then picked with sinfo in the node group)."""
    group = p.group_of_partition(partition) if partition else p.group(node_group) if node_group else None
    if group is None:
        where = "Ask me which cluster (node group pi, kp or sy) or partition, then use it below"
        part = "PARTITION"
    else:
        where = f"Node group {group.name} ({group.title}), login node {group.job_entry}"
        part = partition or "PARTITION"
        if not partition:
            where += f"; pick the partition with me from run_slurm sinfo node_group={group.name}"
    hot = group.hot_storage if group else "/lustre or /dssg"
    return (
        f"Submit and follow a Slurm job. {where}. Goal: {goal or 'ask me what the job should do'}.\n"
        "1. credential_status; if it is not ready_for_ssh, follow its next_step (request_token, "
        "request_certificate) and tell me when I must approve in 交我办.\n"
        f"2. Write the job script with me. It must read only hot storage ({hot}); copy cold data first.\n"
        f"3. run_slurm sbatch partition={part} with test_only=true; show me the estimate and the options. A "
        "warning about a module load line: fix it from run_slurm modules (module=NAME says how to load it).\n"
        "4. After I agree, run_slurm sbatch again without test_only (notify=end if I want a mail when it "
        "ends); note the job id.\n"
        "5. Follow it with run_slurm wait (or squeue) every minute or so, not faster; when it ends, show "
        "run_slurm seff and, if it failed, job_output stream=stderr, and say what to change.\n"
        "6. For the job's own files (e.g. the end of run1/log.txt, or which lines mention NaN) use "
        "manage_storage read (mode tail; mode match with pattern NaN); stat tells whether a file grows."
    )


def archive_prompt(path: str, pool: str) -> str:
    if pool and pool != "cold":
        where = f"{pool}, the same personal path (e.g. /lustre/home/acct-x/u/run1 -> {pool}/home/acct-x/u/run1)"
    else:
        where = "cold: the cold pool with the most free space"
    return (
        f"Move {path} to cold storage (destination {where}).\n"
        "1. credential_status; make sure SSH is ready.\n"
        "2. manage_storage usage on the path and manage_storage free: tell me the size and the free space.\n"
        f"3. transfer_data start source={path} and that destination, mode=copy; follow it with "
        "transfer_data status (wait_s up to 50) until it is done, telling me the progress.\n"
        "4. transfer_data status verify=true; only if the checksums match, ask me whether to delete the hot "
        "copy, and do so only with my yes (manage_storage remove, confirm=true).\n"
        "Jobs cannot read cold storage: remind me to copy data back before using it in a job."
    )


def completions(argument: str, prefix: str, known: dict[str, str], p: Platform) -> list[str]:
    """Values for a prompt argument starting with `prefix`; `known` holds arguments already chosen."""
    if argument == "partition":
        group = known.get("node_group")
        values = [x for g in p.groups.values() if not group or g.name == group for x in g.partitions]
    elif argument == "node_group":
        values = list(p.groups)
    elif argument == "pool":
        values = [*p.cold_pools, "cold"]
    else:
        values = []
    return [v for v in values if v.startswith(prefix)][:100]


FIRST_MAP_BUDGET = 1200  # bytes: hosts that defer tools show the model only the names and this text


def first_map(p: Platform, read_only: bool = False) -> str:
    """The server's `instructions`: which tool for which need, where things run, consent and waiting.

    In hosts that defer tools (Claude Code) it is all the model knows until it loads a tool, so it names
    every tool's use and the rules a model cannot guess; the partitions come from the platform table.
    """
    groups = "; ".join(
        f"{g.name}: {', '.join(g.partitions[:3])}" + ("…" if len(g.partitions) > 3 else "") for g in p.groups.values()
    )
    hot = sorted(r for r, s in p.storage.items() if s.kind == "hot")
    cold = sorted(r for r, s in p.storage.items() if s.kind == "cold" and not s.union_of)
    lines = [
        "Acts for one person on the SJTU HPC platform (交我算). First call credential_status: what is missing, "
        "and the next step.",
        "request_token: the password comes from a file the person uploads (password_file) or a one-time page "
        "(page_url in the result), never from the chat. request_certificate: the person approves in 交我办 or "
        "by email.",
        "run_slurm (sinfo, squeue, sacct, seff, sbatch, scancel, job_output, wait; modules: software; since: "
        f"jobs ended since last asked): give a partition or a node_group ({groups}); never name a host.",
        f"Data: manage_storage (list, read, stat, usage, free, mkdir, remove) and transfer_data (hot "
        f"{', '.join(hot)} <-> cold {', '.join(cold)}; start, status, cancel, list).",
        "Account: get_user, query_quota, update_user.",
    ]
    if read_only:
        lines.append("This server is read-only: it can look, never change anything.")
    else:
        lines.append(
            "Consent: scancel, remove, overwrite, move, cancelling a transfer and update_user change nothing "
            "without confirm=true: show the person the preview, and call again with confirm=true only after "
            "they agree."
        )
    lines.append(
        "Waiting: no call waits over 50 s; a status like waiting_for_approval or running means call again "
        "(wait, status) to go on. Errors read 'E_CODE: what. Fix: what to do'."
    )
    return "\n".join(lines)
