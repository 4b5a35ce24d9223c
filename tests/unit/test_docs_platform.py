"""docs/platform.md stays the one place the platform facts are explained (issue 15, item 5).

- every reference of the form `docs/platform.md#<anchor>` in server/, tests/, README.md and SKILL.md
  names a heading of the page (GitHub's anchor rules);
- nothing in server/ or tests/ still points at the old, out-of-repository fact sheet;
- every node group, partition, entry node and storage mount of core/platform.toml is named on the page,
  so the page cannot drift silently from the table.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "platform.md"
TABLE = ROOT / "server" / "sjtu_hpc_mcp" / "core" / "platform.toml"
OLD_NAME = "PLATFORM" + ".md"  # spelled apart so this file does not match itself
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".txt", ".json", ".yml", ".yaml", ".cfg", ".ini", ""}
SKIP_DIRS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
REF_RE = re.compile(r"docs/platform\.md#([\w-]+)")


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LNM")
    return text.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _text_files(*tops: str) -> list[Path]:
    files: list[Path] = []
    for top in tops:
        base = ROOT / top
        candidates = [base] if base.is_file() else sorted(base.rglob("*"))
        for p in candidates:
            rel = p.relative_to(ROOT).parts
            if not p.is_file() or any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel):
                continue
            if p.suffix in TEXT_SUFFIXES:
                files.append(p)
    return files


def _read(p: Path) -> str:
    return p.read_text(encoding="utf-8", errors="replace")


def test_slug_follows_github() -> None:
    assert _slug("Node groups") == "node-groups"
    assert _slug("The SJTU HPC platform (交我算): what this server relies on") == (
        "the-sjtu-hpc-platform-交我算-what-this-server-relies-on"
    )
    assert _anchors("# A\n```\n# not a heading\n```\n## A\n") == {"a", "a-1"}


def test_every_reference_names_an_anchor() -> None:
    anchors = _anchors(_read(DOC))
    refs = {
        (str(p.relative_to(ROOT)), anchor)
        for p in _text_files("server", "tests", "README.md", "SKILL.md")
        for anchor in REF_RE.findall(_read(p))
    }
    assert refs, "no file refers to docs/platform.md any more"
    missing = sorted((where, a) for where, a in refs if a not in anchors)
    assert not missing, f"anchors not in docs/platform.md {sorted(anchors)}: {missing}"


def test_no_reference_to_the_old_fact_sheet() -> None:
    stale = [str(p.relative_to(ROOT)) for p in _text_files("server", "tests") if OLD_NAME in _read(p)]
    assert not stale, f"{OLD_NAME} is not in the repository; point at docs/platform.md instead: {stale}"


def _table_names() -> list[tuple[str, str]]:
    table = tomllib.loads(TABLE.read_text(encoding="utf-8"))
    names: list[tuple[str, str]] = []
    for group, row in table["node_groups"].items():
        names.append(("node group", group))
        names += [("partition", p) for p in row["partitions"]]
        names += [("entry node", row["job_entry"]), ("entry node", row["data_entry"])]
        names += [("job path", p) for p in row.get("job_paths", [])]
    names += [("storage", root) for root in table["storage"]]
    return list(dict.fromkeys(names))


@pytest.mark.parametrize(("kind", "name"), _table_names(), ids=lambda v: str(v))
def test_the_page_names_every_row_of_the_table(kind: str, name: str) -> None:
    where = "docs/platform.md"
    assert f"`{name}`" in _read(DOC), f"{kind} {name!r} of platform.toml is not named (in backticks) in {where}"
