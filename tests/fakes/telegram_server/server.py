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
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import inspect
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes.loopback import LoopbackServer

__all__ = [
    "DEFAULT_TOKEN",
    "BotMessage",
    "Call",
    "HTMLParseError",
    "TelegramBotAPIServer",
    "parse_html",
]

DEFAULT_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz0123"
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

# ---------------------------------------------------------------------------- HTML


class HTMLParseError(ValueError):
    """Telegram's "can't parse entities" error; the message is what follows that prefix."""


# Supported tags -> entity type (https://core.telegram.org/bots/api#html-style).
_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Strict: a complete entity. Lenient, like tdlib: letters only, ";" optional.
_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z][a-zA-Z0-9]*));")
_LOOSE_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z]+));?")
_SPACES = " \t\r\n\v\f\0"


@dataclass
class _OpenTag:
    tag: str
    start: int  # UTF-16 offset in the plain text
    argument: str = ""
    expandable: bool = False


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode_entity(source: str, i: int, strict: bool) -> tuple[str | None, int]:
    """The character the entity at ``source[i]`` ('&') stands for, and where it ends."""
    m = (_ENTITY if strict else _LOOSE_ENTITY).match(source, i)
    if m is None:
        return None, i
    if m[1] or m[2]:
        code = int(m[1], 10) if m[1] else int(m[2], 16)
        if 0xD800 <= code <= 0xDFFF:
            raise HTMLParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        if code == 0 or code > 0x10FFFF:
            return None, i
        return chr(code), m.end()
    char = _NAMED_ENTITIES.get(m[3])
    return (char, m.end()) if char is not None else (None, i)


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML into plain text and message entities.

    Follows tdlib's parser (same error texts); entity offsets and lengths are in
    UTF-16 code units. With ``strict`` a bare ``&`` or ``>`` is an error too.
    Raises :class:`HTMLParseError`.
    """
    plain: list[str] = []
    units = 0
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0

    def byte_offset(k: int) -> int:
        return len(source[:k].encode("utf-8"))

    def add(text: str) -> None:
        nonlocal units
        plain.append(text)
        units += _utf16_len(text)

    def decode(raw: str, base: int) -> str:
        """Entity-decode an attribute value starting at ``source[base]``."""
        out: list[str] = []
        k = 0
        while k < len(raw):
            if raw[k] != "&":
                out.append(raw[k])
                k += 1
                continue
            char, end = _decode_entity(raw, k, strict)
            if char is None:
                if strict:
                    raise HTMLParseError(
                        f'"&" at byte offset {byte_offset(base + k)} starts no entity: '
                        "write it as &amp; (strict test server)"
                    )
                char, end = "&", k + 1
            out.append(char)
            k = end
        return "".join(out)

    while i < n:
        ch = source[i]
        if ch == "&":
            char, end = _decode_entity(source, i, strict)
            if char is None:
                if strict:
                    raise HTMLParseError(
                        f'"&" at byte offset {byte_offset(i)} starts no entity: write it '
                        "as &amp; (strict test server)"
                    )
                char, end = "&", i + 1
            add(char)
            i = end
            continue
        if ch == ">":
            if strict:
                raise HTMLParseError(
                    f'Unescaped ">" at byte offset {byte_offset(i)}: write it as &gt; '
                    "(strict test server)"
                )
            add(ch)
            i += 1
            continue
        if ch != "<":
            j = i + 1
            while j < n and source[j] not in "<>&":
                j += 1
            add(source[i:j])
            i = j
            continue

        begin = i
        if i + 1 < n and source[i + 1] == "/":  # an end tag
            if not stack:
                raise HTMLParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            close = source.find(">", i + 2)
            if close < 0:
                raise HTMLParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            name = source[i + 2 : close].strip(_SPACES).lower()
            top = stack[-1]
            if name and name != top.tag:
                raise HTMLParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{top.tag}>", found "</{name}>"'
                )
            stack.pop()
            _close_tag(top, units, stack, entities)
            i = close + 1
            continue

        # A start tag.
        i += 1
        j = i
        while j < n and source[j] not in _SPACES and source[j] != ">":
            j += 1
        if j >= n:
            raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        tag = source[i:j].lower()
        if tag not in _TAG_TYPES:
            raise HTMLParseError(
                f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
            )
        i = j
        argument = ""
        expandable = False
        while True:
            while i < n and source[i] in _SPACES:
                i += 1
            if i >= n:
                raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            if source[i] == ">":
                i += 1
                break
            attr_begin = i
            while i < n and source[i] not in _SPACES and source[i] not in "=>":
                i += 1
            attr = source[attr_begin:i].lower()
            if not attr:
                raise HTMLParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            while i < n and source[i] in _SPACES:
                i += 1
            if i >= n or source[i] != "=":
                if tag == "blockquote" and attr == "expandable":
                    expandable = True
                    continue
                if i >= n:
                    raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                raise HTMLParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {byte_offset(begin)}'
                )
            i += 1
            while i < n and source[i] in _SPACES:
                i += 1
            if i >= n:
                raise HTMLParseError(
                    f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            if source[i] in "\"'":
                end = source.find(source[i], i + 1)
                if end < 0:
                    raise HTMLParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                value = decode(source[i + 1 : end], i + 1)
                i = end + 1
            else:  # a name token: letters, digits, periods, hyphens
                token = i
                while i < n and (
                    (source[i].isascii() and source[i].isalnum()) or source[i] in ".-"
                ):
                    i += 1
                value = source[token:i].lower()
                if i < n and source[i] not in _SPACES and source[i] != ">":
                    raise HTMLParseError(
                        f"Unexpected end of name token at byte offset {byte_offset(token)}"
                    )
            if tag == "a" and attr == "href":
                argument = value
            elif tag == "code" and attr == "class" and value.startswith("language-"):
                argument = value[len("language-") :]
            elif (tag == "span" and attr == "class") or (tag == "tg-emoji" and attr == "emoji-id"):
                argument = value
            elif tag == "blockquote" and attr == "expandable":
                expandable = True
        if tag == "span" and argument != "tg-spoiler":
            raise HTMLParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
            )
        if tag == "tg-emoji" and not (argument.isdigit() and int(argument) > 0):
            raise HTMLParseError("Invalid custom emoji identifier specified")
        stack.append(_OpenTag(tag, units, argument, expandable))

    if stack:
        raise HTMLParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(plain), entities


def _close_tag(
    top: _OpenTag, units: int, stack: list[_OpenTag], entities: list[dict[str, Any]]
) -> None:
    if top.tag == "code" and top.argument and stack and stack[-1].tag == "pre":
        stack[-1].argument = top.argument  # <pre><code class="language-x"> is a pre with x
        return
    length = units - top.start
    if length <= 0:
        return
    entity: dict[str, Any] = {"offset": top.start, "length": length, "type": _TAG_TYPES[top.tag]}
    if top.tag == "a":
        if not top.argument:
            return
        entity["url"] = top.argument
    elif top.tag == "pre" and top.argument:
        entity["language"] = top.argument
    elif top.tag == "tg-emoji":
        entity["custom_emoji_id"] = top.argument
    elif top.tag == "blockquote" and top.expandable:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace like Telegram does, clipping the entities."""
    body = text.strip()
    if body == text:
        return text, entities
    lead = _utf16_len(text[: len(text) - len(text.lstrip())])
    total = _utf16_len(body)
    clipped = []
    for e in entities:
        start = max(e["offset"] - lead, 0)
        end = min(e["offset"] + e["length"] - lead, total)
        if end > start:
            clipped.append({**e, "offset": start, "length": end - start})
    return body, clipped


