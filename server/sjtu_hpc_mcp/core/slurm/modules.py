"""Environment modules (Lmod) on a login node: the argv that asks, what its answers mean, and which
`module load` lines of a job script the node group cannot satisfy. Pure: no I/O.

`module` is a shell function that a login shell defines (/etc/profile.d: Debian's lmod.sh, the platform's
own profile), so every argv here is `bash -lc SCRIPT bash [VALUE]`: the script is fixed text and the filter
or module name is the positional argument `$1`, never part of the script. The value is also checked here
(`module_name`): names such as gcc/11.2.0 only, never an option. Lmod writes avail and spider to stderr;
each script sends it to stdout (`2>&1`), which also works with Tcl Environment Modules, and marks its
sections (`@avail`, `@rc N`) so that whatever a login profile prints first is skipped.

Lmod's avail filter is a case-insensitive substring (Lmod escapes the pattern's magic characters itself);
it also matches the module directory's name, so `parse_avail` filters again by the module names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from sjtu_hpc_mcp.core.errors import HpcError

# Module names as sites write them: gcc/11.2.0, intel-oneapi-compilers/2021.4.0, cuda/11.5.0-gcc-11.2.0.
MODULE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.+/-]{0,127}"
NAME_RE = re.compile(MODULE_NAME, re.ASCII)

AVAIL_SH = "; ".join(
    (
        'echo @avail; module -t avail "$@" 2>&1; echo "@rc $?"',
        'echo @defaults; module -t -d avail "$@" 2>&1; echo "@rc $?"',
    )
)
SPIDER_SH = 'echo @spider; module spider "$1" 2>&1; echo "@rc $?"'
SPIDER_ALL_SH = 'echo @spider; module -t spider 2>&1; echo "@rc $?"'
# Lmod's spider walks every module tree unless the site keeps a cache: allow it time.
SPIDER_S = 60.0

_NOT_FOUND = re.compile(r"Unable to find:|unable to locate a modulefile|No module\(s\) or extension\(s\) found")
_NO_MODULE_CMD = 127


def module_name(value: object, field: str = "module") -> str:
    """A module name or filter: letters, digits and `_ . + / -`, at most 128, not starting with `-` or `/`."""
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or "//" in value:
        shown = repr(value)[:80]
        raise HpcError(
            "E_ARG",
            f"{field} {shown} is not a module name.",
            "Give a name such as gcc, gcc/11.2.0 or cuda/12.1.1 (letters, digits and _ . + / -).",
        )
    return value


def _bash(script: str, *args: str) -> list[str]:
    return ["bash", "-lc", script, "bash", *args]


def avail_argv(filter_: str | None = None) -> list[str]:
    """`module -t avail [FILTER]` and the defaults (`-d`), in one login shell on the node."""
    return _bash(AVAIL_SH, *([] if filter_ is None else [module_name(filter_, "filter")]))


def spider_argv(name: str) -> list[str]:
    """`module spider NAME`: its versions, or for NAME/VERSION how to load it."""
    return _bash(SPIDER_SH, module_name(name))


def spider_all_argv() -> list[str]:
    """`module -t spider`: every module the node group has, those behind a compiler level included."""
    return _bash(SPIDER_ALL_SH)


# -- reading the answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    lines: list[str]
    rc: int | None  # None: the section did not finish (cut off), which is not trusted


def sections(out: str) -> dict[str, Section]:
    """`@name` … `@rc N` blocks; anything a login profile printed before the first marker is dropped."""
    found: dict[str, Section] = {}
    name: str | None = None
    lines: list[str] = []
    for raw in out.splitlines():
        line = raw.rstrip()
        if line in ("@avail", "@defaults", "@spider"):
            name, lines = line[1:], []
            found[name] = Section(lines, None)
        elif name is not None and line.startswith("@rc "):
            code = line[4:].strip()
            found[name] = Section(lines, int(code) if code.isdigit() else None)
            name = None
        elif name is not None:
            lines.append(line)
    return found


def _failure(section: Section | None, node: str, what: str) -> HpcError | None:
    if section is None or section.rc is None:
        said = "gave no answer" if section is None else "was cut off"
        return HpcError("E_MODULES", f"{what} on {node} {said}.", "Try again in a moment.")
    if section.rc == _NO_MODULE_CMD or any("module: command not found" in ln for ln in section.lines):
        return HpcError(
            "E_MODULES",
            f"{node} has no `module` command in a login shell, so it offers no environment modules.",
            "Tell the person; software may be installed elsewhere on this node group (ask hpc@sjtu.edu.cn).",
        )
    if section.rc not in (0, None) and not any(_NOT_FOUND.search(ln) for ln in section.lines):
        said = "; ".join(ln.strip() for ln in section.lines if ln.strip())[-300:] or f"exit status {section.rc}"
        return HpcError("E_MODULES", f"{what} on {node} failed: {said}", "Try again; if it persists, tell the person.")
    return None


class ModuleEntry(BaseModel):
    full: str  # gcc/11.2.0
    name: str  # gcc
    version: str | None = None  # 11.2.0
    default: bool = False  # what `module load <name>` loads


class ModuleList(BaseModel):
    modules: list[ModuleEntry]
    paths: list[str]  # the module directories they came from


_SUFFIX = re.compile(r"\(([^()]*)\)$")


def _entry_text(line: str) -> tuple[str, bool] | None:
    """(full name, marked default) of a terse line; None for a heading, a package line, an alias or noise."""
    text = line.strip()
    default = False
    while (m := _SUFFIX.search(text)) is not None:
        mark = m.group(1)
        if mark.startswith("@"):
            return None  # an alias: `name(@gcc/11.2.0)`
        default = default or mark in ("default", "D")
        text = text[: m.start()].rstrip()
    if not text or text.endswith("/") or text.endswith(":") or " " in text:
        return None
    if any(part.startswith(".") for part in text.split("/")):
        return None  # hidden (a version starting with a dot); Lmod lists it only with --show_hidden
    return (text, default) if NAME_RE.fullmatch(text) else None


def _terse(lines: Iterable[str]) -> tuple[list[tuple[str, bool]], list[str], set[str]]:
    """Entries, module directories and package names (`gcc/` lines) of terse output."""
    entries: list[tuple[str, bool]] = []
    paths: list[str] = []
    names: set[str] = set()
    for line in lines:
        text = line.strip()
        if text.startswith("/") and text.endswith(":"):
            paths.append(text[:-1])
        elif text.endswith("/") and NAME_RE.fullmatch(text[:-1]):
            names.add(text[:-1])
        else:
            entry = _entry_text(text)
            if entry is not None:
                entries.append(entry)
    return entries, paths, names


def _split(full: str, names: set[str]) -> tuple[str, str | None]:
    """gcc/11.2.0 -> (gcc, 11.2.0); for name/version/version trees the package lines say where the name ends."""
    known = [n for n in names if full.startswith(n + "/")]
    if known:
        name = max(known, key=len)
        return name, full[len(name) + 1 :]
    head, sep, tail = full.rpartition("/")
    return (head, tail) if sep else (full, None)


def parse_avail(out: str, node: str, filter_: str | None = None) -> ModuleList:
    """What avail_argv printed: each module once, with the default of each name marked."""
    found = sections(out)
    avail, default_only = found.get("avail"), found.get("defaults")
    failure = _failure(avail, node, "module avail") or _failure(default_only, node, "module avail -d")
    if failure is not None:
        raise failure
    assert avail is not None and default_only is not None
    entries, paths, names = _terse(avail.lines)
    defaults = {full for full, _ in _terse(default_only.lines)[0]}
    seen: dict[str, ModuleEntry] = {}
    wanted = None if filter_ is None else filter_.lower()
    for full, marked in entries:
        if full in seen or (wanted is not None and wanted not in full.lower()):
            continue
        name, version = _split(full, names)
        seen[full] = ModuleEntry(full=full, name=name, version=version, default=marked or full in defaults)
    return ModuleList(modules=list(seen.values()), paths=list(dict.fromkeys(paths)))


def parse_spider_all(out: str, node: str) -> list[str]:
    """What spider_all_argv printed: every module's full name, and every package name (loads its default)."""
    spider = sections(out).get("spider")
    failure = _failure(spider, node, "module spider")
    if failure is not None:
        raise failure
    assert spider is not None
    entries, _, names = _terse(spider.lines)
    return sorted({full for full, _ in entries} | names)


