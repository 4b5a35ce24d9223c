"""Claude Code's `Elicitation` hook playing the person: it answers the server's questions in `claude -p`.

Configured in the scratch HOME's `.claude/settings.json` (no matcher needed; see test_claude_code.py):

    {"hooks": {"Elicitation": [{"hooks": [{"type": "command", "command": "python person_hook.py"}]}]}}

Claude Code runs it once per elicitation with a JSON object on stdin (hook_event_name "Elicitation",
mcp_server_name, message, mode "form" | "url", url, elicitation_id, requested_schema, ...). It

- appends that object as one JSON line to the file named by PERSON_HOOK_LOG (when set);
- answers as the plan says: the JSON file named by PERSON_HOOK_PLAN, read afresh on every call (so a test
  can change the answer between calls), else the variables PERSON_HOOK_ACTION (accept | decline | cancel,
  default decline), PERSON_HOOK_CONTENT (JSON, the form's content on accept) and PERSON_HOOK_PASSWORD.
  The plan file is `{"form": ANSWER, "url": ANSWER}` (or one ANSWER for both), ANSWER being
  `{"action": ..., "content": {...}, "password": "..."}`; a missing mode answers nothing (exit 0, no
  output: Claude Code then does what it does without a hook);
- for mode "url" with a password in the answer, POSTs it to the page URL it was given, as the person typing
  it on the page would (form field `password`), and logs the page's HTTP status (never the password).

Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


def plan_for(mode: str) -> dict[str, Any] | None:
    path = os.environ.get("PERSON_HOOK_PLAN")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                plan = json.load(fh)
        except FileNotFoundError:
            return None
        if "action" in plan:
            return dict(plan)
        answer = plan.get(mode)
        return dict(answer) if isinstance(answer, dict) else None
    answer: dict[str, Any] = {"action": os.environ.get("PERSON_HOOK_ACTION", "decline")}
    if os.environ.get("PERSON_HOOK_CONTENT"):
        answer["content"] = json.loads(os.environ["PERSON_HOOK_CONTENT"])
    if os.environ.get("PERSON_HOOK_PASSWORD"):
        answer["password"] = os.environ["PERSON_HOOK_PASSWORD"]
    return answer


def type_password(url: str, password: str) -> int | str:
    """POST the password to the one-time page; its HTTP status (or the failure's name)."""
    body = urllib.parse.urlencode({"password": password}).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # a 127.0.0.1 page
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        return type(exc).__name__


def log(entry: dict[str, Any]) -> None:
    path = os.environ.get("PERSON_HOOK_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")


def main() -> int:
    raw = sys.stdin.read()
    try:
        event = json.loads(raw or "{}")
    except ValueError:
        event = {"unparsed": raw}
    mode = str(event.get("mode") or "form")
    answer = plan_for(mode)
    entry: dict[str, Any] = {"time": time.time(), "input": event, "action": answer and answer.get("action")}
    if answer is None:
        log(entry)
        return 0
    if mode == "url" and answer.get("password") and event.get("url"):
        entry["page_status"] = type_password(str(event["url"]), str(answer["password"]))
    log(entry)
    output: dict[str, Any] = {"hookEventName": "Elicitation", "action": answer.get("action", "decline")}
    if output["action"] == "accept" and mode == "form":
        output["content"] = answer.get("content", {})
    print(json.dumps({"hookSpecificOutput": output}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
