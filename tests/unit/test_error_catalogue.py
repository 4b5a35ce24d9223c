"""The error catalogue (core/error_codes.py): every code raised in server/ is declared there once, every
failure a model can reach has a Fix, an undeclared code cannot be raised, and no declared code is dead."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import sjtu_hpc_mcp
from sjtu_hpc_mcp.core.error_codes import CODES
from sjtu_hpc_mcp.core.errors import TYPED, ConnectionLost, ErrorCodeMisuse, HpcError, TokenRefused, error_text

SERVER = Path(sjtu_hpc_mcp.__file__).parent
CATALOGUE = SERVER / "core" / "error_codes.py"
CODE = re.compile(r"E_[A-Z0-9_]+")
RAW_TEXT = re.compile(r"(E_[A-Z0-9_]+): ")  # an error written out by hand, e.g. _tasks.py's E_INPUT
RENDERED = re.compile(r"^E_[A-Z0-9_]+: .+ Fix: .+")
TYPES = {cls.__name__: cls for cls in TYPED.values()}

# Raise sites whose code is not a literal: (file, code expression) -> why the code is still checked.
COMPUTED = {
    ("core/errors.py", "self.code"): "HpcError renders its own, already checked, code",
    ("core/slurm/validate.py", "code"): "_text and _match get their callers' literal codes (string constants below)",
}
# Texts in the form of an error that never reach the model: file -> why.
NOT_SHOWN = {"tools/guard.py": "the audit trail's outcome of a crash; the model gets _mcp/server.py's E_INTERNAL"}
# Codes declared but raised nowhere in server/, each with the reason it is kept. None at present.
KEPT: dict[str, str] = {}


@dataclass(frozen=True)
class Site:
    where: str  # file:line
    call: str  # HpcError, error_text, or one of the typed errors
    code: str | None  # None: computed (see COMPUTED)
    code_source: str
    fix: ast.expr | None  # None: no fix given


def _files() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SERVER).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SERVER.rglob("*.py"))
    ]


def _argument(call: ast.Call, index: int, name: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _sites() -> list[Site]:
    out = []
    for rel, tree in _files():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            where = f"{rel}:{node.lineno}"
            if name in ("HpcError", "error_text"):
                code_node = _argument(node, 0, "code")
                assert code_node is not None, where
                code = code_node.value if isinstance(code_node, ast.Constant) else None
                out.append(Site(where, name, code, ast.unparse(code_node), _argument(node, 2, "fix")))
            elif name in TYPES:
                out.append(Site(where, name, TYPES[name].CODE, name, _argument(node, 1, "fix")))
    return out


def _code_constants() -> list[tuple[str, str]]:
    """Codes written as whole strings passed to a call or as a parameter default (`_match(..., "E_USER", fix)`)."""
    out = []
    for rel, tree in _files():
        if rel == "core/error_codes.py":
            continue
        for node in ast.walk(tree):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                values = [*node.args, *(k.value for k in node.keywords)]
            elif isinstance(node, ast.arguments):
                values = [*node.defaults, *(d for d in node.kw_defaults if d is not None)]
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and CODE.fullmatch(value.value):
                    out.append((f"{rel}:{value.lineno}", value.value))
    return out


def _code_strings() -> list[tuple[str, str]]:
    """Every whole string that is a code, wherever it is (core/tasks.py's GONE_CODES, ...)."""
    return [
        (f"{rel}:{node.lineno}", node.value)
        for rel, tree in _files()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.fullmatch(node.value)
    ]


def _docstrings(tree: ast.Module) -> set[int]:
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }


def _raw_texts() -> list[tuple[str, str, str]]:
    """Errors written out by hand as text, `"E_INPUT: … Fix: …"` (docstrings aside): where, code, text."""
    out = []
    for rel, tree in _files():
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                if m := RAW_TEXT.match(node.value):
                    out.append((f"{rel}:{node.lineno}", m[1], node.value))
    return out


def _error(code: str, message: str, fix: str = "") -> HpcError:
    own = TYPED.get(code)
    return own(message, fix) if own is not None else HpcError(code, message, fix)


def test_the_walk_finds_the_raise_sites() -> None:
    sites = _sites()
    assert len(sites) > 150
    assert {s.call for s in sites} >= {"HpcError", "error_text", *TYPES}


def test_the_catalogue_declares_each_code_once_with_a_one_line_meaning_and_fix() -> None:
    tree = ast.parse(CATALOGUE.read_text(encoding="utf-8"))
    (table,) = [n for n in ast.walk(tree) if isinstance(n, ast.Dict)]
    keys = [k.value for k in table.keys if isinstance(k, ast.Constant)]
    assert len(keys) == len(table.keys) == len(set(keys)) == len(CODES)
    for code, entry in CODES.items():
        assert CODE.fullmatch(code), code
        for text in (entry.meaning, entry.fix):
            assert text.strip() and "\n" not in text and text.endswith("."), (code, text)


# -- (a) every code raised is declared ---------------------------------------------------------------------


