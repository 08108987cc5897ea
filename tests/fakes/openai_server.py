"""A small, strict, scripted OpenAI-compatible HTTP server for tests.

It listens on 127.0.0.1 only (free port), runs an aiohttp app on its own event
loop in a background thread, and answers with replies the test queued up:

    with ScriptedOpenAIServer() as server:
        server.push(text("Hello there"))
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert server.requests[-1]["messages"][0]["content"] == "..."

Endpoints: ``GET /v1/models`` and ``POST /v1/chat/completions`` (``"stream"``
false or true, with ``stream_options.include_usage``). Every request needs an
``Authorization: Bearer ...`` header (401 otherwise). Anything else is a 404
with an OpenAI-style error body.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from fakes.loopback import LoopbackServer

__all__ = [
    "Reply",
    "ReplyLike",
    "ScriptedOpenAIServer",
    "hang",
    "malformed",
    "status",
    "text",
]

ReplyKind = Literal["text", "status", "hang", "malformed", "call"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build it with :func:`text`, :func:`status`,
    :func:`hang` or :func:`malformed` rather than directly."""

    kind: ReplyKind
    content: str = ""
    status: int = 200
    retry_after: float | None = None
    message: str = ""
    seconds: float = 0.0
    fn: Callable[[dict[str, Any]], str | Reply] | None = field(default=None, compare=False)


# What push() accepts: a Reply, a plain string (== text(s)), or a callable
# fn(request_json) -> str | Reply evaluated when the request arrives.
ReplyLike = Reply | str | Callable[[dict[str, Any]], "str | Reply"]


def text(content: str) -> Reply:
    """A normal assistant answer (streamed word by word if the client asks)."""
    return Reply("text", content=content)


def status(code: int, retry_after: float | None = None, message: str | None = None) -> Reply:
    """An HTTP error with an OpenAI-style body ``{"error": {message, type, param, code}}``.

    ``retry_after`` (seconds, may be fractional) is sent as a ``retry-after`` header.
    """
    if not 400 <= code <= 599:
        raise ValueError(f"status() is for error codes (4xx/5xx), got {code}")
    return Reply(
        "status",
        status=code,
        retry_after=retry_after,
        message=message if message is not None else f"Scripted error {code}",
    )


def hang(seconds: float, content: str = "late") -> Reply:
    """Wait ``seconds`` before sending anything (not even headers), then answer ``content``.

    Stopping the server cuts the wait short.
    """
    return Reply("hang", content=content, seconds=seconds)


def malformed() -> Reply:
    """HTTP 200 whose body is not valid JSON (or, when streaming, a broken SSE event)."""
    return Reply("malformed")


def _as_reply(reply: ReplyLike) -> Reply:
    if isinstance(reply, Reply):
        return reply
    if isinstance(reply, str):
        return text(reply)
    if callable(reply):
        return Reply("call", fn=reply)
    raise TypeError(f"not a reply: {reply!r}")


# OpenAI's error ``type``/``code`` for the statuses tests usually script.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("invalid_request_error", "not_found"),
    409: ("conflict", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}

# What malformed() sends: the start of a completion object, cut off.
_BROKEN_JSON = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"delta'

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}

# Split before each run of non-space after a space: "Hello big world" ->
# ["Hello ", "big ", "world"]; "".join(pieces) == content.
_WORD_SPLIT = re.compile(r"(?<=\s)(?=\S)")


def _error_body(code: int, message: str) -> dict[str, Any]:
    err_type, err_code = _ERROR_KINDS.get(
        code, ("server_error", None) if code >= 500 else ("invalid_request_error", None)
    )
    return {"error": {"message": message, "type": err_type, "param": None, "code": err_code}}


