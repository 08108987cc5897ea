"""The server itself: its aiohttp app and lifecycle, the test side, and the HTTP layer.

The test side introduces users, chats and updates (``send_text``,
``press_button`` ...), scripts failures (``fail_next``) and reads what the bot
did (``messages``, ``edits``, ``calls`` ...); the HTTP layer decodes parameters
the way Telegram does and answers in the Bot API's envelope. The methods
themselves are in ``methods``, the HTML parsing in ``entities``.
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
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fakes.loopback import LoopbackServer
from fakes.telegram_server.entities import auto_entities
from fakes.telegram_server.methods import (
    CANONICAL,
    DEFAULT_DESCRIPTIONS,
    MAX_TEXT_LENGTH,
    METHODS,
    APIError,
    BotAPIMethods,
    bad,
)
from fakes.telegram_server.records import BotMessage, Call

__all__ = ["DEFAULT_TOKEN", "DEFAULT_USERNAME", "TelegramBotAPIServer"]

DEFAULT_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz0123"
DEFAULT_USERNAME = "StoryTestBot"


@dataclass
class _Failure:
    status: int
    description: str
    parameters: dict[str, Any] | None


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

# Update types Telegram only sends when asked for by allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_TYPES = frozenset({"private", "group", "supergroup"})
_PATH = re.compile(r"/bot([^/]*)/([^/]*)")


class TelegramBotAPIServer(BotAPIMethods, LoopbackServer):
    """A local, strict Telegram Bot API server (see the package docstring).

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
        username: str = DEFAULT_USERNAME,
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
            name: getattr(self, attr) for name, attr in METHODS.items()
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
                auto_entities(text),
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
        canonical = CANONICAL.get(method.lower())
        if canonical is None:
            raise ValueError(f"the server does not implement {method!r}")
        if not 400 <= status <= 599:
            raise ValueError(f"fail_next() is for error codes (4xx/5xx), got {status}")
        parameters = None
        if status == 429:
            parameters = {"retry_after": retry_after}
            text = description or f"Too Many Requests: retry after {retry_after}"
        else:
            text = description or DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
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
        name = CANONICAL.get(method.lower(), method)
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
                    raise bad("can't parse JSON encoded request parameters") from None
                if not isinstance(body, dict):
                    raise bad("can't parse JSON encoded request parameters")
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
                    raise bad(f"can't parse {key.replace('_', ' ')} JSON object") from None
            elif key in _INT_PARAMS and isinstance(value, str):
                if not _INT_TEXT.fullmatch(value.strip()):
                    raise bad(f"invalid {key} specified")
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
        canonical = CANONICAL.get(raw_method.lower())
        method = canonical or raw_method
        params: dict[str, Any] = {}
        encoding = "none"
        result: Any = None
        error: APIError | None = None
        try:
            params, encoding = await self._read_params(request)
            if token != self.token:
                raise APIError(401, "Unauthorized")
            if canonical is None:
                raise APIError(404, "Not Found")
            params = self._decode(params)
            with self._lock:
                queue = self._failures.get(canonical)
                failure = queue.popleft() if queue else None
            if failure is not None:
                raise APIError(failure.status, failure.description, failure.parameters)
            outcome = self._handlers[canonical](params)
            result = await outcome if inspect.isawaitable(outcome) else outcome
        except APIError as exc:
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
