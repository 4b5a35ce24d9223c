"""The expected-failure types. The tool layer turns them into an MCP ToolError.

Every code is declared in core/error_codes.py (`CODES`). The codes that drive control flow have types of
their own (`TokenRefused`, `ConnectionLost`, …): raise and catch those by type, never by comparing `.code`.
"""

from __future__ import annotations

from typing import ClassVar, Self

from .error_codes import CODES


def sentence(text: str) -> str:
    """`text` as one sentence: whitespace collapsed, a plain first word capitalised, ending in a full stop."""
    text = " ".join(text.split())
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # not an identifier such as run_slurm or --api-url
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…", "。")) else text + "."


def error_text(code: str, message: str, fix: str = "") -> str:
    """The one form every failure reaches the model in: `E_CODE: What happened. Fix: what to do.`"""
    text = f"{code}: {sentence(message)}"
    return f"{text} Fix: {sentence(fix)}" if fix else text


class ErrorCodeMisuse(ValueError):
    """A programming error, never an expected failure: an undeclared code, or a typed code raised untyped."""


TYPED: dict[str, type[HpcError]] = {}  # code -> its own type, filled as the types below are defined


class HpcError(Exception):
    """An expected failure: a stable code, what happened, and what to do next.

    The text is shown to the model, so it must never carry a secret. Without a fix, the code's default
    fix from the catalogue is shown.
    """

    def __init__(self, code: str, message: str, fix: str = "") -> None:
        entry = CODES.get(code)
        if entry is None:
            raise ErrorCodeMisuse(f"{code!r} is not declared in core/error_codes.py")
        own = TYPED.get(code, HpcError)
        if not isinstance(self, own):
            raise ErrorCodeMisuse(f"{code} has its own type: raise {own.__name__}, not {type(self).__name__}")
        self.code = code
        self.message = message
        self.fix = fix or entry.fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return error_text(self.code, self.message, self.fix)

    def reworded(self, message: str) -> Self:
        """The same failure (type, code and fix) told with another message."""
        new = type(self).__new__(type(self))
        new.__dict__.update(vars(self), message=message)
        Exception.__init__(new, str(new))
        return new


class _Typed(HpcError):
    """A failure whose code drives control flow; the code comes with the type."""

    CODE: ClassVar[str]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if cls.CODE not in CODES or cls.CODE in TYPED:
            raise ErrorCodeMisuse(f"{cls.__name__}: {cls.CODE!r} is undeclared or has a type already")
        TYPED[cls.CODE] = cls

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(self.CODE, message, fix)


class ConnectionLost(_Typed):
    """E_LOST: the outcome is unknown (an sbatch is then reconciled; a local transfer can resume)."""

    CODE = "E_LOST"


class TokenRefused(_Typed):
    """E_TOKEN_REFUSED: a new token is needed (request_token then asks for the password)."""

    CODE = "E_TOKEN_REFUSED"


class ApprovalDenied(_Typed):
    """E_APPROVAL_DENIED: the person said no (a two-factor task ends as denied)."""

    CODE = "E_APPROVAL_DENIED"


class ApprovalTimeout(_Typed):
    """E_APPROVAL_TIMEOUT: no decision in time at the API (a two-factor task ends as denied)."""

    CODE = "E_APPROVAL_TIMEOUT"


class UnknownTransfer(_Typed):
    """E_UNKNOWN_TRANSFER: no such transfer (status_if_known answers None)."""

    CODE = "E_UNKNOWN_TRANSFER"
