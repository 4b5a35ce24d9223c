"""Which modules a job script loads (`module load|add|swap`, `ml`), and which of them a node group
lacks: the warning sbatch gives before a job that would fail only after it queued. Pure.

The node group's modules come from `module -t spider` (core.slurm.modules.spider_all_argv and
parse_spider_all): every module, those behind a compiler level included. Lmod's names are
case-sensitive, and it completes a version prefix (`gcc/13` loads gcc/13.2.0): so does `is_available`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from sjtu_hpc_mcp.core.slurm.modules import NAME_RE


@dataclass(frozen=True)
class ModuleLoad:
    line: int  # 1-based, in the script as given
    module: str


_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;", "|&"})
_PREFIXES = frozenset({"if", "then", "do", "else", "elif", "while", "until", "!", "{", "time", "command"})
# `ml WORD` is `module WORD` when WORD is one of these; otherwise `ml A B` loads A and B (`ml -A` unloads).
_ML_SUBCOMMANDS = frozenset(
    "add load try-load try-add unload rm del purge reset refresh avail av spider list show display help whatis "
    "keyword key swap switch sw use unuse save restore savelist describe disable overview ov is-loaded "
    "is-avail update tablelist".split()
)
_DYNAMIC = re.compile(r"[$`*?\[\]{}~]")


def _logical_lines(script: str) -> list[tuple[int, str]]:
    """(first line number, text) with backslash-continued lines joined."""
    out: list[tuple[int, str]] = []
    start, parts = 0, list[str]()
    for number, line in enumerate(script.splitlines(), 1):
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        out.append((start, " ".join(parts)))
        parts = []
    if parts:
        out.append((start, " ".join(parts)))
    return out


def _words(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unclosed quote: words as they stand
        return re.findall(r"[;&|()]+|[^\s;&|()]+", text.split(" #", 1)[0])


def _loaded_by(command: str, args: list[str]) -> list[str]:
    """The modules a `module …` or `ml …` command loads (options and unloads left out)."""
    words = [a for a in args if not a.startswith("-")]
    if command == "ml" and (not words or words[0] not in _ML_SUBCOMMANDS):
        return words
    if not words:
        return []
    sub, rest = words[0], words[1:]
    if sub in ("load", "add"):
        return rest
    if sub in ("swap", "switch", "sw") and rest:
        return rest[-1:]
    return []  # try-load (a missing module is fine), unload, avail, …


def module_loads(script: str) -> list[ModuleLoad]:
    """The modules a job script loads with `module load|add|swap` or `ml`, in order.

    Names built at run time (`$VERSION`, globs) cannot be checked and are left out.
    """
    found: list[ModuleLoad] = []
    for number, text in _logical_lines(script):
        if text.lstrip().startswith("#"):
            continue
        words = _words(text)
        at_start = True
        i = 0
        while i < len(words):
            word = words[i]
            if word in _SEPARATORS:
                at_start = True
            elif at_start and word in _PREFIXES:
                pass
            elif at_start and word in ("module", "ml"):
                j = i + 1
                while j < len(words) and words[j] not in _SEPARATORS:
                    j += 1
                for name in _loaded_by(word, words[i + 1 : j]):
                    if not _DYNAMIC.search(name) and NAME_RE.fullmatch(name):
                        found.append(ModuleLoad(number, name))
                i, at_start = j, False
                continue
            else:
                at_start = False
            i += 1
    return found


def is_available(module: str, known: Iterable[str]) -> bool:
    """Whether `module load MODULE` finds it among `known` (full names and package names, as
    parse_spider_all gives): the exact name, a package name (its default), or a version prefix Lmod
    completes (gcc/11 -> gcc/11.2.0)."""
    for full in known:
        if full == module or full.startswith(module + "/"):
            return True
        if "/" in module and full.startswith(module + "."):
            return True
    return False


def missing_modules(script: str, known: Iterable[str]) -> list[ModuleLoad]:
    """The module loads of a job script that the node group cannot satisfy (each name once)."""
    names = list(known)
    seen: set[str] = set()
    missing: list[ModuleLoad] = []
    for use in module_loads(script):
        if use.module not in seen and not is_available(use.module, names):
            seen.add(use.module)
            missing.append(use)
    return missing


def missing_module_warnings(script: str, known: Iterable[str], group: str) -> list[str]:
    """Warnings for sbatch: each module the script loads that node group `group` lacks, with the
    versions it does have of that name (or of the same name in another case)."""
    names = list(known)
    warnings: list[str] = []
    for use in missing_modules(script, names):
        base = use.module.split("/", 1)[0].lower()
        near = [n for n in names if n.lower().split("/", 1)[0] == base and "/" in n][:8]
        offer = f"; it has {', '.join(near)}" if near else "; run_slurm modules lists what it has"
        warnings.append(
            f"Line {use.line} loads module {use.module}, which node group {group} does not have{offer}. "
            "The job would fail when it starts."
        )
    return warnings
