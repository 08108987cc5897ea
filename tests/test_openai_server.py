"""The scripted OpenAI server speaks the protocol the real clients expect.

Every test talks HTTP to 127.0.0.1 only: a guard fails any other connection.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from constants import API_KEY, MODEL
from fakes.openai_server import ScriptedOpenAIServer, hang, malformed, status, text

MESSAGES = [
    {"role": "system", "content": "You answer questions about the story."},
    {"role": "user", "content": "Who found the letter?"},
]

# No network but loopback, no proxies, no OPENAI_* variables: conftest's isolated_env.


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer(MODEL) as srv:
        yield srv


def make_client(server: ScriptedOpenAIServer, **kwargs: object) -> openai.OpenAI:
    options: dict = {"base_url": server.base_url, "api_key": API_KEY, "max_retries": 0}
    options.update(kwargs)
    return openai.OpenAI(**options)


# -- lifecycle ---------------------------------------------------------------------------


def test_binds_loopback_on_a_free_port(server: ScriptedOpenAIServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.port > 0
    with ScriptedOpenAIServer() as other:  # a second one gets its own port
        assert other.port != server.port


def test_stop_is_idempotent_and_frees_the_port() -> None:
    srv = ScriptedOpenAIServer().start()
    port = srv.port
    srv.stop()
    srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)


def test_models_lists_the_configured_model(server: ScriptedOpenAIServer) -> None:
    models = make_client(server).models.list()
    assert [m.id for m in models.data] == [MODEL]


def test_unknown_route_is_an_openai_style_404(server: ScriptedOpenAIServer) -> None:
    resp = httpx.post(
        f"{server.base_url}/completions", json={}, headers={"Authorization": "Bearer k"}
    )
    assert resp.status_code == 404
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}


# -- auth and validation -------------------------------------------------------------------


def test_missing_bearer_token_is_401(server: ScriptedOpenAIServer) -> None:
    resp = httpx.post(
        f"{server.base_url}/chat/completions", json={"model": MODEL, "messages": MESSAGES}
    )
    assert resp.status_code == 401
    error = resp.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]
    assert server.pending == 0  # nothing was consumed from the script
    assert len(server.requests) == 1  # but the request was recorded


def test_wrong_key_is_an_authentication_error() -> None:
    with ScriptedOpenAIServer(api_key="right-key") as srv:
        with pytest.raises(openai.AuthenticationError) as exc_info:
            make_client(srv, api_key="wrong-key").chat.completions.create(
                model=MODEL, messages=MESSAGES
            )
        assert exc_info.value.status_code == 401
        ok = make_client(srv, api_key="right-key").chat.completions.create(
            model=MODEL, messages=MESSAGES
        )
        assert ok.choices[0].message.content == "OK"
        assert srv.request_headers[-1]["authorization"] == "Bearer right-key"


@pytest.mark.parametrize(
    "body",
    [
        {"messages": MESSAGES},  # no model
        {"model": MODEL},  # no messages
        {"model": MODEL, "messages": []},
        {"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]},
        {"model": MODEL, "messages": [{"role": "user"}]},
        {"model": MODEL, "messages": MESSAGES, "stream_options": {"include_usage": True}},
    ],
)
def test_invalid_chat_requests_are_400(server: ScriptedOpenAIServer, body: dict) -> None:
    resp = httpx.post(
        f"{server.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_invalid_request_surfaces_as_bad_request_error(server: ScriptedOpenAIServer) -> None:
    with pytest.raises(openai.BadRequestError, match="stream_options"):
        make_client(server).chat.completions.create(
            model=MODEL, messages=MESSAGES, stream_options={"include_usage": True}
        )


def test_check_model_rejects_other_models() -> None:
    with (
        ScriptedOpenAIServer(MODEL, check_model=True) as srv,
        pytest.raises(openai.NotFoundError, match="gpt-5") as exc_info,
    ):
        make_client(srv).chat.completions.create(model="gpt-5", messages=MESSAGES)
    assert exc_info.value.code == "model_not_found"


# -- text replies ----------------------------------------------------------------------------


def test_non_streaming_completion(server: ScriptedOpenAIServer) -> None:
    server.push(text("Maria found the letter."))
    completion = make_client(server).chat.completions.create(model=MODEL, messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == MODEL
    assert completion.created > 0
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Maria found the letter."
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )

    (request,) = server.requests
    assert request["model"] == MODEL
    assert request["messages"] == MESSAGES
    assert not request.get("stream")


def test_streaming_completion(server: ScriptedOpenAIServer) -> None:
    answer = "Maria found the letter under the old oak tree."
    server.push(text(answer))
    stream = make_client(server).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    chunks = list(stream)

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(deltas) > 1
    assert "".join(deltas) == answer
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks)

    assert server.requests[-1]["stream"] is True
    assert server.requests[-1]["messages"] == MESSAGES


def test_streaming_with_include_usage(server: ScriptedOpenAIServer) -> None:
    server.push(text("one two three"))
    chunks = list(
        make_client(server).chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *content_chunks, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.completion_tokens == 3
    assert all(c.usage is None for c in content_chunks)
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == "one two three"


def test_streaming_is_observable_chunk_by_chunk() -> None:
    """With chunk_delay, the first delta arrives well before the stream ends."""
    with ScriptedOpenAIServer(chunk_delay=0.05) as srv:
        srv.push(text("a b c d e f"))
        start = time.monotonic()
        arrivals = [
            time.monotonic() - start
            for c in make_client(srv).chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True
            )
            if c.choices and c.choices[0].delta.content
        ]
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 0.2


def test_queue_is_fifo_then_default_reply(server: ScriptedOpenAIServer) -> None:
    client = make_client(server)

    def ask() -> str | None:
        reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        return reply.choices[0].message.content

    server.push_many([text("first"), "second"])  # a plain str means text(str)
    assert server.pending == 2
    assert [ask(), ask(), ask()] == ["first", "second", "OK"]
    server.default_reply = text("fallback")
    assert [ask(), ask()] == ["fallback", "fallback"]
    assert len(server.requests) == 5
    server.reset()
    assert server.requests == [] and server.pending == 0
    assert ask() == "OK"


def test_callable_reply_answers_from_the_prompt(server: ScriptedOpenAIServer) -> None:
    server.push(lambda req: "You asked: " + req["messages"][-1]["content"])
    server.push(lambda req: status(503) if req.get("stream") else text("no"))
    client = make_client(server)

    answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert answer.choices[0].message.content == "You asked: Who found the letter?"
    with pytest.raises(openai.InternalServerError):  # a callable may return any Reply
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))


def test_callable_reply_that_raises_is_a_500(server: ScriptedOpenAIServer) -> None:
    server.push(lambda req: 1 / 0)
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        make_client(server).chat.completions.create(model=MODEL, messages=MESSAGES)


def test_concurrent_requests_are_all_recorded(server: ScriptedOpenAIServer) -> None:
    client = make_client(server)

    def ask(i: int) -> str | None:
        messages = [{"role": "user", "content": f"question {i}"}]
        reply = client.chat.completions.create(model=MODEL, messages=messages)
        return reply.choices[0].message.content

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(16)))
    assert answers == ["OK"] * 16
    asked = sorted(r["messages"][0]["content"] for r in server.requests)
    assert asked == sorted(f"question {i}" for i in range(16))


# -- error replies -----------------------------------------------------------------------------


def test_429_is_a_rate_limit_error_with_retry_after(server: ScriptedOpenAIServer) -> None:
    server.push(status(429, retry_after=0.25, message="Slow down"))
    with pytest.raises(openai.RateLimitError) as exc_info:
        make_client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
    err = exc_info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "0.25"
    assert err.code == "rate_limit_exceeded"
    assert err.type == "requests"
    assert "Slow down" in err.message


def test_client_retry_honours_retry_after(server: ScriptedOpenAIServer) -> None:
    server.push_many([status(429, retry_after=0.2), text("second try")])
    start = time.monotonic()
    reply = make_client(server, max_retries=1).chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    assert reply.choices[0].message.content == "second try"
    assert time.monotonic() - start >= 0.2
    assert len(server.requests) == 2


def test_500_is_an_internal_server_error(server: ScriptedOpenAIServer) -> None:
    server.push(status(500))
    with pytest.raises(openai.InternalServerError) as exc_info:
        make_client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert exc_info.value.status_code == 500
    assert exc_info.value.type == "server_error"
    assert "retry-after" not in exc_info.value.response.headers


def test_error_reply_on_a_streaming_request(server: ScriptedOpenAIServer) -> None:
    server.push(status(429, retry_after=1))
    with pytest.raises(openai.RateLimitError):
        make_client(server).chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)


def test_hang_triggers_client_timeout_quickly(server: ScriptedOpenAIServer) -> None:
    server.push(hang(5))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        make_client(server, timeout=0.5).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert time.monotonic() - start < 2


def test_hang_then_answers_late(server: ScriptedOpenAIServer) -> None:
    server.push(hang(0.2))
    start = time.monotonic()
    reply = make_client(server, timeout=5).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.choices[0].message.content == "late"
    assert time.monotonic() - start >= 0.2


def test_stop_does_not_wait_for_a_hanging_reply() -> None:
    srv = ScriptedOpenAIServer().start()
    srv.push(hang(30))
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(
                make_client(srv, timeout=30).chat.completions.create(model=MODEL, messages=MESSAGES)
            )
        except Exception as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while not srv.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.requests, "the hanging request never reached the server"

    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 2
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert isinstance(outcome[0], openai.APIError)  # 503 "shutting down" or connection error


def test_malformed_json_raises_json_decode_error(server: ScriptedOpenAIServer) -> None:
    """openai 2.x does not wrap a bad JSON body: the JSONDecodeError escapes as-is."""
    server.push(malformed())
    with pytest.raises(json.JSONDecodeError) as exc_info:
        make_client(server).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert not isinstance(exc_info.value, openai.OpenAIError)


def test_malformed_stream_raises_json_decode_error(server: ScriptedOpenAIServer) -> None:
    server.push(malformed())
    stream = make_client(server).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    first = next(stream)  # the role chunk is well-formed
    assert first.choices[0].delta.role == "assistant"
    with pytest.raises(json.JSONDecodeError):
        next(stream)


# -- LlamaIndex ----------------------------------------------------------------------------------


def make_llama_llm(server: ScriptedOpenAIServer, **kwargs: object):
    try:
        from llama_index.llms.openai_like import OpenAILike
    except ImportError:
        from llama_index.llms.openai import OpenAI

        return OpenAI(
            model=MODEL,
            api_base=server.base_url,
            api_key=API_KEY,
            max_retries=0,
            timeout=5,
            **kwargs,
        )
    return OpenAILike(
        model=MODEL,
        api_base=server.base_url,
        api_key=API_KEY,
        is_chat_model=True,
        max_retries=0,
        timeout=5,
        **kwargs,
    )


def test_llama_index_chat(server: ScriptedOpenAIServer) -> None:
    from llama_index.core.llms import ChatMessage

    server.push(text("Maria found it."))
    llm = make_llama_llm(server)
    response = llm.chat(
        [
            ChatMessage(role="system", content="Answer briefly."),
            ChatMessage(role="user", content="Who found the letter?"),
        ]
    )
    assert response.message.content == "Maria found it."
    assert str(response.message.role.value) == "assistant"

    (request,) = server.requests
    assert request["model"] == MODEL
    assert not request.get("stream")
    assert [(m["role"], m["content"]) for m in request["messages"]] == [
        ("system", "Answer briefly."),
        ("user", "Who found the letter?"),
    ]


def test_llama_index_stream_chat(server: ScriptedOpenAIServer) -> None:
    from llama_index.core.llms import ChatMessage

    answer = "Maria found it in the attic."
    server.push(text(answer))
    llm = make_llama_llm(server)
    pieces = list(llm.stream_chat([ChatMessage(role="user", content="Who found the letter?")]))

    deltas = [p.delta for p in pieces if p.delta]
    assert len(deltas) > 1
    assert "".join(deltas) == answer
    assert pieces[-1].message.content == answer

    (request,) = server.requests
    assert request["stream"] is True
    assert request["messages"] == [{"role": "user", "content": "Who found the letter?"}]


def test_llama_index_surfaces_rate_limit(server: ScriptedOpenAIServer) -> None:
    from llama_index.core.llms import ChatMessage

    server.push(status(429, retry_after=0.1))
    with pytest.raises(openai.RateLimitError):
        make_llama_llm(server).chat([ChatMessage(role="user", content="hi")])
