"""The clock check: how far each node's clock is from this computer's, and whose is off. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from .model import CLOCK_PROBLEM_S, CLOCK_WARN_S, HELP_MAIL, Check, Failure, NodeSeen, Status, short


def skew_of(n: NodeSeen) -> float | None:
    if n.remote_clock is None or n.local_clock is None:
        return None
    return n.remote_clock - n.local_clock


def local_clock_suspect(nodes: Sequence[NodeSeen]) -> bool:
    """Most nodes are off from this computer (and so agree with each other): this computer's clock is off."""
    off = [abs(s) - n.clock_uncertainty > CLOCK_WARN_S for n in nodes if (s := skew_of(n)) is not None]
    return len(off) >= 2 and sum(off) > len(off) / 2


def judge_clock(n: NodeSeen, local_suspect: bool) -> Check:
    name = f"clock {short(n.node)}"
    if n.clock_failure is not None or (skew := skew_of(n)) is None:
        f = n.clock_failure or Failure("E_REMOTE", "no answer")
        return Check(
            name=name,
            status="warning",
            detail=f"The node's clock could not be read: {f.message.rstrip('.')} ({f.code}).",
            fix="Run doctor again.",
        )
    beyond = abs(skew) - n.clock_uncertainty
    sign = "ahead of" if skew > 0 else "behind"
    text = f"{n.node} is {abs(skew):.0f} s {sign} this computer (±{n.clock_uncertainty:.0f} s)"
    if beyond <= CLOCK_WARN_S:
        return Check(name=name, status="ok", detail=text + ".")
    status: Status = "problem" if beyond > CLOCK_PROBLEM_S else "warning"
    why = (
        " Certificates are valid from about a minute before they are signed: a clock this far off makes a new one "
        "look not yet valid, or an old one still valid."
    )
    if local_suspect:
        fix = (
            "This computer's clock is off (the nodes agree with each other): turn on automatic time "
            "(timedatectl set-ntp true, or the system's date and time settings)."
        )
    else:
        fix = f"{n.node}'s clock is off while the others agree with this computer: tell {HELP_MAIL}."
    return Check(name=name, status=status, detail=text + "." + why, fix=fix)
