"""A small, strict, local Telegram Bot API server for end-to-end tests of a PTB bot.

It listens on 127.0.0.1 only (free port), runs an aiohttp app on its own event
loop in a background thread, and speaks the Bot API the way Telegram does:
``POST`` (or ``GET``) ``{base_url}/bot<TOKEN>/<method>`` with parameters in the
query string, a form body (``application/x-www-form-urlencoded`` or
``multipart/form-data`` - what PTB's ``HTTPXRequest`` sends, nested values being
JSON strings inside the form fields) or a JSON body; answers
``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}``
with HTTP status ``N``.

    with TelegramBotAPIServer() as server:
        app = (
            ApplicationBuilder()
            .token(server.token)
            .base_url(f"{server.base_url}/bot")
            .build()
        )
        ...  # start the app and its updater (polling) - see the tests
        server.send_text(42, 42, "/start")  # user 42 writes in their private chat
        [reply] = server.wait_for(lambda s: s.messages(42))
        assert reply.text == "hi"

Implemented methods: getMe, getUpdates (long polling), setWebhook, deleteWebhook,
getWebhookInfo, setMyCommands, getMyCommands, deleteMyCommands, sendMessage,
editMessageText, editMessageReplyMarkup, deleteMessage, sendChatAction,
answerCallbackQuery, sendMessageDraft. Method names are case-insensitive, as
in the Bot API. Anything else is a 404 ``Not Found``; a wrong token is a 401
``Unauthorized``.

Stricter than Telegram, on purpose: with ``strict_html=True`` (the default) a
bare ``&`` or ``>`` in HTML text is a parse error (Telegram keeps them as
text), so a bot that forgets ``html.escape`` fails here, not on the first
story with "R&D" in it. Parse modes other than HTML (or none) are rejected.
The bot may only write to chats the test introduced (``chat()``, or an
injected message); everything else is "chat not found".

Descriptions are Telegram's where known (``can't parse entities: ...``,
``message is not modified: ...``, ``BUTTON_DATA_INVALID``, ``Too Many Requests:
retry after N`` ...); a few for cases Telegram words unknowably are the
server's own and say so.

Modules: ``entities`` (Telegram's HTML into text and entities), ``methods``
(the Bot API methods and their errors), ``records`` (what the server
recorded: ``Call``, ``BotMessage``), ``server`` (the app and its lifecycle,
the test side, the HTTP layer).
"""

from fakes.telegram_server.entities import HTMLParseError, parse_html
from fakes.telegram_server.records import BotMessage, Call
from fakes.telegram_server.server import (
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    TelegramBotAPIServer,
)

__all__ = [
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "BotMessage",
    "Call",
    "HTMLParseError",
    "TelegramBotAPIServer",
    "parse_html",
]