class ModuleInfo(BaseModel):
    """One module as `module spider NAME` describes it."""

    query: str
    found: bool
    name: str | None = None
    versions: list[str] = []  # full names
    description: str | None = None
    loadable_directly: bool | None = None  # for one version: no other module needs loading first
    needs: list[list[str]] = []  # for one version: load all modules of any one of these lines first
    load: str | None = None  # the command that loads it, e.g. `module load gcc/13.2.0 gromacs/2023.2`
    others: list[str] = []  # other modules whose names match


_HEADING = re.compile(r"^\s{2}(\S[^:]*):\s*(\S.*)?$")
_LOAD_DIRECTLY = re.compile(r"can be loaded directly:\s*module load (\S+)")
_NEED = re.compile(r"You will need to load all module")
_RULE = re.compile(r"^-{10,}$")


def _block(lines: Sequence[str], start: int) -> list[str]:
    """The indented lines after a label (`Versions:`, `Description:`, the sentence before the module lines
    to load first): blank lines first are skipped; a blank line, a rule or the next label ends it."""
    out: list[str] = []
    for line in lines[start:]:
        text = line.strip()
        if not text and not out:
            continue
        if not text or _RULE.match(text) or (text.endswith(":") and " " not in text):
            break
        out.append(text)
    return out


