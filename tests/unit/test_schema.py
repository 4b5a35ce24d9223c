"""core.schema: lean tool schemas keep their meaning; closest names for unknown arguments."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from sjtu_hpc_mcp.core.errors import HpcError, error_text, sentence
from sjtu_hpc_mcp.core.schema import (
    closest,
    description,
    lean,
    properties_at,
    shallow,
    with_closed_arguments,
    without_null_when_omitted,
)


class Inner(BaseModel):
    title: str  # a property *named* title stays
    size: int | None = None


class Args(BaseModel):
    command: Literal["a", "b"] = Field(description="What to do.")
    name: Annotated[str | None, Field(pattern="^x+$", description="A name.")] = None
    inner: Inner | None = None
    count: int = Field(3, ge=1)


def test_titles_go_but_a_property_named_title_stays() -> None:
    s = lean(Args.model_json_schema(), output=False)
    assert "title" not in s and "title" not in s["properties"]["command"]
    assert "title" in s["$defs"]["Inner"]["properties"]
    assert "title" not in s["$defs"]["Inner"]["properties"]["title"]


def test_optional_inputs_lose_the_null_branch_and_keep_real_defaults() -> None:
    p = lean(Args.model_json_schema(), output=False)["properties"]
    assert p["name"] == {"type": "string", "pattern": "^x+$", "description": "A name."}
    assert p["inner"] == {"$ref": "#/$defs/Inner"}
    assert p["count"]["default"] == 3 and p["count"]["minimum"] == 1
    assert lean(Args.model_json_schema(), output=False)["required"] == ["command"]


class Result(BaseModel):
    user: str | None  # required: sent as null
    inner: Inner | None = None  # optional: left out when None
    count: int = 3


def test_output_schemas_are_shallow_and_loose_but_true() -> None:
    full = Result.model_json_schema()
    s = without_null_when_omitted(lean(shallow(full, depth=1), output=True), set(full["required"]))
    assert s["properties"]["inner"] == {"type": "object"}
    assert s["properties"]["user"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert "required" not in s and "$defs" not in s and "default" not in s["properties"]["count"]
    assert "type" not in str([p.get("type") for p in s["properties"].values() if isinstance(p.get("type"), list)])


def test_closed_arguments_and_nested_property_names() -> None:
    s = Args.model_json_schema()
    assert with_closed_arguments(s)["additionalProperties"] is False
    assert properties_at(s, ("inner",)) == ["title", "size"]
    assert properties_at(s, ()) == ["command", "name", "inner", "count"]


def test_closest_name() -> None:
    assert closest("action", ["command", "partition", "options"]) == "command"
    assert closest("command", ["action", "source", "destination"]) == "action"  # transfer_data's verb
    assert closest("op", ["action", "path"]) == "action" and closest("cmd", ["command"]) == "command"
    assert closest("partiton", ["command", "partition"]) == "partition"
    assert closest("zzz", ["command", "partition"]) is None
    assert closest("walltime", ["time", "mem"]) == "time"


def test_descriptions_are_dedented() -> None:
    assert description("First line.\n\n        Second.\n        ") == "First line.\n\nSecond."


def test_one_error_form() -> None:
    assert sentence("the API refused it '-'") == "The API refused it '-'."
    assert sentence("run_slurm needs a partition") == "run_slurm needs a partition."
    assert sentence("--api-url is wrong.") == "--api-url is wrong."
    assert error_text("E_X", "it broke", "do this") == "E_X: It broke. Fix: Do this."
    assert str(HpcError("E_SAME", "it broke")) == "E_SAME: It broke. Fix: Copy to another place."  # the default fix
