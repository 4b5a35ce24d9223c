"""The report's forms: secrets scrubbed out, lines for a person, JSON for a support request. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .model import Check, Report

# -- secrets -----------------------------------------------------------------------------------------

_PRIVATE_BLOCK_RE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)
_JWT_RE = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")
_BEARER_RE = re.compile(r"(?i)\bbearer\s+[\x21-\x7e]{8,}")
_USERINFO_RE = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", re.I)
REDACTED = "<redacted>"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without any of `secrets`, private-key blocks, JWTs or bearer credentials."""
    for s in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(s, REDACTED)
    text = _PRIVATE_BLOCK_RE.sub(REDACTED, text)
    text = _JWT_RE.sub(REDACTED, text)
    return _BEARER_RE.sub("Bearer " + REDACTED, text)


def public_url(url: str) -> str:
    """A URL without user:password@, query or fragment."""
    return _USERINFO_RE.sub(r"\1", url).split("?", 1)[0].split("#", 1)[0]


def scrubbed(report: Report, secrets: Iterable[str]) -> Report:
    found = tuple(secrets)
    checks = [
        c.model_copy(update={"detail": scrub(c.detail, found), "fix": scrub(c.fix, found)}) for c in report.checks
    ]
    settings = {k: scrub(v, found) for k, v in report.settings.items()}
    return report.model_copy(update={"checks": checks, "settings": settings})


# -- output ------------------------------------------------------------------------------------------

_WIDTH = max(len(s) for s in ("ok", "warning", "problem"))


def one_line(c: Check) -> str:
    text = f"{c.status:<{_WIDTH}}  {c.name}: {' '.join(c.detail.split())}"
    return f"{text} Fix: {' '.join(c.fix.split())}" if c.fix else text


def render_text(report: Report) -> str:
    """Lines for a person: a heading with the versions, one line per check, a summary."""
    versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())
    lines = [f"sjtu-hpc-mcp doctor ({report.when}; {versions})"]
    lines += [one_line(c) for c in report.checks]
    n = report.counts
    verdict = (
        "something blocks use (exit status 1)"
        if report.exit_status
        else "nothing blocks use" + (" (see the warnings)" if n["warning"] else "")
    )
    lines.append(
        f"{n['ok']} ok, {n['warning']} warning{'s' * (n['warning'] != 1)}, "
        f"{n['problem']} problem{'s' * (n['problem'] != 1)} in {report.took_s:.1f} s: {verdict}."
    )
    return "\n".join(lines) + "\n"


def report_json(report: Report) -> dict[str, object]:
    """One machine-readable report: what a person pastes into a support request."""
    return {
        "format": report.format,
        "when": report.when,
        "took_s": report.took_s,
        "versions": report.versions,
        "settings": report.settings,
        "checks": [c.model_dump() for c in report.checks],
        "summary": report.counts,
        "exit_status": report.exit_status,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, indent=2) + "\n"