def parse_spider(out: str, node: str, query: str) -> ModuleInfo:
    """What spider_argv printed. A name Lmod cannot find is `found=False`, not a failure."""
    spider = sections(out).get("spider")
    failure = _failure(spider, node, "module spider")
    if failure is not None:
        raise failure
    assert spider is not None
    lines = spider.lines
    if any(_NOT_FOUND.search(ln) for ln in lines) or not any(ln.strip() for ln in lines):
        return ModuleInfo(query=query, found=False)
    info = ModuleInfo(query=query, found=True)
    for i, line in enumerate(lines):
        text = line.strip()
        heading = _HEADING.match(line)
        if heading and i > 0 and _RULE.match(lines[i - 1].strip()) and info.name is None:
            info.name = heading.group(1).strip()
            if heading.group(2):  # `gromacs: gromacs/2023.2`: one version
                info.versions = [v for v in heading.group(2).split(",") if v.strip()]
                info.versions = [v.strip() for v in info.versions]
        elif text == "Versions:":
            info.versions = [v.split()[0] for v in _block(lines, i + 1)]
        elif text == "Description:":
            info.description = " ".join(_block(lines, i + 1))[:500] or None
        elif text.startswith("Other possible modules matches:"):
            info.others = [w for ln in _block(lines, i + 1) for w in ln.split() if NAME_RE.fullmatch(w)]
        elif (m := _LOAD_DIRECTLY.search(text)) is not None:
            info.loadable_directly, info.load = True, f"module load {m.group(1)}"
        elif _NEED.search(text):
            info.loadable_directly = False
            end = next((j for j in range(i, len(lines)) if not lines[j].strip()), len(lines))  # a wrapped sentence
            info.needs = [ln.split() for ln in _block(lines, end) if all(NAME_RE.fullmatch(w) for w in ln.split())]
    if info.loadable_directly is False and info.needs and len(info.versions) == 1:
        info.load = "module load " + " ".join([*info.needs[0], info.versions[0]])
    return info
