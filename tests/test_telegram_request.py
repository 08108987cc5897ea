"""The bot's aiohttp network layer against the local Bot API server: what PTB relies on.

Forms and multipart uploads arrive decoded, API errors come back as PTB's
exceptions, and timeouts and dead servers as TimedOut and NetworkError.
pytest has no asyncio plugin here, so each test drives its coroutine with asyncio.run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from conftest import closed_port
from constants import ANN
from fakes.telegram_server import TelegramBotAPIServer
from telegram import Bot
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.telegram.request import AiohttpRequest


@pytest.fixture
def server() -> Iterator[TelegramBotAPIServer]:
    with TelegramBotAPIServer() as srv:
        srv.chat(ANN, "private")
        yield srv


def bot_for(server: TelegramBotAPIServer) -> Bot:
    return Bot(
        server.token,
        base_url=f"{server.base_url}/bot",
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(connections=1),
    )


def test_messages_and_actions_arrive_as_sent(server):
    async def run():
        async with bot_for(server) as bot:
            await bot.send_chat_action(ANN, ChatAction.TYPING)
            return await bot.send_message(ANN, "<b>July 20</b> [1]", parse_mode="HTML")

    sent = asyncio.run(run())
    (message,) = server.messages(ANN)
    assert message.text == "July 20 [1]" == sent.text
    assert message.entities == [{"offset": 0, "length": 7, "type": "bold"}]
    assert server.actions(ANN) == ["typing"]
    assert {c.encoding for c in server.sent if c.params} == {"form"}


def test_files_go_as_multipart(server):
    async def run():
        async with bot_for(server) as bot:
            await bot.set_webhook("https://example.org/hook", certificate=b"-----CERT-----")

    asyncio.run(run())
    (call,) = server.calls("setWebhook")
    assert call.encoding == "multipart"
    assert call.params["url"] == "https://example.org/hook"
    assert call.params["certificate"]["size"] == len(b"-----CERT-----")


def test_api_errors_are_ptb_exceptions(server):
    server.fail_next("sendMessage", 429, retry_after=3)

    async def run():
        async with bot_for(server) as bot:
            with pytest.raises(RetryAfter):
                await bot.send_message(ANN, "hello")
            with pytest.raises(BadRequest, match=r"(?i)chat not found"):
                await bot.send_message(777, "hello")

    asyncio.run(run())


def test_a_slow_answer_times_out(server):
    async def run():
        async with AiohttpRequest() as request:
            url = f"{server.base_url}/bot{server.token}/getUpdates?timeout=5"
            await request.do_request(url, "POST", read_timeout=0.2)

    with pytest.raises(TimedOut):
        asyncio.run(run())


def test_a_dead_server_is_a_network_error():
    async def run():
        bot = Bot("1:x", base_url=f"http://127.0.0.1:{closed_port()}/bot", request=AiohttpRequest())
        async with bot:  # initialize() calls getMe
            pass

    with pytest.raises(NetworkError, match="aiohttp"):
        asyncio.run(run())


def test_requests_need_initialize_and_survive_a_restart(server):
    request = AiohttpRequest()
    url = f"{server.base_url}/bot{server.token}/getMe"
    with pytest.raises(RuntimeError, match="not initialized"):
        asyncio.run(request.do_request(url, "POST"))

    async def once() -> int:
        async with request:
            status, _ = await request.do_request(url, "POST")
            return status

    # Each asyncio.run is a new event loop: the session must be made anew in each.
    assert asyncio.run(once()) == asyncio.run(once()) == 200