# Entities Telegram adds to the messages users send.
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_MENTION = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}(?![A-Za-z0-9_])")


def _auto_entities(text: str) -> list[dict[str, Any]]:
    found = []
    for pattern, kind in ((_COMMAND, "bot_command"), (_MENTION, "mention")):
        for m in pattern.finditer(text):
            offset = _utf16_len(text[: m.start()])
            found.append({"offset": offset, "length": _utf16_len(m.group()), "type": kind})
    found.sort(key=lambda e: e["offset"])
    return found


# -------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Call:
    """One request the bot made (including rejected ones), as the server saw it."""

    method: str  # canonical name ("sendMessage") or, if unknown, the name as requested
    params: dict[str, Any]  # decoded: JSON-in-form values parsed, ids as int, flags as bool
    status: int  # the HTTP status answered (== error_code on failure)
    result: Any = None  # "result" on success
    error: str | None = None  # "description" on failure
    encoding: str = "none"  # "form", "multipart", "json", "query" or "none"
    at: float = 0.0  # time.monotonic() when answered

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        return self.params.get("text")

    @property
    def parse_mode(self) -> str | None:
        return self.params.get("parse_mode")

    @property
    def reply_markup(self) -> Any:
        return self.params.get("reply_markup")

    @property
    def reply_to(self) -> int | None:
        """The message id the call replies to (reply_parameters or reply_to_message_id)."""
        rp = self.params.get("reply_parameters")
        if isinstance(rp, dict) and isinstance(rp.get("message_id"), int):
            return rp["message_id"]
        rid = self.params.get("reply_to_message_id")
        return rid if isinstance(rid, int) else None


