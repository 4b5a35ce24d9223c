"""The verdicts: each check's status, detail and fix from what the shell saw, and `judge` over a run. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from ..account import human_bytes
from ..credentials import CredentialStatus
from .clock import judge_clock, local_clock_suspect
from .model import (
    BLAME,
    CERT_RENEW_S,
    HELP_MAIL,
    KEYS_PUBLISHED,
    NEARLY_FULL,
    ApiSeen,
    Check,
    Failure,
    HostKeys,
    LocalRoot,
    NodeSeen,
    Resolved,
    Seen,
    short,
    where,
)
from .probe import Pool, parse_probe

GET_API_KEY = (
    "In your MCP client, ask the assistant for an API token (tool request_token: you upload a one-line password "
    "file or type the password in its one-time page on this computer)"
)
GET_CERT = (
    "In your MCP client, ask the assistant for an SSH certificate (tool request_certificate: you approve it "
    "in 交我办 or by email)"
)


def judge_resolved(r: Resolved) -> Check:
    name = f"dns {short(r.node)}"
    mapped = r.host != r.node
    what = f"{r.node} (mapped to {r.host})" if mapped else r.node
    if r.failure is not None or not r.addresses:
        reason = r.failure.message if r.failure else "no address"
        fix = (
            "Check the --host-map address."
            if mapped
            else "Check this computer's network and DNS (off campus: connect the SJTU VPN), then run doctor again."
        )
        return Check(name=name, status="problem", detail=f"{what} does not resolve: {reason}.", fix=fix)
    return Check(name=name, status="ok", detail=f"{what} resolves to {', '.join(r.addresses[:4])}.")


def keyscan_fix(h: HostKeys, changed: bool = False) -> str:
    """How to add a node's host key safely: fetch it, compare its fingerprint with the published one, then add."""
    port = f"-p {h.port} " if h.port != 22 else ""
    entry = h.host if h.port == 22 else f"[{h.host}]:{h.port}"
    now = f"; it presents {h.presented} now (unverified)" if h.presented else ""
    tmp = f"{short(h.node)}.hostkey"
    add = (
        f"remove the old entry (ssh-keygen -R '{entry}' -f {h.known_hosts}) and append the new one"
        if changed
        else "append it"
    )
    return (
        f"Fetch the key without trusting it: ssh-keyscan -t ed25519 {port}{h.host} > {tmp}; "
        f"ssh-keygen -lf {tmp} shows its fingerprint{now}. Compare it with {KEYS_PUBLISHED}; "
        f"only if they are the same, {add}: cat {tmp} >> {h.known_hosts}. "
        f"If they differ, do not add it and tell {HELP_MAIL}."
    )


def judge_host_keys(h: HostKeys) -> Check:
    name = f"known_hosts {short(h.node)}"
    where_ = where(h.node, h.host, h.port)
    if not h.file_exists:
        return Check(
            name=name,
            status="problem",
            detail=f"{h.known_hosts} does not exist, so the host key of {where_} cannot be verified.",
            fix=keyscan_fix(h) + " (or point --known-hosts at the file that has them)",
        )
    if h.unreadable is not None:
        return Check(
            name=name,
            status="problem",
            detail=f"{h.known_hosts} cannot be read: {h.unreadable}.",
            fix="Correct or remove the line it names (ssh-keygen -F HOST -f FILE shows a host's lines).",
        )
    if not h.trusted:
        return Check(
            name=name,
            status="problem",
            detail=f"{h.known_hosts} has no host key for {where_}; the server refuses to connect to it.",
            fix=keyscan_fix(h),
        )
    return Check(name=name, status="ok", detail=f"{where_}: {'; '.join(h.trusted[:3])}.")


def judge_api(a: ApiSeen) -> Check:
    name = "api"
    if a.answered:
        how = (
            "refreshed the token"
            if a.refreshed
            else "refused the token (it answered)"
            if a.token_refused
            else f"answered an unauthenticated request (HTTP {a.status_code})"
        )
        return Check(name=name, status="ok", detail=f"{a.url} {how} in {a.elapsed_ms} ms.")
    f = a.failure or Failure("E_API_UNREACHABLE", "no answer")
    return Check(
        name=name,
        status="problem",
        detail=f"{a.url} does not answer ({f.code}): {f.message.rstrip('.')}.",
        fix=f.fix
        or "Check the network or VPN (the API may be reachable only from campus or over the SJTU VPN) and --api-url.",
    )


def judge_files(st: CredentialStatus) -> Check:
    unsafe = [
        what
        for what, s in (("the folder", st.folder), ("hpc_token", st.token), ("id_ed25519", st.private_key))
        if not s.safe
    ]
    folder = st.folder.path or "the credentials folder"
    if unsafe:
        return Check(
            name="credential files",
            status="problem",
            detail=f"In {folder}, {', '.join(unsafe)} can be read by others or is not yours.",
            fix=f"chmod 700 {folder}; chmod 600 {folder}/hpc_token {folder}/id_ed25519; then get a new token and "
            "certificate, since others may have read them.",
        )
    if not st.folder.present:
        return Check(name="credential files", status="ok", detail=f"{folder} does not exist yet (no credentials).")
    return Check(name="credential files", status="ok", detail=f"{folder}: only you can read the secret files.")


