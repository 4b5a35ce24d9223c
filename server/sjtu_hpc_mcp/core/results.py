"""Result shapes shared by the tools: compact column-and-rows tables and their text form.

A list of objects repeats every key on every row; a table names each column once. The text part
is the same table as tab-separated lines, so a client that shows only text loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel

# The longest any call waits before answering (job waits, transfer waits): clients give up after about 60 s.
MAX_WAIT_S = 50.0

Cell = str | int | float | bool | None
T = TypeVar("T")


class Table(BaseModel):
    columns: list[str]
    rows: list[list[Cell]]
    total: int
    truncated: bool = False


def table(items: Sequence[T], columns: Sequence[tuple[str, Callable[[T], Cell]]], limit: int) -> Table:
    kept = items[: max(0, limit)]
    return Table(
        columns=[name for name, _ in columns],
        rows=[[get(item) for _, get in columns] for item in kept],
        total=len(items),
        truncated=len(items) > len(kept),
    )


def _cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("\t", " ").replace("\n", " ")


def table_text(t: Table) -> str:
    lines = ["\t".join(t.columns)] + ["\t".join(_cell(c) for c in row) for row in t.rows]
    if t.truncated:
        lines.append(
            f"… {t.total - len(t.rows)} more rows not shown (total {t.total}); narrow the filter or raise limit"
        )
    return "\n".join(lines)
