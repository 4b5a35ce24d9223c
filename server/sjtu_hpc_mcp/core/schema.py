"""Lean JSON Schemas for tools/list: every byte there is paid for in the model's context on every request.

Pure functions over schema dicts (as pydantic generates them); the meaning is kept:
- the automatic `title` of every model and property goes (the property name says the same);
- an optional input `X | None = None` is advertised as plain `X`: leaving it out means "not given";
- in output schemas, defaults, `required` lists and descriptions go (the result's text part shows the same
  data; a looser schema never rejects a true result).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA = ("items", "not", "additionalProperties", "contains")


def description(text: str | None) -> str | None:
    """A docstring as a description: dedented, without trailing blank lines."""
    return inspect.cleandoc(text) if text else text


def _is_null(s: Any) -> bool:
    return isinstance(s, dict) and s == {"type": "null"}


def lean(schema: Any, *, output: bool) -> Any:
    """`schema` without what tells a model nothing (see the module docstring)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if output and key in ("default", "required", "description"):
            continue
        if key in ("properties", "$defs") and isinstance(value, dict):
            out[key] = {name: lean(sub, output=output) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [lean(sub, output=output) for sub in value]
        elif key in _SUBSCHEMA and isinstance(value, dict):
            out[key] = lean(value, output=output)
        else:
            out[key] = value
    return _collapse_nullable(out, output=output)


def _collapse_nullable(s: dict[str, Any], *, output: bool) -> dict[str, Any]:
    branches = s.get("anyOf")
    if output or not isinstance(branches, list) or len(branches) != 2 or not any(_is_null(b) for b in branches):
        return s
    other = next(b for b in branches if not _is_null(b))
    rest = {k: v for k, v in s.items() if k != "anyOf"}
    if rest.get("default", ...) is None:
        rest.pop("default")
        return {**other, **rest}
    return s


def without_null_when_omitted(schema: dict[str, Any], sent_when_null: set[str]) -> dict[str, Any]:
    """Top-level properties the server leaves out when they are None (all but `sent_when_null`) lose `null`.

    `lean()` in _mcp drops None values of optional fields from structured content, so such a field is either
    absent or of its own type. Single-type `anyOf` branches are kept (not `"type": [..]` lists), which some
    clients' schema dialects cannot express.
    """
    props = {}
    for name, p in schema.get("properties", {}).items():
        branches = p.get("anyOf") if isinstance(p, dict) else None
        if name not in sent_when_null and isinstance(branches, list) and any(_is_null(b) for b in branches):
            rest = [b for b in branches if not _is_null(b)]
            extra = {k: v for k, v in p.items() if k != "anyOf"}
            p = {**rest[0], **extra} if len(rest) == 1 else {"anyOf": rest, **extra}
        props[name] = p
    return {**schema, "properties": props} if "properties" in schema else schema


def with_closed_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema saying what the server enforces: arguments it does not name are refused."""
    return {**schema, "additionalProperties": False} if schema.get("type") == "object" else schema


def properties_at(schema: dict[str, Any], path: tuple[str | int, ...]) -> list[str]:
    """The property names of the object at `path` (through $ref, anyOf and items) in `schema`."""
    defs = schema.get("$defs", {})

    def resolve(s: Any) -> dict[str, Any]:
        for _ in range(8):
            if not isinstance(s, dict):
                return {}
            if "$ref" in s:
                s = defs.get(str(s["$ref"]).rsplit("/", 1)[-1], {})
            elif "anyOf" in s:
                s = next((b for b in s["anyOf"] if not _is_null(b)), {})
            else:
                return s
        return {}

    node = resolve(schema)
    for part in path:
        if isinstance(part, int):
            node = resolve(node.get("items", {}))
        else:
            node = resolve(node.get("properties", {}).get(part, {}))
    return list(node.get("properties", {}))


# Names a model reaches for that mean one of ours. The tools name their verb `command` (run_slurm) or
# `action` (transfer_data, manage_storage): each of the verb's names points to whichever the tool has.
VERBS = ("command", "action", "cmd", "subcommand", "operation", "op", "verb")
SYNONYMS = {
    "queue": "partition",
    "cluster": "node_group",
    "group": "node_group",
    "job_id": "job_ids",
    "jobid": "job_ids",
    "jobs": "job_ids",
    "ids": "job_ids",
    "user": "username",
    "account": "name",
    "type": "quota_type",
    "yes": "confirm",
    "force_yes": "confirm",
    "password_path": "password_file",
    "walltime": "time",
    "memory": "mem",
    "gres": "gpus",
    "cpus": "cpus_per_task",
}


def closest(name: str, valid: list[str]) -> str | None:
    """The valid name `name` most likely meant, if any is close enough."""
    if name.lower() in VERBS:
        verb = next((v for v in VERBS if v in valid), None)
        if verb is not None:
            return verb
    if SYNONYMS.get(name.lower()) in valid:
        return SYNONYMS[name.lower()]
    match = difflib.get_close_matches(name.lower(), valid, n=1, cutoff=0.6)
    return match[0] if match else None


def shallow(schema: dict[str, Any], depth: int) -> dict[str, Any]:
    """An output schema cut to `depth` levels of objects: `$ref`s inlined, deeper objects just `"object"`.

    Looser, never wrong: every result valid under the full schema is valid under this one.
    """
    defs = schema.get("$defs", {})

    def cut(s: Any, level: int) -> Any:
        if not isinstance(s, dict):
            return s
        if "$ref" in s:
            target = defs.get(str(s["$ref"]).rsplit("/", 1)[-1], {})
            return cut({**target, **{k: v for k, v in s.items() if k != "$ref"}}, level)
        out = {k: v for k, v in s.items() if k != "$defs"}
        if "properties" in s:
            if level >= depth:
                return {"type": "object"}
            out["properties"] = {n: cut(p, level + 1) for n, p in s["properties"].items()}
        for key in ("anyOf", "oneOf"):
            if key in s:
                out[key] = [cut(b, level) for b in s[key]]
        if isinstance(s.get("items"), dict):
            out["items"] = cut(s["items"], level)
        return out

    result = cut(schema, 0)
    assert isinstance(result, dict)
    return result