@dataclass(frozen=True)
class BotMessage:
    """What the bot successfully sent, edited or drafted."""

    method: str  # "sendMessage", "editMessageText", "editMessageReplyMarkup", "sendMessageDraft"
    chat_id: int
    text: str  # plain text as Telegram stores it (tags removed, entities decoded, trimmed)
    html: str  # the text parameter exactly as sent (the HTML source with parse_mode=HTML)
    parse_mode: str | None
    entities: list[dict[str, Any]]
    message_id: int | None = None  # None for drafts
    reply_to: int | None = None  # id of the message replied to, if any
    thread_id: int | None = None
    reply_markup: Any = None  # as sent (decoded JSON)
    draft_id: int | None = None
    message: dict[str, Any] | None = None  # the Message object returned to the bot
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Failure:
    status: int
    description: str
    parameters: dict[str, Any] | None


class _APIError(Exception):
    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> _APIError:
    return _APIError(400, f"Bad Request: {description}")


# Parameter decoding: what arrives as a string in a form body.
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "reply_parameters",
        "allowed_updates",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "link_preview_options",
        "message_ids",
    }
)
_INT_PARAMS = frozenset(
    {
        "message_id",
        "offset",
        "limit",
        "timeout",
        "draft_id",
        "message_thread_id",
        "reply_to_message_id",
        "cache_time",
        "max_connections",
        "user_id",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "allow_sending_without_reply",
        "disable_notification",
        "protect_content",
        "allow_paid_broadcast",
        "drop_pending_updates",
        "show_alert",
        "disable_web_page_preview",
    }
)
_INT_TEXT = re.compile(r"-?[0-9]+")

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# Update types Telegram only sends when asked for by allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_CHAT_TYPES = frozenset({"private", "group", "supergroup"})
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_PATH = re.compile(r"/bot([^/]*)/([^/]*)")

_METHODS = (
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "sendChatAction",
    "answerCallbackQuery",
    "sendMessageDraft",
)
_CANONICAL = {name.lower(): name for name in _METHODS}


# --------------------------------------------------------------------------- server


