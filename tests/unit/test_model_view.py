"""What the model reads: the lean structured part (no nulls, no empty lists) and its text twin (issue 14)."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from sjtu_hpc_mcp._mcp import lean
from sjtu_hpc_mcp.app import build_server
from sjtu_hpc_mcp.core.results import model_view, render, table
from sjtu_hpc_mcp.settings import Settings


def _prunable(ann: Any) -> bool:
    origin = typing.get_origin(ann)
    if ann is type(None) or origin in (list, dict):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_prunable(a) for a in typing.get_args(ann))
    return False


def _nested(ann: Any) -> list[type[BaseModel]]:
    found = [ann] if isinstance(ann, type) and issubclass(ann, BaseModel) else []
    return found + [m for a in typing.get_args(ann) for m in _nested(a)]


def _output_models(tmp: Path) -> dict[str, type[BaseModel]]:
    server = build_server(Settings(workspace=tmp))
    models = {}
    for tool in server._tool_manager.list_tools():
        model = tool.fn_metadata.output_model
        assert model is not None, tool.name
        models[tool.name] = model
    return models


def test_every_field_a_lean_result_may_leave_out_has_a_default(tmp_path: Path) -> None:
    """The SDK validates a result against its model: a None or empty field left out must not be required."""
    bad: list[str] = []
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if field.is_required() and _prunable(field.annotation):
                bad.append(f"{model.__name__}.{name}")
            for sub in _nested(field.annotation):
                walk(sub)

    models = _output_models(tmp_path)
    assert len(models) == 9
    for model in models.values():
        walk(model)
    assert not bad, f"required fields that may be None or empty (give them a default): {bad}"


def test_model_view_drops_nulls_and_empties_at_every_depth_but_keeps_cells() -> None:
    view = model_view(
        {
            "a": None,
            "b": [],
            "c": {},
            "d": {"e": None, "f": [], "g": 0, "h": False},
            "i": {"j": None},
            "t": {"columns": ["x", "y"], "rows": [[1, None]], "total": 1, "truncated": False, "hint": None},
            "empty": {"columns": ["x"], "rows": [], "total": 0, "truncated": False},
            "k": [{"l": None, "m": 1}],
        }
    )
    assert view == {
        "d": {"g": 0, "h": False},
        "t": {"columns": ["x", "y"], "rows": [[1, None]], "total": 1},
        "empty": {"total": 0},
        "k": [{"m": 1}],
    }


def test_a_truncated_table_carries_its_hint_as_a_field() -> None:
    t = table(list(range(30)), [("n", lambda x: x)], 20).model_dump()
    view = model_view(t)
    assert view["truncated"] is True and "10 more rows not shown (total 30)" in view["hint"]
    assert "narrow the filter or raise limit" in view["hint"]
    assert view["hint"] in render({"table": view})


def test_render_holds_every_value_of_the_view() -> None:
    data = {
        "command": "sbatch",
        "node": "pilogin.hpc.sjtu.edu.cn",
        "summary": "submitted job 47 to cpu",
        "submission": {"job_id": "47", "stdout": "/lustre/x/slurm-47.out", "warnings": ["w1", "w2"]},
        "jobs": [{"job_id": "1", "state": "FAILED", "stderr_tail": "a\nb"}],
        "done": False,
    }
    text = render(data)
    assert text.splitlines()[0] == "submitted job 47 to cpu [node pilogin.hpc.sjtu.edu.cn]"
    for value in ("command: sbatch", "47", "/lustre/x/slurm-47.out", "w1", "w2", "FAILED", "a | b", "done: false"):
        assert value in text, value


class _Sample(BaseModel):
    status: str
    user: str | None = None
    problems: list[str] = []
    page_url: str | None = None


@pytest.mark.parametrize("user", [None, "hpcrobot"])
def test_lean_sends_the_view_and_its_text(user: str | None) -> None:
    r = lean(_Sample(status="ok", user=user))
    assert r.structured_content == ({"status": "ok"} | ({"user": user} if user else {}))
    text = r.content[0].text  # type: ignore[union-attr]
    assert text == "status: ok" + (f"\nuser: {user}" if user else "")
    compact = json.dumps(r.structured_content, separators=(",", ":"))
    assert "null" not in compact and "[]" not in compact
