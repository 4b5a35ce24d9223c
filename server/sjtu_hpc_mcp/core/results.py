"""Result shapes shared by the tools: compact column-and-rows tables, the model's view and the text form.

Most hosts (Claude Code, VS Code, Codex, OpenCode) give their model only the JSON of a successful result's
structured part; text-only hosts give it only the text part. So the structured part is lean and complete on
its own (`model_view`: no nulls, no empty lists, a table without rows is just its total; every hint a field),
and the text part is the same data rendered as lines (`render`): neither carries what the other lacks.

A list of objects repeats every key on every row; a table names each column once, and its text form is
tab-separated lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

# The longest any call waits before answering (job waits, transfer waits): clients give up after about 60 s.
MAX_WAIT_S = 50.0

Cell = str | int | float | bool | None
T = TypeVar("T")


class Table(BaseModel):
    columns: list[str] = []
    rows: list[list[Cell]] = []
    total: int
    truncated: bool = False
    hint: str | None = None  # what to do to see the rows not shown (only when truncated)


def truncation_hint(shown: int, total: int) -> str:
    return f"{total - shown} more rows not shown (total {total}); narrow the filter or raise limit"


def table(items: Sequence[T], columns: Sequence[tuple[str, Callable[[T], Cell]]], limit: int) -> Table:
    kept = items[: max(0, limit)]
    truncated = len(items) > len(kept)
    return Table(
        columns=[name for name, _ in columns],
        rows=[[get(item) for _, get in columns] for item in kept],
        total=len(items),
        truncated=truncated,
        hint=truncation_hint(len(kept), len(items)) if truncated else None,
    )


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("\t", " ").replace("\n", " ")


def table_text(t: Table) -> str:
    return "\n".join(_table_lines(t.model_dump()))


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) and "total" in value and ("rows" in value or value.get("total") == 0)


def _table_lines(t: dict[str, Any]) -> list[str]:
    rows = t.get("rows") or []
    if not rows:
        return [f"(none of {t.get('total', 0)})"] if t.get("total") else ["(none)"]
    lines = ["\t".join(t.get("columns", []))] + ["\t".join(_cell(c) for c in row) for row in rows]
    if t.get("truncated"):
        lines.append("… " + str(t.get("hint") or truncation_hint(len(rows), int(t.get("total", 0)))))
    return lines


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def model_view(value: Any) -> Any:
    """The structured part as a model should read it: no nulls or empty lists or objects at any depth (a
    table's cells keep their places), a table's `truncated: false` left out, a table without rows reduced to
    its total."""
    if isinstance(value, dict):
        if _is_table(value):
            if not value.get("rows"):
                return {"total": value.get("total", 0)}
            return {k: v for k, v in value.items() if not _empty(v) and not (k == "truncated" and v is False)}
        pruned = {k: model_view(v) for k, v in value.items() if not _empty(v)}
        return {k: v for k, v in pruned.items() if not _empty(v)}
    if isinstance(value, list):
        return [model_view(v) if isinstance(v, dict | list) else v for v in value]
    return value


HEADLINES = ("summary", "message")


def render(data: dict[str, Any]) -> str:
    """The text part: the same fields as `data` (a model view), as lines a model or a person reads.

    The summary (or message) comes first with the node it ran on; then each field as `name: value`,
    nested objects as `name.field: value`, lists of objects one per line, tables as tab-separated lines.
    """
    lines: list[str] = []
    head = next((k for k in HEADLINES if isinstance(data.get(k), str)), None)
    node = data.get("node") if isinstance(data.get("node"), str) else None
    if head is not None:
        lines.append(str(data[head]) + (f" [node {node}]" if node else ""))
    for key, value in data.items():
        if key == head or (key == "node" and head is not None):
            continue
        lines += _field_lines(key, value)
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _field_lines(key: str, value: Any) -> list[str]:
    if _is_table(value):
        body = _table_lines(value)
        return [f"{key}: {body[0]}"] if len(body) == 1 else [f"{key}:", *body]
    if isinstance(value, dict):
        return [line for k, v in value.items() for line in _field_lines(f"{key}.{k}", v)]
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return [f"{key}: " + "; ".join(_scalar(v) for v in value)]
        out: list[str] = []
        for item in value:
            if isinstance(item, dict):
                out.append(f"{key}: " + ", ".join(f"{k}={_inline(v)}" for k, v in item.items()))
            else:
                out.append(f"{key}: {_inline(item)}")
        return out
    text = _scalar(value)
    if "\n" in text.rstrip("\n"):
        return [f"{key}:", *("  " + line for line in text.rstrip("\n").split("\n"))]
    return [f"{key}: {text}"]


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_inline(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + "; ".join(_inline(v) for v in value) + "]"
    return _scalar(value).replace("\n", " | ")
