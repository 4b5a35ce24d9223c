"""`sjtu-hpc-mcp doctor`: judging what the checks saw, and the report's text and JSON forms. Pure.

The shell (shell/doctor.py) looks (names, known_hosts, the API, the credential files, SSH to each entry
node) and hands over plain facts; every verdict (ok, warning, problem), every fix and both output forms
are decided here. A warning never blocks use (e.g. no credentials yet: the fix is the next step); a problem
does, and makes the exit status non-zero. No secret reaches a report: the shell never hands one over, and
`scrub` removes the token and key material it knows of (and anything shaped like a private key or a JWT)
from every text before it is shown.

model.py: the bounds, Check and Report, and the facts the shell hands over; probe.py: the remote check
script and its parser; checks.py: the verdicts and their fixes; clock.py: the clock judgement;
report.py: secret scrubbing and the text and JSON forms.
"""

from __future__ import annotations

from .checks import (
    GET_API_KEY,
    GET_CERT,
    judge,
    judge_api,
    judge_certificate,
    judge_files,
    judge_host_keys,
    judge_local_roots,
    judge_resolved,
    judge_slurm,
    judge_ssh,
    judge_ssh_skipped,
    judge_storage,
    judge_token,
    keyscan_fix,
    slurm_versions,
)
from .clock import judge_clock, local_clock_suspect, skew_of
from .model import (
    API_MAX_S,
    BLAME,
    CERT_RENEW_S,
    CLOCK_PROBLEM_S,
    CLOCK_WARN_S,
    COMMAND_MAX_S,
    DNS_S,
    FORMAT,
    HELP_MAIL,
    KEYS_PUBLISHED,
    NEARLY_FULL,
    NODE_MAX_S,
    ApiSeen,
    Check,
    Failure,
    HostKeys,
    LocalRoot,
    NodeSeen,
    Report,
    Resolved,
    Seen,
    Status,
    exit_status,
    short,
    where,
)
from .probe import PROBE_SH, Pool, parse_probe
from .report import REDACTED, one_line, public_url, render_json, render_text, report_json, scrub, scrubbed

__all__ = [
    "API_MAX_S",
    "BLAME",
    "CERT_RENEW_S",
    "CLOCK_PROBLEM_S",
    "CLOCK_WARN_S",
    "COMMAND_MAX_S",
    "DNS_S",
    "FORMAT",
    "GET_API_KEY",
    "GET_CERT",
    "HELP_MAIL",
    "KEYS_PUBLISHED",
    "NEARLY_FULL",
    "NODE_MAX_S",
    "PROBE_SH",
    "REDACTED",
    "ApiSeen",
    "Check",
    "Failure",
    "HostKeys",
    "LocalRoot",
    "NodeSeen",
    "Pool",
    "Report",
    "Resolved",
    "Seen",
    "Status",
    "exit_status",
    "judge",
    "judge_api",
    "judge_certificate",
    "judge_clock",
    "judge_files",
    "judge_host_keys",
    "judge_local_roots",
    "judge_resolved",
    "judge_slurm",
    "judge_ssh",
    "judge_ssh_skipped",
    "judge_storage",
    "judge_token",
    "keyscan_fix",
    "local_clock_suspect",
    "one_line",
    "parse_probe",
    "public_url",
    "render_json",
    "render_text",
    "report_json",
    "scrub",
    "scrubbed",
    "short",
    "skew_of",
    "slurm_versions",
    "where",
]
