"""Column-and-rows tables: capping, totals, and their text form."""

from __future__ import annotations

from sjtu_hpc_mcp.core.results import table, table_text

COLS = [("n", lambda x: x), ("half", lambda x: x / 2), ("label", lambda x: None if x % 2 else f"a\tb{x}")]


def test_under_at_and_over_the_limit() -> None:
    assert table(list(range(3)), COLS, 3).truncated is False
    t = table(list(range(250)), COLS, 100)
    assert (len(t.rows), t.total, t.truncated) == (100, 250, True)
    assert t.columns == ["n", "half", "label"] and t.rows[1] == [1, 0.5, None]
    assert table([1], COLS, 0).rows == [] and table([], COLS, 0).truncated is False


def test_text_form() -> None:
    lines = table_text(table([0, 1, 2], COLS, 2)).splitlines()
    assert lines[0] == "n\thalf\tlabel"
    assert lines[1] == "0\t0\ta b0"  # tabs inside a cell cannot break the columns
    assert lines[2] == "1\t0.5\t-"
    assert "1 more rows not shown (total 3)" in lines[3]