def judge_token(st: CredentialStatus, api: ApiSeen | None) -> Check:
    name = "token"
    if not st.token.present:
        both = "" if st.certificate.present else " (and no certificate: a first start)"
        return Check(name=name, status="warning", detail=f"No API token{both}.", fix=GET_API_KEY + ".")
    if api is None or not api.answered:
        return Check(
            name=name,
            status="warning",
            detail="An API token is stored (not shown); it was not checked because the API did not answer.",
            fix="Fix the api check, then run doctor again.",
        )
    if api.token_refused:
        return Check(
            name=name,
            status="warning",
            detail="The stored API token has expired or was refused.",
            fix=GET_API_KEY + " for a new one.",
        )
    return Check(name=name, status="ok", detail="The API token is valid (refreshed and stored again; not shown).")


def judge_certificate(st: CredentialStatus, now: datetime) -> Check:
    name = "certificate"
    c = st.certificate
    if not c.present:
        key = "" if st.private_key.present else " and no SSH key"
        return Check(name=name, status="warning", detail=f"No SSH certificate{key}.", fix=GET_CERT + ".")
    if c.valid_after is None:  # present but unreadable
        problem = next((p for p in st.problems if "certificate" in p.lower()), "It cannot be read.")
        return Check(
            name=name, status="warning", detail=f"The SSH certificate is not usable: {problem}", fix=GET_CERT + "."
        )
    who = f"for {', '.join(c.principals)}" if c.principals else "naming no user"
    window = f"{c.valid_after:%Y-%m-%d %H:%M} to " + (
        f"{c.valid_before:%Y-%m-%d %H:%M} UTC" if c.valid_before else "forever"
    )
    if c.valid_after > now:
        return Check(
            name=name,
            status="problem",
            detail=f"The SSH certificate ({who}) is valid only from {c.valid_after:%Y-%m-%d %H:%M:%S} UTC, "
            f"after this computer's clock ({now:%H:%M:%S} UTC).",
            fix="This computer's clock is probably behind: turn on automatic time (timedatectl set-ntp true, or the "
            "system's date and time settings), then run doctor again.",
        )
    if not c.valid_now:
        return Check(
            name=name,
            status="warning",
            detail=f"The SSH certificate ({who}) expired at {c.valid_before:%Y-%m-%d %H:%M} UTC.",
            fix=GET_CERT + " for a new one, then run doctor again to check SSH.",
        )
    if not st.private_key.present:
        return Check(name=name, status="warning", detail="The certificate's key id_ed25519 is missing.", fix=GET_CERT)
    if c.matches_key is False:
        return Check(
            name=name,
            status="warning",
            detail="The SSH certificate does not belong to id_ed25519.",
            fix=GET_CERT + " for a new pair.",
        )
    left = c.seconds_left
    if left is not None and left < CERT_RENEW_S:
        return Check(
            name=name,
            status="warning",
            detail=f"The SSH certificate ({who}) expires in {left} s.",
            fix=GET_CERT + " for a new one.",
        )
    rest = "" if left is None else f", {_duration(left)} left"
    return Check(name=name, status="ok", detail=f"Valid {window} ({who}{rest}); it belongs to id_ed25519.")


def _duration(s: int) -> str:
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def judge_ssh_skipped(st: CredentialStatus | None) -> Check:
    return Check(
        name="ssh",
        status="warning",
        detail="The entry nodes were not tried: there is no valid SSH certificate "
        "(so Slurm, storage and clocks were not checked either).",
        fix=(GET_CERT + ", then run doctor again.") if st is None or st.private_key.safe else "Fix the files first.",
    )


def judge_ssh(n: NodeSeen, key_known: bool = True) -> Check:
    """`key_known`: known_hosts has a key for the node (so E_HOSTKEY means the node presents another)."""
    name = f"ssh {short(n.node)}"
    where_ = where(n.node, n.host, n.port)
    if n.failure is not None:
        f = n.failure
        return Check(
            name=name, status="problem", detail=f"{f.message.rstrip('.')} ({f.code}).", fix=_ssh_fix(n, f, key_known)
        )
    called = f"; it calls itself {n.hostname}" if n.hostname else ""
    return Check(
        name=name,
        status="ok",
        detail=f"{where_}: logged in as {n.user} with the certificate "
        f"({n.connect_ms} ms, first command included){called}.",
    )


def _ssh_fix(n: NodeSeen, f: Failure, key_known: bool) -> str:
    blame = BLAME.get(f.code)
    if blame == "host key":
        if not key_known:
            return f"Add its host key safely, as the known_hosts {short(n.node)} line says."
        keys = HostKeys(n.node, n.host, n.port, n.known_hosts or "your known_hosts", True)
        return "The node's host key has CHANGED: do not connect until it is verified. " + keyscan_fix(keys, True)
    if blame == "network":
        arm = (
            " armlogin (ARM) is reachable only from the campus network."
            if short(n.node) == "armlogin" and "campus" not in f.message
            else ""
        )
        return (
            f"Check the network (off campus: the SJTU VPN) and try again later; if it persists, the node may be down: "
            f"see the platform's notices or tell {HELP_MAIL}.{arm}"
        )
    if blame == "certificate":
        return GET_CERT + " for a new one (this one may be revoked or name another user)."
    return f.fix or "Try again; if it persists, tell " + HELP_MAIL + "."


