"""Consent as a type (issue 15, item 2): a misspelt act does not type-check, every act has its words and
is gated somewhere in the server, and the gate's truth table."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from sjtu_hpc_mcp.core import consent
from sjtu_hpc_mcp.core.consent import ACTS, WORDING, Act, Step, fields_of, gate, transfer_gate

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "server"
CONSENT = Path("server/sjtu_hpc_mcp/core/consent.py")


# -- (a) a misspelt act cannot type-check ------------------------------------------------------------


def test_a_misspelt_act_does_not_type_check(tmp_path: Path) -> None:
    call = 'from sjtu_hpc_mcp.core.consent import gate\n\nSTEP = gate("{act}", confirm=True, declined=False)\n'
    good, bad = tmp_path / "good_act.py", tmp_path / "bad_act.py"
    good.write_text(call.format(act="scancel"))
    bad.write_text(call.format(act="scancle"))
    config = ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "cache")]
    argv = [sys.executable, "-m", "mypy", *config, "--no-error-summary", str(good), str(bad)]
    run = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert errors, out
    assert all(line.startswith(str(bad)) for line in errors), out  # the right spelling passes
    assert any("'scancle'" in line and "[arg-type]" in line for line in errors), out


# -- (b) every act has its words -------------------------------------------------------------------


@pytest.mark.parametrize("act", sorted(ACTS))
def test_every_act_has_wording(act: Act) -> None:
    words = WORDING[act]
    assert words.preview.strip()
    assert (words.question is None) == (words.declined is None), "an act the person is asked about can be declined"
    for text in (words.preview, words.question, words.declined):
        assert text is None or (text.strip() and text.rstrip().endswith((".", "?"))), text


def test_the_table_has_exactly_the_acts() -> None:
    assert set(WORDING) == ACTS


# -- (c) the call sites: every act used is an Act, every Act is used --------------------------------


def _calls(name: str) -> list[tuple[str, ast.Call]]:
    """Calls to consent.<name> (or a bare <name> imported from it) anywhere under server/."""
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                f = node.func
                if (isinstance(f, ast.Attribute) and f.attr == name) or (isinstance(f, ast.Name) and f.id == name):
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


def _in_consent(where: str) -> bool:
    return Path(where.rsplit(":", 1)[0]) == CONSENT


def _act_of(where: str, call: ast.Call) -> str:
    first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "act"), None)
    assert isinstance(first, ast.Constant) and isinstance(first.value, str), f"{where}: the act must be a literal"
    return first.value


def test_every_act_is_gated_somewhere_and_only_acts_are() -> None:
    gated = {where: _act_of(where, call) for where, call in _calls("gate")}
    used = set(gated.values())
    assert used <= ACTS, {w: a for w, a in gated.items() if a not in ACTS}
    # consent.py gates overwrite and move for transfer_gate: they count only if a site calls it
    at_sites = {a for w, a in gated.items() if not _in_consent(w)}
    if any(not _in_consent(w) for w, _ in _calls("transfer_gate")):
        at_sites |= {a for w, a in gated.items() if _in_consent(w)}
    assert at_sites == ACTS, f"acts that no call site gates: {sorted(ACTS - at_sites)}"


@pytest.mark.parametrize("helper", ["question", "say"])
def test_call_sites_fill_every_field(helper: str) -> None:
    """A site that names its act gives every {field} of that act's sentence (a missing one would raise)."""
    sites = [(w, c) for w, c in _calls(helper) if not _in_consent(w)]
    assert sites
    for where, call in sites:
        first = call.args[0] if call.args else None
        given = {k.arg for k in call.keywords if k.arg}
        if isinstance(first, ast.Constant) and first.value in ACTS:
            act: Act = first.value
            words = WORDING[act]
            texts = [words.question] if helper == "question" else [words.preview, words.declined]
            needed = set().union(*(fields_of(t) for t in texts if t))
            if helper == "say" and len(call.args) > 1 and isinstance(call.args[1], ast.Constant):
                step = call.args[1].value
                needed = set(fields_of((words.preview if step == "preview" else words.declined) or ""))
            assert needed <= given, f"{where}: {act} needs {sorted(needed - given)}"
        else:  # the act comes from transfer_gate: every act it may give
            needed = set().union(*(fields_of(WORDING[a].preview) for a in ("overwrite", "move")))
            assert needed <= given, f"{where}: needs {sorted(needed - given)}"


def test_sentences_fill_and_refuse_what_has_none() -> None:
    assert consent.say("scancel", "preview", count=2).startswith("Would cancel 2 job(s); nothing done.")
    assert consent.say("remove", "declined") == "The person declined; nothing was deleted."
    assert consent.question("cancel_transfer", transfer_id="data-0123456789ab").startswith("Stop transfer data-")
    with pytest.raises(ValueError, match="replace_key"):
        consent.question("replace_key")
    with pytest.raises(ValueError, match="replace_key"):
        consent.say("replace_key", "declined")


# -- (d) the gate's truth table --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confirm", "declined", "needed", "step"),
    [
        (False, False, True, "preview"),
        (False, True, True, "preview"),  # nobody is asked without confirm: the preview stands
        (True, True, True, "declined"),
        (True, False, True, "go"),
        (False, False, False, "go"),
        (False, True, False, "declined"),
        (True, True, False, "declined"),
        (True, False, False, "go"),
    ],
)
def test_gate(confirm: bool, declined: bool, needed: bool, step: Step) -> None:
    for act in ACTS:
        assert gate(act, confirm, declined, needed=needed) == step
    if needed:
        assert gate("remove", confirm, declined) == step  # needed is the default


@pytest.mark.parametrize(
    ("overwrites", "mode", "confirm", "declined", "expected"),
    [
        (False, "copy", False, False, ("overwrite", "go")),
        (True, "copy", False, False, ("overwrite", "preview")),
        (True, "copy", True, False, ("overwrite", "go")),
        (True, "copy", True, True, ("overwrite", "declined")),
        (False, "copy", True, True, ("overwrite", "declined")),  # a "no" stops even a plain copy
        (False, "move", False, False, ("move", "preview")),
        (True, "move", False, False, ("overwrite", "preview")),  # the files it would replace are listed first
        (False, "move", True, False, ("move", "go")),
        (False, "move", True, True, ("move", "declined")),
    ],
)
def test_transfer_gate(overwrites: bool, mode: str, confirm: bool, declined: bool, expected: tuple[Act, Step]) -> None:
    assert transfer_gate(overwrites, mode, confirm, declined) == expected