def test_every_raised_code_is_declared() -> None:
    undeclared = [f"{s.where} {s.code}" for s in _sites() if s.code is not None and s.code not in CODES]
    undeclared += [f"{where} {code}" for where, code in _code_strings() if code not in CODES]
    undeclared += [f"{where} {code}" for where, code, _ in _raw_texts() if code not in CODES]
    assert not undeclared


def test_every_computed_code_is_known() -> None:
    computed = {(s.where.split(":")[0], s.code_source) for s in _sites() if s.code is None}
    assert computed == set(COMPUTED)


def test_a_typed_code_is_raised_by_its_type_and_never_compared() -> None:
    untyped = [f"{s.where} {s.code}" for s in _sites() if s.call == "HpcError" and s.code in TYPED]
    assert not untyped, "raise these by their type (core/errors.py)"
    compared = []
    for rel, tree in _files():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "code":
                right = [c for c in node.comparators if CODE.search(ast.unparse(c))]
                if right:
                    compared.append(f"{rel}:{node.lineno} {ast.unparse(node)}")
    assert not compared, "catch the code's type instead"


# -- (b) every error a model can reach has a Fix -----------------------------------------------------------


def test_every_raise_site_gives_a_fix_or_its_code_has_one() -> None:
    assert all(entry.fix for entry in CODES.values())  # so a computed code has one too
    missing = []
    for s in _sites():
        given = s.fix is not None and not (isinstance(s.fix, ast.Constant) and not s.fix.value)
        if not given and (s.code is None or not CODES[s.code].fix):
            missing.append(s.where)
        if s.call == "error_text" and not given and s.where.split(":")[0] != "core/errors.py":
            missing.append(s.where)  # error_text renders what it is given: no default there
    assert not missing


def test_every_catalogue_entry_renders_with_a_fix() -> None:
    for code, entry in CODES.items():
        for error in (_error(code, entry.meaning), _error(code, "it broke", "do this")):
            assert error.code == code
            assert RENDERED.match(str(error)), str(error)
        assert _error(code, "it broke").fix == entry.fix


def test_texts_written_out_by_hand_have_a_fix() -> None:
    raw = _raw_texts()
    assert raw
    for where, _, text in raw:
        assert RENDERED.match(text) or where.split(":")[0] in NOT_SHOWN, where


# -- (c) an undeclared code cannot be raised ---------------------------------------------------------------


def test_an_undeclared_code_is_refused() -> None:
    with pytest.raises(ErrorCodeMisuse, match="E_NO_SUCH_CODE"):
        HpcError("E_NO_SUCH_CODE", "it broke", "do this")
    assert not issubclass(ErrorCodeMisuse, HpcError)  # a bug is not shown as an expected failure
    assert error_text("E_NO_SUCH_CODE", "it broke", "do this")  # the renderer itself checks nothing


def test_a_typed_code_raised_untyped_is_refused() -> None:
    with pytest.raises(ErrorCodeMisuse, match="ConnectionLost"):
        HpcError("E_LOST", "lost", "again")
    with pytest.raises(ErrorCodeMisuse, match="TokenRefused"):
        HpcError("E_TOKEN_REFUSED", "refused")


def test_a_type_for_an_undeclared_or_typed_code_is_refused() -> None:
    with pytest.raises(ErrorCodeMisuse):

        class Nope(ConnectionLost):  # E_LOST has its type already
            CODE = "E_LOST"

    with pytest.raises(ErrorCodeMisuse):

        class Nope2(ConnectionLost):
            CODE = "E_NO_SUCH_CODE"

    assert TYPED["E_LOST"] is ConnectionLost


def test_typed_errors_keep_the_code_and_text() -> None:
    error = TokenRefused("the token was refused.", "call request_token.")
    assert isinstance(error, HpcError) and error.code == "E_TOKEN_REFUSED"
    assert str(error) == "E_TOKEN_REFUSED: The token was refused. Fix: Call request_token."


def test_reworded_keeps_the_type_code_and_fix() -> None:
    lost = ConnectionLost("The connection to pilogin was lost while running env.", "Try again.")
    told = lost.reworded("The connection to pilogin was lost while running sbatch.")
    assert type(told) is ConnectionLost and told.fix == "Try again." and lost.message.endswith("env.")
    assert (
        str(told) == told.args[0] == "E_LOST: The connection to pilogin was lost while running sbatch. Fix: Try again."
    )
    plain = HpcError("E_TIMEOUT", "env on pilogin did not finish.").reworded("sinfo on pilogin did not finish.")
    assert type(plain) is HpcError and plain.code == "E_TIMEOUT" and plain.fix == CODES["E_TIMEOUT"].fix


# -- (d) no code is declared but never raised --------------------------------------------------------------


def test_every_declared_code_is_raised_somewhere() -> None:
    raised = {s.code for s in _sites() if s.code is not None and s.where.split(":")[0] != "core/errors.py"}
    raised |= {code for _, code in _code_constants()}
    raised |= {code for _, code, _ in _raw_texts()}
    assert set(CODES) - raised == set(KEPT)
    assert set(KEPT) <= set(CODES)