def _probe_failed(name: str, n: NodeSeen) -> Check:
    """The node's check command itself failed: the Slurm and storage lines say so alike."""
    f = n.probe_failure
    assert f is not None
    return Check(
        name=name,
        status="problem",
        detail=f"The check command failed on {n.node}: {f.message.rstrip('.')} ({f.code}).",
        fix="Run doctor again; if it persists, tell " + HELP_MAIL + ".",
    )


def judge_slurm(n: NodeSeen, version: str | None) -> Check:
    name = f"slurm {short(n.node)}"
    if n.probe_failure is not None:
        return _probe_failed(name, n)
    if not version:
        return Check(
            name=name,
            status="problem",
            detail=f"Neither sinfo --version nor scontrol --version answers on {n.node}.",
            fix=f"Slurm commands are missing on the login node: tell {HELP_MAIL}.",
        )
    return Check(name=name, status="ok", detail=f"Slurm {version} on {n.node}.")


def judge_storage(n: NodeSeen, pools: Mapping[str, Pool | None]) -> Check:
    name = f"storage {short(n.node)}"
    if n.probe_failure is not None:
        return _probe_failed(name, n)
    missing = [r for r in n.roots if pools.get(r) is None]
    unmounted = [r for r in n.roots if (p := pools.get(r)) is not None and p.mount == "/" and r != "/"]
    full = [r for r in n.roots if (p := pools.get(r)) is not None and p.total and p.free / p.total < NEARLY_FULL]
    shown = "; ".join(
        f"{r} {human_bytes(p.free)} free of {human_bytes(p.total)}" for r in n.roots if (p := pools.get(r)) is not None
    )
    if missing:
        return Check(
            name=name,
            status="problem",
            detail=f"{n.node} does not show {', '.join(missing)}" + (f" ({shown})." if shown else "."),
            fix=f"The pool is not mounted there: see the platform's notices or tell {HELP_MAIL}.",
        )
    if unmounted or full:
        said = []
        if unmounted:
            said.append(f"{', '.join(unmounted)} is not a mount of its own (df shows /)")
        if full:
            said.append(f"{', '.join(full)} is nearly full")
        return Check(
            name=name,
            status="warning",
            detail=f"{n.node}: {'; '.join(said)} ({shown}).",
            fix=f"Writes there may fail; if it persists, tell {HELP_MAIL}.",
        )
    return Check(name=name, status="ok", detail=f"{n.node}: {shown}." if shown else f"{n.node}: no pool listed.")


def judge_local_roots(roots: Sequence[LocalRoot]) -> Check:
    name = "local roots"
    client = (
        "Folders an MCP client shares (its roots) are known only while a client is connected; at the command line "
        "only --local-root applies"
    )
    if not roots:
        return Check(
            name=name,
            status="ok",
            detail=f"No --local-root given. {client}, so transfers to or from this computer use only the "
            "client's roots.",
        )
    bad = [r.path for r in roots if not r.is_dir]
    listed = ", ".join(r.path for r in roots)
    if bad:
        return Check(
            name=name,
            status="warning",
            detail=f"--local-root {listed}: not a folder here: {', '.join(bad)}. {client}.",
            fix="Create the folder or correct --local-root (folders separated by ':').",
        )
    return Check(name=name, status="ok", detail=f"--local-root in force: {listed}. {client}.")


def judge(seen: Seen) -> list[Check]:
    """Every check, in a stable order: names, known_hosts, API, credentials, SSH per node, local roots."""
    checks = [judge_resolved(r) for r in seen.resolved]
    checks += [judge_host_keys(h) for h in seen.host_keys]
    if seen.api is not None:
        checks.append(judge_api(seen.api))
    st = seen.credentials
    if st is not None and seen.now is not None:
        checks += [judge_files(st), judge_token(st, seen.api), judge_certificate(st, seen.now)]
    if seen.ssh_skipped:
        checks.append(judge_ssh_skipped(st))
    suspect = local_clock_suspect(seen.nodes)
    unknown = {h.node for h in seen.host_keys if not h.trusted}
    for n in seen.nodes:
        checks.append(judge_ssh(n, key_known=n.node not in unknown))
        if n.failure is not None:
            continue
        version, pools = parse_probe(n.probe or "")
        if n.login:
            checks.append(judge_slurm(n, version))
        checks.append(judge_storage(n, pools))
        checks.append(judge_clock(n, suspect))
    checks.append(judge_local_roots(seen.local_roots))
    return checks


def slurm_versions(seen: Seen) -> dict[str, str]:
    found = {}
    for n in seen.nodes:
        version = parse_probe(n.probe or "")[0] if n.failure is None and n.login else None
        if version:
            found[f"slurm@{short(n.node)}"] = version
    return found
