"""A scripted stand-in for the Anthropic Messages API, so a real host (the Claude Code CLI) runs with no model.

The host sends `POST /v1/messages` (streaming, server-sent events). Requests that carry the host's tools are
the conversation: each one answers the next step of a script (a tool call, or the closing text), and the
`tool_result` blocks of the request before it are recorded exactly as the model would read them. Any other
request (a title, a summary, a token count) gets a short text answer.

Standard library only: it runs in a thread of the test process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ToolResult:
    """One tool_result the model received: its text exactly as sent, whether it is an error, when it came."""

    tool: str
    text: str
    is_error: bool
    seconds: float  # from the tool_use being sent to the request that carried its result

    @property
    def bytes(self) -> int:
        return len(self.text.encode())

    def json(self) -> dict[str, Any]:
        value = json.loads(self.text)
        assert isinstance(value, dict), self.text
        return value


@dataclass
class Step:
    """The model's next move: call `tool` with `input` (a dict, or a function of the results so far)."""

    tool: str
    input: dict[str, Any] | Callable[[list[ToolResult]], dict[str, Any]] = field(default_factory=dict)
    before: Callable[[list[ToolResult]], None] | None = None  # e.g. the person types the password


class Script:
    """The steps of one journey and what came back; `say` closes the conversation."""

    def __init__(self, steps: list[Step], say: str = "Done.") -> None:
        self.steps = list(steps)
        self.say = say
        self.results: list[ToolResult] = []
        self.requests: list[dict[str, Any]] = []  # the conversation's requests, as sent
        self.tool_names: list[str] = []  # the tools the first conversation request offered
        self.system: str = ""
        self._sent: dict[str, tuple[str, float]] = {}  # tool_use id -> (tool, time sent)
        self._next = 0
        self._uses = 0
        self.lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The content blocks of the reply to one conversation request."""
        with self.lock:
            self.requests.append(body)
            if not self.tool_names:
                self.tool_names = [t.get("name", "") for t in body.get("tools", [])]
                system = body.get("system", "")
                self.system = system if isinstance(system, str) else "\n".join(b.get("text", "") for b in system)
            self._record(body)
            if self._next >= len(self.steps):
                return [{"type": "text", "text": self.say}]
            step = self.steps[self._next]
            self._next += 1
            results = list(self.results)
        if step.before is not None:
            step.before(results)
        args = step.input(results) if callable(step.input) else step.input
        with self.lock:
            self._uses += 1
            use_id = f"toolu_{self._uses:04d}"
            self._sent[use_id] = (step.tool, time.monotonic())
        return [{"type": "tool_use", "id": use_id, "name": step.tool, "input": args}]

    def _record(self, body: dict[str, Any]) -> None:
        # Not only the last message: the host may append a reminder of its own (role "system") after the
        # results. Every result whose tool_use is still outstanding is recorded, once.
        blocks = [
            block
            for message in body.get("messages", [])
            if message.get("role") == "user" and isinstance(message.get("content"), list)
            for block in message["content"]
        ]
        for block in blocks:
            if block.get("type") != "tool_result" or block.get("tool_use_id") not in self._sent:
                continue
            tool, sent = self._sent.pop(block["tool_use_id"])
            inner = block.get("content", "")
            if isinstance(inner, list):
                inner = "".join(part.get("text", "") for part in inner if part.get("type") == "text")
            self.results.append(ToolResult(tool, str(inner), bool(block.get("is_error")), time.monotonic() - sent))


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _stream(blocks: list[dict[str, Any]], model: str) -> bytes:
    out = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{time.monotonic_ns()}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        )
    ]
    stop = "end_turn"
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            out.append(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                    "content_block": {"type": "text", "text": ""}}))
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            stop = "tool_use"
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            out.append(_sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": start}))
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(
        _sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
             "usage": {"output_tokens": 5}},
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return b"".join(out)


class MessagesDouble:
    """The stand-in server on 127.0.0.1 (an ephemeral port); `script` is the journey being played."""

    def __init__(self) -> None:
        self.script = Script([])
        self.side_requests = 0
        # The host's tool that loads deferred tools: its presence marks the conversation.
        self.search_tool = "ToolSearch"
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._json({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                path = self.path.split("?")[0]
                if path.endswith("/count_tokens"):
                    self._json({"input_tokens": 100})
                    return
                if not path.endswith("/v1/messages"):
                    self._json({})
                    return
                model = str(body.get("model", "claude-double"))
                conversation = any(t.get("name") == double.search_tool for t in body.get("tools", []))
                if conversation:
                    blocks = double.script.answer(body)
                else:
                    double.side_requests += 1
                    blocks = [{"type": "text", "text": "ok"}]
                if body.get("stream"):
                    payload = _stream(blocks, model)
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self._json(
                    {
                        "id": "msg_plain",
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": blocks,
                        "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn",
                        "stop_sequence": None,
                        "usage": {"input_tokens": 10, "output_tokens": 5},
                    }
                )

            def _json(self, value: dict[str, Any]) -> None:
                payload = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MessagesDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