class TelegramBotAPIServer(LoopbackServer):
    """A local, strict Telegram Bot API server (see the module docstring).

    Args:
        token: the one valid bot token; its numeric prefix is the bot's user id.
        username: the bot's username (``getMe``).
        first_name: the bot's first name.
        strict_html: reject a bare ``&`` or ``>`` in HTML text (Telegram keeps them).
        port: port to bind on 127.0.0.1 (0 = pick a free one).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "StoryTestBot",
        first_name: str = "Story Test Bot",
        strict_html: bool = True,
        port: int = 0,
    ) -> None:
        bot_id, sep, _ = token.partition(":")
        if not sep or not bot_id.isdigit():
            raise ValueError(f"not a bot token (want '<bot id>:<secret>'): {token!r}")
        self.token = token
        self.strict_html = strict_html
        self.me: dict[str, Any] = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        super().__init__(port)
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._outbox: list[BotMessage] = []
        self._actions: list[tuple[int, str, dict[str, Any]]] = []
        self._callback_answers: list[dict[str, Any]] = []
        self._failures: dict[str, collections.deque[_Failure]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._last_message_id: dict[int, int] = {}
        self._queries: dict[str, bool] = {}  # callback query id -> answered
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._updates: list[dict[str, Any]] = []
        self._dropped: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._webhook: dict[str, Any] | None = None
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._last_commands: list[dict[str, Any]] | None = None
        self._poll_generation = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "sendMessageDraft": self._send_message_draft,
        }
        self._wakeup: asyncio.Event | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------

    thread_name = "telegram-bot-api-server"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; PTB's ``base_url`` is this plus ``/bot``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def bot_id(self) -> int:
        return self.me["id"]

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _on_start(self) -> None:
        self._stopping = False
        self._wakeup = asyncio.Event()

    def _on_stop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stopping = True  # a long poll in progress is answered at once
        loop.call_soon_threadsafe(self._wake)

    def _on_stopped(self) -> None:
        self._wakeup = None

    def _wake(self) -> None:
        """On the server loop: wake every long poll (they re-check their state)."""
        event = self._wakeup
        if event is not None:
            self._wakeup = asyncio.Event()
            event.set()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._wake)

    # -- test side: people, chats, updates ---------------------------------------------

    def user(
        self,
        id: int,
        first_name: str = "Test",
        *,
        is_bot: bool = False,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> dict[str, Any]:
        """Register (or replace) a user and return its User object."""
        if id <= 0:
            raise ValueError(f"user ids are positive, got {id}")
        user: dict[str, Any] = {"id": id, "is_bot": is_bot, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        with self._lock:
            self._users[id] = user
        return dict(user)

    def chat(
        self,
        id: int,
        type: str = "private",
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        is_forum: bool = False,
    ) -> dict[str, Any]:
        """Register (or replace) a chat the bot may talk in and return its Chat object.

        A private chat's id is its user's id (positive); group ids are negative.
        """
        if type not in _CHAT_TYPES:
            raise ValueError(f"chat type must be one of {sorted(_CHAT_TYPES)}, got {type!r}")
        chat: dict[str, Any] = {"id": id, "type": type}
        if type == "private":
            if id <= 0:
                raise ValueError(f"a private chat's id is its user's id (positive), got {id}")
            with self._lock:
                known = self._users.get(id, {})
            chat["first_name"] = first_name or known.get("first_name", "Test")
            last = last_name if last_name is not None else known.get("last_name")
            if last is not None:
                chat["last_name"] = last
            name = username if username is not None else known.get("username")
            if name is not None:
                chat["username"] = name
        else:
            if id >= 0:
                raise ValueError(f"group and supergroup ids are negative, got {id}")
            chat["title"] = title or f"Test {type} {id}"
            if username is not None:
                chat["username"] = username
            if is_forum:
                if type != "supergroup":
                    raise ValueError("only supergroups can be forums")
                chat["is_forum"] = True
        with self._lock:
            self._chats[id] = chat
        return dict(chat)

    def send_text(
        self,
        chat: int | dict[str, Any],
        user: int | dict[str, Any],
        text: str,
        *,
        chat_type: str | None = None,
        reply_to: int | dict[str, Any] | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """Inject a text message from ``user`` in ``chat`` as a ``message`` update.

        ``chat``/``user`` are ids or objects from :meth:`chat`/:meth:`user`; unknown
        ids are registered on the fly (``chat_type`` default "private"). ``reply_to``
        is a message (dict) or message id in the same chat. bot_command and mention
        entities are computed. Returns the Message object.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a message needs some text")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"users cannot send more than {MAX_TEXT_LENGTH} characters")
        with self._lock:
            sender = self._test_user(user)
            where = self._test_chat(chat, chat_type, sender)
            reply = None
            if reply_to is not None:
                reply = self._existing_message(where["id"], reply_to)
            message = self._new_message(
                where,
                sender,
                text,
                _auto_entities(text),
                reply_to=reply,
                thread_id=thread_id,
            )
            self._enqueue("message", message)
            return copy.deepcopy(message)

    def press_button(
        self,
        chat: int | dict[str, Any],
        user: int | dict[str, Any],
        message: int | dict[str, Any],
        data: str,
        *,
        check: bool = True,
    ) -> dict[str, Any]:
        """Inject a ``callback_query`` update: ``user`` presses a button of ``message``.

        With ``check`` the message's current inline keyboard must have a button with
        that ``callback_data``. Returns the CallbackQuery object (its ``id`` is what
        answerCallbackQuery must name).
        """
        with self._lock:
            chat_id = chat["id"] if isinstance(chat, dict) else chat
            if chat_id not in self._chats:
                raise ValueError(f"unknown chat {chat_id}")
            presser = self._test_user(user)
            target = self._existing_message(chat_id, message)
            if check:
                rows = (target.get("reply_markup") or {}).get("inline_keyboard", [])
                offered = [b.get("callback_data") for row in rows for b in row]
                if data not in offered:
                    raise ValueError(
                        f"message {target['message_id']} has no button with callback_data "
                        f"{data!r}; its buttons have {offered!r}"
                    )
            query = {
                "id": str(next(self._query_ids)),
                "from": presser,
                "message": copy.deepcopy(target),
                "chat_instance": str(abs(chat_id) * 1000 + 7),
                "data": data,
            }
            self._queries[query["id"]] = False
            self._enqueue("callback_query", query)
            return copy.deepcopy(query)

    def push_update(self, kind: str, payload: dict[str, Any]) -> int | None:
        """Inject any update ``{"update_id": N, kind: payload}``; returns N
        (None if the bot's allowed_updates exclude ``kind``)."""
        with self._lock:
            return self._enqueue(kind, copy.deepcopy(payload))

    def _test_user(self, user: int | dict[str, Any]) -> dict[str, Any]:
        if isinstance(user, dict):
            uid = user["id"]
            if uid not in self._users:
                self._users[uid] = dict(user)
            return dict(self._users[uid])
        if user not in self._users:
            self.user(user, f"User{user}")
        return dict(self._users[user])

    def _test_chat(
        self, chat: int | dict[str, Any], chat_type: str | None, sender: dict[str, Any]
    ) -> dict[str, Any]:
        if isinstance(chat, dict):
            cid = chat["id"]
            if cid not in self._chats:
                self._chats[cid] = dict(chat)
        else:
            cid = chat
            if cid not in self._chats:
                self.chat(cid, chat_type or "private")
        known = self._chats[cid]
        if chat_type is not None and known["type"] != chat_type:
            raise ValueError(f"chat {cid} is a {known['type']} chat, not {chat_type}")
        if known["type"] == "private" and cid != sender["id"]:
            raise ValueError(f"only user {cid} writes in private chat {cid}, not {sender['id']}")
        return dict(known)

    def _existing_message(self, chat_id: int, message: int | dict[str, Any]) -> dict[str, Any]:
        mid = message["message_id"] if isinstance(message, dict) else message
        found = self._messages.get((chat_id, mid))
        if found is None:
            raise ValueError(f"no message {mid} in chat {chat_id} (never sent, or deleted)")
        return found

    def _new_message(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        text: str,
        entities: list[dict[str, Any]] | None,
        *,
        reply_to: dict[str, Any] | None = None,
        thread_id: int | None = None,
        markup: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        cid = chat["id"]
        mid = self._last_message_id.get(cid, 0) + 1
        self._last_message_id[cid] = mid
        message: dict[str, Any] = {"message_id": mid}
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        message.update({"from": dict(sender), "chat": dict(chat), "date": int(time.time())})
        if reply_to is not None:
            quoted = copy.deepcopy(reply_to)
            quoted.pop("reply_to_message", None)  # Telegram does not nest replies further
            message["reply_to_message"] = quoted
        message["text"] = text
        if entities:
            message["entities"] = copy.deepcopy(entities)
        if markup is not None:
            message["reply_markup"] = copy.deepcopy(markup)
        self._messages[(cid, mid)] = message
        return message

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> int | None:
        allowed = self._allowed_updates
        wanted = kind not in _OPT_IN_UPDATES if not allowed else kind in allowed
        if not wanted:
            self._dropped.append({kind: payload})
            return None
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        self._notify()
        return update_id

    # -- test side: scripted failures ----------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 429,
        retry_after: int = 1,
        *,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error instead.

        429 is Telegram's flood-wait body (``parameters.retry_after``); other statuses
        use ``description`` or a stock one ("Internal Server Error" for 500 ...).
        """
        canonical = _CANONICAL.get(method.lower())
        if canonical is None:
            raise ValueError(f"the server does not implement {method!r}")
        if not 400 <= status <= 599:
            raise ValueError(f"fail_next() is for error codes (4xx/5xx), got {status}")
        parameters = None
        if status == 429:
            parameters = {"retry_after": retry_after}
            text = description or f"Too Many Requests: retry after {retry_after}"
        else:
            text = description or _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        with self._lock:
            queue = self._failures.setdefault(canonical, collections.deque())
            queue.extend(_Failure(status, text, parameters) for _ in range(times))

    # -- test side: what the bot did -------------------------------------------------------

    @property
    def requests(self) -> list[Call]:
        """Every request received, in order of answer (getUpdates and rejects included)."""
        with self._lock:
            return list(self._calls)

    @property
    def sent(self) -> list[Call]:
        """Every call but getUpdates (long polls are noise), in order."""
        with self._lock:
            return [c for c in self._calls if c.method != "getUpdates"]

    def calls(self, method: str) -> list[Call]:
        """The calls of one method (case-insensitive name)."""
        name = _CANONICAL.get(method.lower(), method)
        with self._lock:
            return [c for c in self._calls if c.method == name]

    def _bot_messages(self, method: str, chat_id: int | None) -> list[BotMessage]:
        with self._lock:
            return [
                m
                for m in self._outbox
                if m.method == method and (chat_id is None or m.chat_id == chat_id)
            ]

    def messages(self, chat_id: int | None = None) -> list[BotMessage]:
        """Messages the bot sent (successful sendMessage), optionally in one chat."""
        return self._bot_messages("sendMessage", chat_id)

    def edits(self, chat_id: int | None = None) -> list[BotMessage]:
        """Successful editMessageText / editMessageReplyMarkup calls, in order."""
        with self._lock:
            return [
                m
                for m in self._outbox
                if m.method in ("editMessageText", "editMessageReplyMarkup")
                and (chat_id is None or m.chat_id == chat_id)
            ]

    def drafts(self, chat_id: int | None = None) -> list[BotMessage]:
        """Successful sendMessageDraft calls, in order."""
        return self._bot_messages("sendMessageDraft", chat_id)

    def actions(self, chat_id: int | None = None) -> list[str]:
        """Chat actions ("typing", ...) the bot sent, in order."""
        with self._lock:
            return [a for cid, a, _ in self._actions if chat_id is None or cid == chat_id]

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """Parameters of every successful answerCallbackQuery, in order."""
        with self._lock:
            return copy.deepcopy(self._callback_answers)

    @property
    def commands(self) -> list[dict[str, Any]] | None:
        """The command list of the last successful setMyCommands (None if none)."""
        with self._lock:
            return copy.deepcopy(self._last_commands)

    @property
    def webhook(self) -> dict[str, Any] | None:
        """The parameters of the webhook set (None if none)."""
        with self._lock:
            return copy.deepcopy(self._webhook)

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by the bot (getUpdates offset)."""
        with self._lock:
            return len(self._updates)

    @property
    def dropped_updates(self) -> list[dict[str, Any]]:
        """Injected updates never queued because the bot's allowed_updates exclude them."""
        with self._lock:
            return copy.deepcopy(self._dropped)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The current state of a message (after edits), or None (unknown or deleted)."""
        with self._lock:
            found = self._messages.get((chat_id, message_id))
            return copy.deepcopy(found) if found is not None else None

    def history(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message of the chat that still exists (users' and bot's), by id."""
        with self._lock:
            found = [m for (cid, _), m in self._messages.items() if cid == chat_id]
            return copy.deepcopy(sorted(found, key=lambda m: m["message_id"]))

    def wait_for(
        self, predicate: Callable[[TelegramBotAPIServer], Any], timeout: float = 5.0
    ) -> Any:
        """Block until ``predicate(server)`` is truthy and return its value.

        For a bot running in another thread or process. When the bot runs on the
        caller's own event loop use :meth:`wait_for_async` (this would block it).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            time.sleep(0.01)

    async def wait_for_async(
        self, predicate: Callable[[TelegramBotAPIServer], Any], timeout: float = 5.0
    ) -> Any:
        """Like :meth:`wait_for`, but sleeps with ``asyncio.sleep`` so a bot on the
        same event loop keeps running."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(self._timeout_message(timeout))
            await asyncio.sleep(0.01)

    def _timeout_message(self, timeout: float) -> str:
        recent = [
            f"{c.method}({c.params}) -> {c.status}{' ' + c.error if c.error else ''}"
            for c in self.sent[-8:]
        ]
        return f"condition not met within {timeout}s; last bot calls: {recent or 'none'}"

    # -- HTTP --------------------------------------------------------------------------------

    @staticmethod
    def _error_response(
        code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=code)

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], str]:
        params: dict[str, Any] = dict(request.query)
        encoding = "query" if params else "none"
        if not request.can_read_body:
            return params, encoding
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _bad("can't parse JSON encoded request parameters") from None
                if not isinstance(body, dict):
                    raise _bad("can't parse JSON encoded request parameters")
                params.update(body)
                encoding = "json"
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    data = value.file.read()
                    params[key] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(data),
                    }
                else:
                    params[key] = value
            encoding = "multipart" if ctype == "multipart/form-data" else "form"
        else:
            await request.read()
        return params, encoding

    @staticmethod
    def _decode(params: dict[str, Any]) -> dict[str, Any]:
        """Parse the JSON-in-form values and coerce ids and flags; raise 400 if malformed."""
        out = dict(params)
        for key, value in params.items():
            if key in _JSON_PARAMS and isinstance(value, str):
                try:
                    out[key] = json.loads(value)
                except ValueError:
                    raise _bad(f"can't parse {key.replace('_', ' ')} JSON object") from None
            elif key in _INT_PARAMS and isinstance(value, str):
                if not _INT_TEXT.fullmatch(value.strip()):
                    raise _bad(f"invalid {key} specified")
                out[key] = int(value)
            elif key == "chat_id" and isinstance(value, str) and _INT_TEXT.fullmatch(value):
                out[key] = int(value)
            elif key in _BOOL_PARAMS and isinstance(value, str):
                out[key] = value.strip().lower() in ("true", "1")
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        path = _PATH.fullmatch(request.path)
        if path is None:
            return self._error_response(404, "Not Found")
        token, raw_method = path.groups()
        canonical = _CANONICAL.get(raw_method.lower())
        method = canonical or raw_method
        params: dict[str, Any] = {}
        encoding = "none"
        result: Any = None
        error: _APIError | None = None
        try:
            params, encoding = await self._read_params(request)
            if token != self.token:
                raise _APIError(401, "Unauthorized")
            if canonical is None:
                raise _APIError(404, "Not Found")
            params = self._decode(params)
            with self._lock:
                queue = self._failures.get(canonical)
                failure = queue.popleft() if queue else None
            if failure is not None:
                raise _APIError(failure.status, failure.description, failure.parameters)
            outcome = self._handlers[canonical](params)
            result = await outcome if inspect.isawaitable(outcome) else outcome
        except _APIError as exc:
            error = exc
        status = error.code if error is not None else 200
        call = Call(
            method=method,
            params=params,
            status=status,
            result=copy.deepcopy(result) if error is None else None,
            error=error.description if error is not None else None,
            encoding=encoding,
            at=time.monotonic(),
        )
        with self._lock:
            self._calls.append(call)
        if error is not None:
            return self._error_response(error.code, error.description, error.parameters)
        return web.json_response({"ok": True, "result": result})

    # -- parameter helpers (call with the lock held) ------------------------------------

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            name = raw[1:].lower()
            for chat in self._chats.values():
                if chat.get("username", "").lower() == name and chat["type"] != "private":
                    return chat
            raise _bad("chat not found")
        if isinstance(raw, bool) or not isinstance(raw, int) or raw not in self._chats:
            raise _bad("chat not found")
        return self._chats[raw]

    def _text(
        self, params: dict[str, Any], *, allow_empty: bool = False
    ) -> tuple[str, str, list[dict[str, Any]]]:
        """(raw text, plain text, entities) of a text parameter, validated like Telegram."""
        raw = params.get("text", "")
        if not isinstance(raw, str):
            raw = json.dumps(raw)
        mode = params.get("parse_mode")
        if mode in (None, ""):
            plain = raw
            entities = params.get("entities") or []
            if not isinstance(entities, list) or not all(
                isinstance(e, dict) and {"type", "offset", "length"} <= e.keys() for e in entities
            ):
                raise _bad("can't parse entities JSON object")
        elif not isinstance(mode, str):
            raise _bad("unsupported parse_mode")
        elif mode.lower() == "html":
            try:
                plain, entities = parse_html(raw, strict=self.strict_html)
            except HTMLParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
        elif mode.lower() in ("markdown", "markdownv2"):
            raise _bad(f"parse_mode {mode} is not implemented by the test server (use HTML)")
        else:
            raise _bad("unsupported parse_mode")
        plain, entities = _trim(plain, entities)
        if not plain and not allow_empty:
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return raw, plain, entities

    @staticmethod
    def _markup(params: dict[str, Any], *, inline_only: bool = False) -> dict[str, Any] | None:
        """Validate reply_markup; return it if it is an inline keyboard (Messages echo those)."""
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if inline_only:
                raise _bad("reply markup must be an inline keyboard")
            if not ({"keyboard", "remove_keyboard", "force_reply"} & markup.keys()):
                raise _bad("can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise _bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise _bad(
                        "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                    )
                if not isinstance(button.get("text"), str) or not button["text"]:
                    raise _bad(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                if not any(k in button for k in _BUTTON_ACTIONS):
                    raise _bad(
                        "can't parse inline keyboard button: Text buttons are unallowed "
                        "in the inline keyboard"
                    )
                if "callback_data" in button:
                    data = button["callback_data"]
                    if (
                        not isinstance(data, str)
                        or not data
                        or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
                    ):
                        raise _bad("BUTTON_DATA_INVALID")
        return markup

    def _reply_target(self, params: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any] | None:
        rp = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        if rp is None:
            if params.get("reply_to_message_id") is None:
                return None
            rp = {"message_id": params["reply_to_message_id"]}
        if not isinstance(rp, dict):
            raise _bad("can't parse reply parameters JSON object")
        allow = allow or bool(rp.get("allow_sending_without_reply"))
        target_chat = chat
        if rp.get("chat_id") is not None:
            target_chat = self._chat({"chat_id": rp["chat_id"]})
        mid = rp.get("message_id")
        found = self._messages.get((target_chat["id"], mid)) if isinstance(mid, int) else None
        if found is None and not allow:
            raise _bad("message to be replied not found")
        return found

    def _edit_target(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not implemented by the test server")
        chat = self._chat(params)
        mid = params.get("message_id")
        if mid is None:
            raise _bad("message identifier is not specified")
        message = self._messages.get((chat["id"], mid))
        if message is None:
            raise _bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise _bad("message can't be edited")
        return message

    # -- methods ---------------------------------------------------------------------------

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.me)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset") or 0
        limit = min(max(params.get("limit") or 100, 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if allowed is not None and (
            not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed)
        ):
            raise _bad("can't parse allowed updates JSON object")
        with self._lock:
            if self._webhook is not None:
                raise _APIError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if allowed is not None:
                self._allowed_updates = list(allowed)
            if offset < 0:
                self._updates = self._updates[offset:]
            elif offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._poll_generation += 1
            generation = self._poll_generation
        self._wake()  # a poll still waiting is now superseded: let it answer 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._wakeup
            with self._lock:
                if generation != self._poll_generation:
                    raise _APIError(409, _DEFAULT_DESCRIPTIONS[409])
                batch = copy.deepcopy(self._updates[:limit])
            remaining = deadline - loop.time()
            if batch or self._stopping or remaining <= 0 or event is None:
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        with self._lock:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            if not url:
                self._webhook = None
                return True
            if not isinstance(url, str) or not url.startswith("https://"):
                raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
            self._webhook = dict(params)
            if isinstance(params.get("allowed_updates"), list):
                self._allowed_updates = list(params["allowed_updates"])
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        with self._lock:
            self._webhook = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            hook = self._webhook or {}
            info: dict[str, Any] = {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if hook.get("max_connections"):
                info["max_connections"] = hook["max_connections"]
            if self._allowed_updates:
                info["allowed_updates"] = list(self._allowed_updates)
        return info

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise _bad("can't parse scope JSON object")
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands specified")
        for command in commands:
            if not isinstance(command, dict):
                raise _bad("can't parse BotCommand JSON object")
            name, about = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
                raise _bad("BOT_COMMAND_INVALID")
            if not isinstance(about, str) or not 1 <= len(about.strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        with self._lock:
            self._commands[key] = copy.deepcopy(commands)
            self._last_commands = copy.deepcopy(commands)
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        key = self._commands_key(params)
        with self._lock:
            return copy.deepcopy(self._commands.get(key, []))

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        key = self._commands_key(params)
        with self._lock:
            self._commands.pop(key, None)
        return True

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            chat = self._chat(params)
            raw, plain, entities = self._text(params)
            markup = self._markup(params)
            reply = self._reply_target(params, chat)
            thread_id = params.get("message_thread_id")
            message = self._new_message(
                chat,
                self.me_user,
                plain,
                entities,
                reply_to=reply,
                thread_id=thread_id,
                markup=markup,
            )
            self._outbox.append(
                BotMessage(
                    method="sendMessage",
                    chat_id=chat["id"],
                    text=plain,
                    html=raw,
                    parse_mode=params.get("parse_mode"),
                    entities=copy.deepcopy(entities),
                    message_id=message["message_id"],
                    reply_to=reply["message_id"] if reply is not None else None,
                    thread_id=thread_id,
                    reply_markup=copy.deepcopy(params.get("reply_markup")),
                    message=copy.deepcopy(message),
                    params=copy.deepcopy(params),
                )
            )
            return copy.deepcopy(message)

    @property
    def me_user(self) -> dict[str, Any]:
        """The bot as a User object (the ``from`` of its messages)."""
        return {k: self.me[k] for k in ("id", "is_bot", "first_name", "username")}

    def _apply_edit(
        self,
        params: dict[str, Any],
        method: str,
        message: dict[str, Any],
        text: str,
        html: str,
        entities: list[dict[str, Any]],
        markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if (
            message.get("text") == text
            and message.get("entities", []) == entities
            and message.get("reply_markup") == markup
        ):
            raise _APIError(400, _NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        message.pop("reply_markup", None)
        if entities:
            message["entities"] = copy.deepcopy(entities)
        message["edit_date"] = int(time.time())
        if markup is not None:
            message["reply_markup"] = copy.deepcopy(markup)
        self._outbox.append(
            BotMessage(
                method=method,
                chat_id=message["chat"]["id"],
                text=text,
                html=html,
                parse_mode=params.get("parse_mode"),
                entities=copy.deepcopy(entities),
                message_id=message["message_id"],
                reply_to=(message.get("reply_to_message") or {}).get("message_id"),
                thread_id=message.get("message_thread_id"),
                reply_markup=copy.deepcopy(params.get("reply_markup")),
                message=copy.deepcopy(message),
                params=copy.deepcopy(params),
            )
        )
        return copy.deepcopy(message)

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message = self._edit_target(params)
            raw, plain, entities = self._text(params)
            markup = self._markup(params, inline_only=True)
            # Without reply_markup the keyboard goes, as on Telegram.
            return self._apply_edit(
                params, "editMessageText", message, plain, raw, entities, markup
            )

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message = self._edit_target(params)
            markup = self._markup(params, inline_only=True)
            entities = message.get("entities", [])
            text = message["text"]
            return self._apply_edit(
                params, "editMessageReplyMarkup", message, text, text, entities, markup
            )

    def _delete_message(self, params: dict[str, Any]) -> bool:
        with self._lock:
            chat = self._chat(params)
            mid = params.get("message_id")
            if mid is None:
                raise _bad("message identifier is not specified")
            if self._messages.pop((chat["id"], mid), None) is None:
                raise _bad("message to delete not found")
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        with self._lock:
            chat = self._chat(params)
            action = params.get("action")
            if action not in _CHAT_ACTIONS:
                raise _bad("wrong parameter action in request")
            self._actions.append((chat["id"], action, copy.deepcopy(params)))
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        qid = params.get("callback_query_id")
        text = params.get("text")
        with self._lock:
            if not isinstance(qid, str) or self._queries.get(qid, True):
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
                raise _bad("MESSAGE_TOO_LONG")
            self._queries[qid] = True
            self._callback_answers.append(copy.deepcopy(params))
        return True

    def _send_message_draft(self, params: dict[str, Any]) -> bool:
        with self._lock:
            chat = self._chat(params)
            if chat["type"] != "private":
                raise _bad("message drafts can be sent only to private chats (test server)")
            draft_id = params.get("draft_id")
            if not isinstance(draft_id, int) or draft_id == 0:
                raise _bad("draft_id must be non-zero (test server)")
            # Bot API 10.0: an empty text shows a "Thinking..." placeholder.
            raw, plain, entities = self._text(params, allow_empty=True)
            self._outbox.append(
                BotMessage(
                    method="sendMessageDraft",
                    chat_id=chat["id"],
                    text=plain,
                    html=raw,
                    parse_mode=params.get("parse_mode"),
                    entities=copy.deepcopy(entities),
                    thread_id=params.get("message_thread_id"),
                    draft_id=draft_id,
                    params=copy.deepcopy(params),
                )
            )
        return True