def _count_tokens(value: Any) -> int:
    """A crude, deterministic token count: whitespace-separated words."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_count_tokens(v) for v in value)
    if isinstance(value, dict):
        return sum(_count_tokens(v) for k, v in value.items() if k in ("content", "text"))
    return 0


class ScriptedOpenAIServer(LoopbackServer):
    """A local, scripted OpenAI-compatible server (see module docstring).

    Args:
        model: the model listed by ``GET /v1/models``.
        api_key: if given, the bearer token must equal it (401 otherwise); if
            ``None`` any non-empty bearer token is accepted.
        check_model: if true, a chat request for another model gets a 404
            ``model_not_found`` error, like the real API.
        chunk_delay: seconds to sleep between streamed chunks (0 = none).
        port: port to bind on 127.0.0.1 (0 = pick a free one).
    """

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        api_key: str | None = None,
        check_model: bool = False,
        chunk_delay: float = 0.0,
        port: int = 0,
    ) -> None:
        self.model = model
        self.api_key = api_key
        self.check_model = check_model
        self.chunk_delay = chunk_delay
        self.default_reply: ReplyLike = text("OK")
        super().__init__(port)
        self._lock = threading.Lock()
        self._queue: collections.deque[Reply] = collections.deque()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self._stopping: asyncio.Event | None = None

    # -- scripting / recording ---------------------------------------------------

    def push(self, reply: ReplyLike) -> None:
        """Queue one reply (FIFO). A str means text(str); a callable is fn(request_json)."""
        item = _as_reply(reply)
        with self._lock:
            self._queue.append(item)

    def push_many(self, replies: Iterable[ReplyLike]) -> None:
        items = [_as_reply(r) for r in replies]
        with self._lock:
            self._queue.extend(items)

    @property
    def pending(self) -> int:
        """How many queued replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Snapshot of the JSON bodies of every chat request received, in order
        (including ones rejected for auth or validation)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers (lower-cased names) of the chat requests, parallel to ``requests``."""
        with self._lock:
            return [dict(h) for h in self._headers]

    def reset(self) -> None:
        """Forget queued replies and recorded requests; default_reply back to text("OK")."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._headers.clear()
        self.default_reply = text("OK")

    def _next_reply(self) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return _as_reply(self.default_reply)

    # -- lifecycle -------------------------------------------------------------------

    thread_name = "scripted-openai-server"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/v1/models", self._handle_models)
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        return app

    async def _on_start(self) -> None:
        self._stopping = asyncio.Event()

    def _on_stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._stopping is not None:  # cut short hanging and streaming replies
            loop.call_soon_threadsafe(self._stopping.set)

    def _on_stopped(self) -> None:
        self._stopping = None

    # -- HTTP ------------------------------------------------------------------------

    @staticmethod
    def _error(
        code: int, message: str, headers: dict[str, str] | None = None, *, err_code: str = ""
    ) -> web.Response:
        body = _error_body(code, message)
        if err_code:
            body["error"]["code"] = err_code
        return web.json_response(body, status=code, headers=headers)

    def _auth_error(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return self._error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if self.api_key is not None and token != self.api_key:
            return self._error(401, "Incorrect API key provided.")
        return None

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return self._error(404, f"Unknown request URL: {request.method} {request.path}.")

    async def _handle_models(self, request: web.Request) -> web.Response:
        if (err := self._auth_error(request)) is not None:
            return err
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "storybot-tests"}
        return web.json_response({"object": "list", "data": [model]})

    @staticmethod
    def _validate(body: Any) -> str | None:
        """Return an error message if ``body`` is not a sane chat request."""
        if not isinstance(body, dict):
            return "The request body must be a JSON object."
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "you must provide a model parameter"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array."
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in _ROLES:
                return f"Invalid value for 'messages[{i}].role'."
            content = m.get("content")
            if content is None and not (m["role"] == "assistant" and m.get("tool_calls")):
                return f"Missing required parameter: 'messages[{i}].content'."
            if content is not None and not isinstance(content, str | list):
                return f"Invalid type for 'messages[{i}].content'."
        if "stream" in body and not isinstance(body["stream"], bool | None):
            return "Invalid type for 'stream': expected a boolean."
        if body.get("stream_options") is not None:
            if not body.get("stream"):
                return "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            if not isinstance(body["stream_options"], dict):
                return "Invalid type for 'stream_options': expected an object."
        return None

    async def _handle_chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = None
        else:
            with self._lock:
                self._requests.append(body)
                self._headers.append({k.lower(): v for k, v in request.headers.items()})
        if (err := self._auth_error(request)) is not None:
            return err
        if body is None:
            return self._error(400, "We could not parse the JSON body of your request.")
        if (problem := self._validate(body)) is not None:
            return self._error(400, problem)
        if self.check_model and body["model"] != self.model:
            message = f"The model `{body['model']}` does not exist."
            return self._error(404, message, err_code="model_not_found")

        reply = self._next_reply()
        if reply.kind == "call":
            assert reply.fn is not None
            try:
                produced = reply.fn(body)
            except Exception as exc:  # surface test-script bugs as a 500 the client sees
                return self._error(500, f"callable reply raised {exc!r}")
            reply = produced if isinstance(produced, Reply) else text(str(produced))
            if reply.kind == "call":
                return self._error(500, "a callable reply must return a str or a non-call Reply")

        if reply.kind == "status":
            headers = {}
            if reply.retry_after is not None:
                headers["retry-after"] = f"{reply.retry_after:g}"
            return self._error(reply.status, reply.message, headers)

        # A hang is cut short when the server stops: give up on the request then.
        if reply.kind == "hang" and await self._sleep(reply.seconds):
            return self._error(503, "The server is shutting down.")

        stream = bool(body.get("stream"))
        if reply.kind == "malformed":
            if stream:
                return await self._stream(request, body, "", broken=True)
            return web.Response(
                status=200,
                body=_BROKEN_JSON,
                content_type="application/json",
            )
        if stream:
            return await self._stream(request, body, reply.content)
        return web.json_response(self._completion(body, reply.content), headers=self._ids_header())

    async def _sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the server stops first; True if it is stopping."""
        assert self._stopping is not None
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

    def _ids_header(self) -> dict[str, str]:
        return {"x-request-id": f"req_{uuid.uuid4().hex}"}

    def _usage(self, body: dict[str, Any], content: str) -> dict[str, int]:
        prompt = _count_tokens(body.get("messages", []))
        completion = _count_tokens(content)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(body, content),
        }

    async def _stream(
        self, request: web.Request, body: dict[str, Any], content: str, *, broken: bool = False
    ) -> web.StreamResponse:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(
            status=200,
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                **self._ids_header(),
            },
        )
        await resp.prepare(request)
        base = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": None,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            c = {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                c["usage"] = None
            return c

        events: list[str] = [json.dumps(chunk({"role": "assistant", "content": ""}))]
        if broken:
            events.append(_BROKEN_JSON.decode())
        else:
            pieces = [p for p in _WORD_SPLIT.split(content) if p]
            events += [json.dumps(chunk({"content": p})) for p in pieces]
            events.append(json.dumps(chunk({}, "stop")))
            if include_usage:
                events.append(
                    json.dumps({**base, "choices": [], "usage": self._usage(body, content)})
                )
            events.append("[DONE]")

        assert self._stopping is not None
        try:
            for i, data in enumerate(events):
                if (i and await self._sleep(self.chunk_delay)) or self._stopping.is_set():
                    break
                await resp.write(f"data: {data}\n\n".encode())
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away mid-stream
        return resp
