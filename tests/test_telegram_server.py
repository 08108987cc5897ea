"""The local Telegram Bot API server speaks the protocol the real PTB client expects.

Every request goes from python-telegram-bot's own HTTPXRequest (or httpx, for
the raw body checks) to 127.0.0.1. pytest has no asyncio plugin here, so each
test drives its coroutine with asyncio.run.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from constants import ANN, GROUP
from fakes.telegram_server import DEFAULT_TOKEN, DEFAULT_USERNAME, TelegramBotAPIServer, parse_html
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.constants import ChatAction, MessageEntityType
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

SECONDS = dtm.timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB's future behaviour: time periods (retry_after ...) as timedelta, no warnings."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def server() -> Iterator[TelegramBotAPIServer]:
    with TelegramBotAPIServer() as srv:
        srv.user(ANN, "Ann", username="ann_reads")
        srv.chat(ANN, "private")
        srv.chat(GROUP, "supergroup", title="Readers")
        yield srv


def bot_for(server: TelegramBotAPIServer, token: str = DEFAULT_TOKEN) -> Bot:
    return Bot(token, base_url=f"{server.base_url}/bot")


def bad_request(text: str):
    """PTB drops the "Bad Request: " prefix and capitalizes the rest, so match loosely."""
    return pytest.raises(BadRequest, match=re.compile(re.escape(text), re.IGNORECASE))


def run(coro):
    return asyncio.run(coro)


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d or "?", callback_data=d) for d in data]])


# ------------------------------------------------------------------------ basics


def test_get_me_and_the_request_encoding(server: TelegramBotAPIServer) -> None:
    async def main():
        async with bot_for(server) as bot:  # initialize() calls getMe
            await bot.send_message(ANN, "plain")
            return bot.bot

    me = run(main())
    assert (me.id, me.username, me.is_bot) == (123456, DEFAULT_USERNAME, True)
    get_me, send = server.requests
    assert get_me.method == "getMe" and get_me.ok
    # PTB 22 posts a form body; ids arrive as strings and are decoded.
    assert (send.encoding, send.chat_id, send.text) == ("form", ANN, "plain")


def test_wrong_token_unknown_method_and_raw_error_bodies(server: TelegramBotAPIServer) -> None:
    async def main():
        with pytest.raises(InvalidToken):
            async with bot_for(server, "123456:wrong-token") as bot:
                pass
        async with bot_for(server) as bot:
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": ANN})

    run(main())
    url = f"{server.base_url}/bot{DEFAULT_TOKEN}"
    r = httpx.post(f"{url}/sendTelepathy")
    assert (r.status_code, r.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    r = httpx.get(f"{server.base_url}/bot123456:nope/getMe")
    assert (r.status_code, r.json()["description"]) == (401, "Unauthorized")
    # JSON bodies and GET query strings work too; method names are case-insensitive.
    r = httpx.post(f"{url}/SENDMESSAGE", json={"chat_id": ANN, "text": "json"})
    assert r.status_code == 200 and r.json()["result"]["text"] == "json"
    r = httpx.get(f"{url}/sendMessage", params={"chat_id": ANN, "text": "query"})
    assert r.json()["ok"] and server.requests[-1].encoding == "query"
    server.fail_next("sendMessage", status=429, retry_after=3)
    r = httpx.post(f"{url}/sendMessage", data={"chat_id": ANN, "text": "x"})
    assert (r.status_code, r.json()) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )


# ------------------------------------------------------------------- sendMessage


def test_send_message_html_reply_and_keyboard(server: TelegramBotAPIServer) -> None:
    question = server.send_text(ANN, ANN, "Who found the letter?")
    html = (
        "<b>Answer</b> &amp; proof:\n"
        '<blockquote expandable>"The caretaker found it," <i>she said</i>.</blockquote>\n'
        '<a href="https://example.org/a?x=1&amp;y=2">source</a> <code>[1]</code>'
    )

    async def main():
        async with bot_for(server) as bot:
            return await bot.send_message(
                ANN,
                html,
                parse_mode="HTML",
                reply_parameters=ReplyParameters(question["message_id"]),
                reply_markup=keyboard("more:1", "sources:1"),
            )

    msg = run(main())
    plain = 'Answer & proof:\n"The caretaker found it," she said.\nsource [1]'
    assert msg.text == plain
    assert msg.from_user.id == server.bot_id and msg.chat.id == ANN
    assert msg.message_id == question["message_id"] + 1  # ids count per chat
    assert msg.reply_to_message.message_id == question["message_id"]
    assert msg.reply_to_message.text == "Who found the letter?"
    assert [b.callback_data for b in msg.reply_markup.inline_keyboard[0]] == ["more:1", "sources:1"]
    kinds = {e.type: msg.parse_entity(e) for e in msg.entities}
    assert kinds[MessageEntityType.BOLD] == "Answer"
    assert kinds[MessageEntityType.EXPANDABLE_BLOCKQUOTE] == '"The caretaker found it," she said.'
    assert kinds[MessageEntityType.ITALIC] == "she said"
    assert kinds[MessageEntityType.TEXT_LINK] == "source"
    assert kinds[MessageEntityType.CODE] == "[1]"
    link = next(e for e in msg.entities if e.type == MessageEntityType.TEXT_LINK)
    assert link.url == "https://example.org/a?x=1&y=2"

    [sent] = server.messages(ANN)
    assert (sent.text, sent.html, sent.parse_mode) == (plain, html, "HTML")
    assert sent.reply_to == question["message_id"]
    assert sent.reply_markup["inline_keyboard"][0][0]["callback_data"] == "more:1"
    call = server.calls("sendMessage")[-1]
    assert call.reply_to == question["message_id"] and call.parse_mode == "HTML"
    assert call.params["reply_parameters"] == {"message_id": question["message_id"]}


def test_reply_to_a_missing_message_and_threads(server: TelegramBotAPIServer) -> None:
    async def main():
        async with bot_for(server) as bot:
            with bad_request("message to be replied not found"):
                await bot.send_message(ANN, "x", reply_parameters=ReplyParameters(999))
            lenient = await bot.send_message(
                ANN,
                "y",
                reply_parameters=ReplyParameters(999, allow_sending_without_reply=True),
            )
            threaded = await bot.send_message(GROUP, "in a topic", message_thread_id=7)
            with bad_request("chat not found"):
                await bot.send_message(777, "nobody introduced this chat")
            return lenient, threaded

    lenient, threaded = run(main())
    assert lenient.reply_to_message is None
    assert threaded.message_thread_id == 7 and server.messages(GROUP)[0].thread_id == 7


@pytest.mark.parametrize(
    "html",
    [
        "<b>x",  # never closed
        "a < b",  # bare '<'
        "<foo>x</foo>",  # unknown tag
        "R&D",  # bare '&' (strict: Telegram itself would keep it)
        "1 > 0",  # bare '>' (strict)
        "&nbsp;",  # not one of &lt; &gt; &amp; &quot;
        "x</b>",  # end tag without a start
        "<b><i>x</b></i>",  # crossed
        "<span>x</span>",  # span needs class="tg-spoiler"
        "<i aba>x</i>",  # attribute without a value
        '<a href="x>y',  # unclosed start tag
    ],
)
def test_malformed_html_is_rejected_like_telegram(server: TelegramBotAPIServer, html: str) -> None:
    async def main():
        async with bot_for(server) as bot:
            with pytest.raises(BadRequest) as info:
                await bot.send_message(ANN, html, parse_mode="HTML")
            return str(info.value)

    assert "can't parse entities" in run(main()).lower()
    assert server.messages() == []
    assert server.calls("sendMessage")[-1].status == 400


def test_telegram_error_texts_of_the_html_parser() -> None:
    def error(html: str) -> str:
        with pytest.raises(ValueError) as info:
            parse_html(html)
        return str(info.value)

    assert error("<b>x") == 'Can\'t find end tag corresponding to start tag "b"'
    assert error("a < b") == 'Unsupported start tag "" at byte offset 2'
    assert error("é<foo>x</foo>") == 'Unsupported start tag "foo" at byte offset 2'
    assert error("<i>a</em>") == (
        'Unmatched end tag at byte offset 4, expected "</i>", found "</em>"'
    )
    assert parse_html("<b>a</b   > &quot;<tg-spoiler>s</>") == (
        'a "s',
        [
            {"offset": 0, "length": 1, "type": "bold"},
            {"offset": 3, "length": 1, "type": "spoiler"},
        ],
    )
    # Entity offsets are UTF-16 code units, like Telegram's.
    assert parse_html("🏟<b>x</b>")[1] == [{"offset": 2, "length": 1, "type": "bold"}]
    assert parse_html('<pre><code class="language-python">x = 1</code></pre>')[1] == [
        {"offset": 0, "length": 5, "type": "pre", "language": "python"}
    ]
    # Lenient, like tdlib: unknown "&" stays text, ";" is optional after a known name.
    assert parse_html("R&D &lt b &laquo;", strict=False) == ("R&D < b &laquo;", [])
    assert error("x</") == "Unexpected end tag at byte offset 1"


def test_the_4096_limit_counts_text_after_parsing(server: TelegramBotAPIServer) -> None:
    async def main():
        async with bot_for(server) as bot:
            bold = await bot.send_message(ANN, f"<b>{'a' * 4096}</b>", parse_mode="HTML")
            amps = await bot.send_message(ANN, "&amp;" * 4096, parse_mode="HTML")
            for text, mode in (("a" * 4097, None), (f"<i>{'a' * 4097}</i>", "HTML")):
                with bad_request("message is too long"):
                    await bot.send_message(ANN, text, parse_mode=mode)
            with bad_request("message text is empty"):
                await bot.send_message(ANN, "<b> </b>", parse_mode="HTML")
            return bold, amps

    bold, amps = run(main())
    assert len(bold.text) == 4096 and amps.text == "&" * 4096
    # Telegram trims surrounding whitespace.
    assert [m.text for m in server.messages()] == ["a" * 4096, "&" * 4096]


def test_callback_data_is_at_most_64_bytes(server: TelegramBotAPIServer) -> None:
    async def main():
        async with bot_for(server) as bot:
            ok = await bot.send_message(ANN, "ok", reply_markup=keyboard("é" * 32))  # 64 bytes
            with bad_request("BUTTON_DATA_INVALID"):
                await bot.send_message(ANN, "no", reply_markup=keyboard("é" * 32 + "a"))
            with bad_request("BUTTON_DATA_INVALID"):
                await bot.send_message(ANN, "no", reply_markup=keyboard("x" * 65))
            return ok

    assert run(main()).reply_markup.inline_keyboard[0][0].callback_data == "é" * 32
    assert len(server.messages(ANN)) == 1


# -------------------------------------------------------------------------- edits


def test_edit_message_text(server: TelegramBotAPIServer) -> None:
    user_message = server.send_text(ANN, ANN, "hello")

    async def main():
        async with bot_for(server) as bot:
            sent = await bot.send_message(ANN, "Thinking…", reply_markup=keyboard("stop"))
            # Same text but no reply_markup: the keyboard goes, so it *is* a change.
            bare = await bot.edit_message_text("Thinking…", ANN, sent.message_id)
            done = await bot.edit_message_text(
                "<b>Done</b>", ANN, sent.message_id, parse_mode="HTML"
            )
            with bad_request("message is not modified"):
                await bot.edit_message_text("<b>Done</b>", ANN, sent.message_id, parse_mode="HTML")
            with bad_request("can't parse entities"):
                await bot.edit_message_text("<b>Done", ANN, sent.message_id, parse_mode="HTML")
            with bad_request("message to edit not found"):
                await bot.edit_message_text("x", ANN, 9999)
            with bad_request("message can't be edited"):
                await bot.edit_message_text("x", ANN, user_message["message_id"])
            return sent, bare, done

    sent, bare, done = run(main())
    assert bare.reply_markup is None and bare.edit_date is not None
    assert done.text == "Done" and done.entities[0].type == MessageEntityType.BOLD
    assert [(e.message_id, e.text, e.html) for e in server.edits(ANN)] == [
        (sent.message_id, "Thinking…", "Thinking…"),
        (sent.message_id, "Done", "<b>Done</b>"),
    ]
    assert server.message(ANN, sent.message_id)["text"] == "Done"
    assert server.messages(ANN)[0].text == "Thinking…"  # as first sent


# ---------------------------------------------------------------- failure injection


def test_429_becomes_retry_after_once(server: TelegramBotAPIServer) -> None:
    server.fail_next("sendMessage", status=429, retry_after=1)

    async def main():
        async with bot_for(server) as bot:
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(ANN, "first")
            await bot.send_message(ANN, "second")  # the failure applied once
            return info.value

    exc = run(main())
    assert exc.retry_after == dtm.timedelta(seconds=1)
    assert [m.text for m in server.messages(ANN)] == ["second"]
    assert [(c.status, c.error) for c in server.calls("sendMessage")] == [
        (429, "Too Many Requests: retry after 1"),
        (200, None),
    ]


def test_500_becomes_network_error(server: TelegramBotAPIServer) -> None:
    server.fail_next("sendChatAction", status=500)

    async def main():
        async with bot_for(server) as bot:
            with pytest.raises(NetworkError) as info:
                await bot.send_chat_action(ANN, ChatAction.TYPING)
            return info.value

    exc = run(main())
    # PTB maps every status it has no class for (500 included) to NetworkError itself.
    assert type(exc) is NetworkError and "Internal Server Error" in str(exc)
    assert server.actions(ANN) == []


# ------------------------------------------------------------------------ updates


def test_get_updates_long_polls_until_an_update_arrives(server: TelegramBotAPIServer) -> None:
    def later() -> None:
        time.sleep(0.3)
        server.send_text(ANN, ANN, "/start")

    async def main():
        async with bot_for(server) as bot:
            threading.Thread(target=later).start()
            started = time.monotonic()
            updates = await bot.get_updates(timeout=5 * SECONDS)
            return updates, time.monotonic() - started

    updates, elapsed = run(main())
    assert 0.2 < elapsed < 2.0
    [update] = updates
    assert update.message.text == "/start"
    assert update.message.entities[0].type == MessageEntityType.BOT_COMMAND
    assert update.message.from_user.username == "ann_reads"
    assert update.message.chat.type == "private"


def test_get_updates_offset_and_timeout(server: TelegramBotAPIServer) -> None:
    first = server.send_text(GROUP, ANN, f"/ask@{DEFAULT_USERNAME} who wrote it?")
    second = server.send_text(GROUP, ANN, f"@{DEFAULT_USERNAME} and when?", reply_to=first)

    async def main():
        async with bot_for(server) as bot:
            both = await bot.get_updates(timeout=0)
            again = await bot.get_updates()  # nothing confirmed yet
            later = await bot.get_updates(offset=both[1].update_id)
            started = time.monotonic()
            empty = await bot.get_updates(offset=both[1].update_id + 1, timeout=SECONDS)
            return both, again, later, empty, time.monotonic() - started

    both, again, later, empty, waited = run(main())
    assert [u.update_id for u in both] == [u.update_id for u in again]
    assert both[1].update_id == both[0].update_id + 1
    assert [u.message.message_id for u in later] == [second["message_id"]]
    assert later[0].message.reply_to_message.message_id == first["message_id"]
    assert later[0].message.entities[0].type == MessageEntityType.MENTION
    assert empty == () and 0.9 < waited < 2.0
    assert server.pending_updates == 0  # all confirmed


def test_a_newer_poll_ends_the_older_one_with_conflict(server: TelegramBotAPIServer) -> None:
    async def main():
        async with bot_for(server) as old, bot_for(server) as new:
            waiting = asyncio.create_task(old.get_updates(timeout=5 * SECONDS))
            await asyncio.sleep(0.2)
            assert await new.get_updates(timeout=0) == ()
            with pytest.raises(Conflict, match="terminated by other getUpdates"):
                await waiting

    run(main())


def test_stop_answers_a_long_poll_at_once() -> None:
    srv = TelegramBotAPIServer().start()
    outcome: list[object] = []

    def poll() -> None:
        async def main():
            async with bot_for(srv) as bot:
                try:
                    outcome.append(await bot.get_updates(timeout=30 * SECONDS))
                except NetworkError as exc:
                    outcome.append(exc)

        asyncio.run(main())

    poller = threading.Thread(target=poll)
    poller.start()
    srv.wait_for(lambda s: s.calls("getMe"), timeout=5)
    time.sleep(0.3)  # the poll is in progress
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 2.0
    poller.join(timeout=5)
    assert not poller.is_alive()
    [result] = outcome  # an empty answer, or the connection closed under the client
    assert result == () or isinstance(result, NetworkError)


# ----------------------------------------------------------- the other recorded calls


def test_actions_commands_callback_answers_and_drafts(server: TelegramBotAPIServer) -> None:
    async def main():
        async with bot_for(server) as bot:
            await bot.send_chat_action(ANN, ChatAction.TYPING)
            with pytest.raises(BadRequest):
                await bot.send_chat_action(ANN, "dancing")
            await bot.set_my_commands([("start", "Begin"), ("ask", "Ask about the story")])
            with bad_request("BOT_COMMAND_INVALID"):
                await bot.set_my_commands([("Ask-Now", "bad name")])
            assert [c.command for c in await bot.get_my_commands()] == ["start", "ask"]

            offer = await bot.send_message(ANN, "More?", reply_markup=keyboard("more:1"))
            query = server.press_button(ANN, ANN, offer.message_id, "more:1")
            [update] = await bot.get_updates()
            assert update.callback_query.data == "more:1"
            assert update.callback_query.message.message_id == offer.message_id
            await bot.answer_callback_query(query["id"], text="Loading…")
            with bad_request("query is too old"):
                await bot.answer_callback_query(query["id"])  # only once

            await bot.send_message_draft(ANN, draft_id=5, text="<b>Par</b>", parse_mode="HTML")
            await bot.send_message_draft(ANN, draft_id=5, text="<b>Partial ans</b>wer")
            with pytest.raises(BadRequest):
                await bot.send_message_draft(GROUP, draft_id=5, text="groups cannot")
            with pytest.raises(BadRequest):
                await bot.send_message_draft(ANN, draft_id=0, text="zero")

    run(main())
    assert server.actions(ANN) == ["typing"]
    assert server.commands == [
        {"command": "start", "description": "Begin"},
        {"command": "ask", "description": "Ask about the story"},
    ]
    [answer] = server.callback_answers
    assert answer["text"] == "Loading…"
    assert [(d.draft_id, d.text, d.parse_mode) for d in server.drafts(ANN)] == [
        (5, "Par", "HTML"),
        (5, "<b>Partial ans</b>wer", None),
    ]
    with pytest.raises(ValueError, match="no button"):
        server.press_button(ANN, ANN, server.messages(ANN)[0].message_id, "less:1")


# ------------------------------------------------------------- a real PTB Application


def test_a_ptb_application_answers_start(server: TelegramBotAPIServer) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text("hi")

    async def main() -> None:
        app = ApplicationBuilder().token(server.token).base_url(f"{server.base_url}/bot").build()
        app.add_handler(CommandHandler("start", start))
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0.0, timeout=SECONDS)
            try:
                server.send_text(ANN, ANN, "/start")
                # The bot runs on this loop: wait without blocking it.
                [reply] = await server.wait_for_async(lambda s: s.messages(ANN), timeout=5)
            finally:
                await app.updater.stop()
                await app.stop()
        assert reply.text == "hi" and reply.chat_id == ANN

    started = time.monotonic()
    run(main())
    assert time.monotonic() - started < 5
    assert [c.method for c in server.sent] == ["getMe", "deleteWebhook", "sendMessage"]
    assert server.pending_updates == 0  # the stopping updater confirmed the update
