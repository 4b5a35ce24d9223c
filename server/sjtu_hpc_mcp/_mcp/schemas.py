"""What tools/list and a refused call say about a tool's schemas: the lean output schema, and invalid or unknown
arguments as one coded line naming the argument and the fix."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..core import schema
from ..core.errors import error_text

MAX_SHOWN = 3  # the most validation errors one refusal names


def lean_output(output_schema: dict[str, Any]) -> dict[str, Any]:
    """The result's fields and their types; nested objects only as "object" (the text part shows them).

    `lean()` sends no null and no empty list or object (core.results.model_view): such fields lose their
    null branch and are not required, so the schema says exactly what a result may hold.
    """
    cut = schema.lean(schema.shallow(output_schema, depth=1), output=True)  # also without "required"
    lean_schema: dict[str, Any] = schema.without_null_when_omitted(cut, set())
    return lean_schema


def unknown_argument(tool: str, loc: tuple[str | int, ...], given: str, valid: list[str]) -> str:
    where = ".".join(map(str, loc))
    near = schema.closest(given, valid)
    fix = f"use {near!r} instead" if near else "leave it out"
    return error_text(
        "E_ARG",
        f"the tool {tool} has no argument {where!r}; it was refused, not ignored",
        f"{fix} (valid here: {', '.join(valid)})",
    )


def invalid_arguments(tool: str, exc: ValidationError, parameters: dict[str, Any]) -> str:
    """Pydantic's errors as one coded line: which argument, what is wrong, what was given."""
    errors = exc.errors(include_url=False)
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            return unknown_argument(tool, loc, str(loc[-1]), schema.properties_at(parameters, loc[:-1]))
    parts = []
    for err in errors[:MAX_SHOWN]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "missing":
            parts.append(f"{where} is required")
            continue
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 60 else shown[:57] + "…"
        msg = err["msg"][0].lower() + err["msg"][1:]
        pattern = str((err.get("ctx") or {}).get("pattern", ""))
        if err["type"] == "string_pattern_mismatch" and len(pattern) > 40:
            msg = "does not have the allowed form (the schema's pattern)"
        parts.append(f"{where}: {msg} (got {shown})")
    more = f" and {len(errors) - MAX_SHOWN} more" if len(errors) > MAX_SHOWN else ""
    names = sorted({str(err["loc"][0]) for err in errors if err["loc"]})
    return error_text(
        "E_ARG",
        f"the arguments of {tool} do not fit its input schema: {'; '.join(parts)}{more}",
        f"correct {', '.join(names) or 'the arguments'} as the schema says and call {tool} again",
    )
