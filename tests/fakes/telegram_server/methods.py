"""The Bot API methods the server implements, and how they fail.

getMe, getUpdates (long polling), setWebhook, deleteWebhook, getWebhookInfo,
setMyCommands, getMyCommands, deleteMyCommands, sendMessage, editMessageText,
editMessageReplyMarkup, deleteMessage, sendChatAction, answerCallbackQuery,
sendMessageDraft: validated like Telegram, with Telegram's error descriptions
where known.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from fakes.telegram_server.entities import HTMLParseError, parse_html, trim
from fakes.telegram_server.records import BotMessage

__all__ = [
    "CANONICAL",
    "DEFAULT_DESCRIPTIONS",
    "MAX_TEXT_LENGTH",
    "METHODS",
    "APIError",
    "BotAPIMethods",
    "bad",
]

MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200


class APIError(Exception):
    """A failed call: answered with HTTP status ``code`` (the ``error_code``)."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def bad(description: str) -> APIError:
    return APIError(400, f"Bad Request: {description}")


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
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# Bot API method -> the BotAPIMethods method that answers it.
METHODS = {
    "getMe": "_get_me",
    "getUpdates": "_get_updates",
    "setWebhook": "_set_webhook",
    "deleteWebhook": "_delete_webhook",
    "getWebhookInfo": "_get_webhook_info",
    "setMyCommands": "_set_my_commands",
    "getMyCommands": "_get_my_commands",
    "deleteMyCommands": "_delete_my_commands",
    "sendMessage": "_send_message",
    "editMessageText": "_edit_message_text",
    "editMessageReplyMarkup": "_edit_message_reply_markup",
    "deleteMessage": "_delete_message",
    "sendChatAction": "_send_chat_action",
    "answerCallbackQuery": "_answer_callback_query",
    "sendMessageDraft": "_send_message_draft",
}
CANONICAL = {name.lower(): name for name in METHODS}  # names are case-insensitive


class BotAPIMethods:
    """The Bot API methods, mixed into :class:`~fakes.telegram_server.server.TelegramBotAPIServer`.

    Each ``_method(params)`` gets the decoded parameters and returns the
    ``result`` or raises :class:`APIError`. The server owns the state they read
    and write; it is declared here so the dependency is visible.
    """

    me: dict[str, Any]
    bot_id: int
    strict_html: bool
    _lock: threading.RLock
    _chats: dict[int, dict[str, Any]]
    _messages: dict[tuple[int, int], dict[str, Any]]
    _outbox: list[BotMessage]
    _actions: list[tuple[int, str, dict[str, Any]]]
    _callback_answers: list[dict[str, Any]]
    _queries: dict[str, bool]
    _updates: list[dict[str, Any]]
    _allowed_updates: list[str] | None
    _webhook: dict[str, Any] | None
    _commands: dict[tuple[str, str], list[dict[str, Any]]]
    _last_commands: list[dict[str, Any]] | None
    _poll_generation: int
    _wakeup: asyncio.Event | None  # set to wake long polls (getUpdates)
    _stopping: bool
    _wake: Callable[[], None]
    _new_message: Callable[..., dict[str, Any]]

    # -- parameter helpers (call with the lock held) ------------------------------------

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            name = raw[1:].lower()
            for chat in self._chats.values():
                if chat.get("username", "").lower() == name and chat["type"] != "private":
                    return chat
            raise bad("chat not found")
        if isinstance(raw, bool) or not isinstance(raw, int) or raw not in self._chats:
            raise bad("chat not found")
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
                raise bad("can't parse entities JSON object")
        elif not isinstance(mode, str):
            raise bad("unsupported parse_mode")
        elif mode.lower() == "html":
            try:
                plain, entities = parse_html(raw, strict=self.strict_html)
            except HTMLParseError as exc:
                raise bad(f"can't parse entities: {exc}") from None
        elif mode.lower() in ("markdown", "markdownv2"):
            raise bad(f"parse_mode {mode} is not implemented by the test server (use HTML)")
        else:
            raise bad("unsupported parse_mode")
        plain, entities = trim(plain, entities)
        if not plain and not allow_empty:
            raise bad("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise bad("message is too long")
        return raw, plain, entities

    @staticmethod
    def _markup(params: dict[str, Any], *, inline_only: bool = False) -> dict[str, Any] | None:
        """Validate reply_markup; return it if it is an inline keyboard (Messages echo those)."""
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if inline_only:
                raise bad("reply markup must be an inline keyboard")
            if not ({"keyboard", "remove_keyboard", "force_reply"} & markup.keys()):
                raise bad("can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise bad(
                        "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                    )
                if not isinstance(button.get("text"), str) or not button["text"]:
                    raise bad(
                        'can\'t parse inline keyboard button: Field "text" must be of type String'
                    )
                if not any(k in button for k in _BUTTON_ACTIONS):
                    raise bad(
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
                        raise bad("BUTTON_DATA_INVALID")
        return markup

    def _reply_target(self, params: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any] | None:
        rp = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        if rp is None:
            if params.get("reply_to_message_id") is None:
                return None
            rp = {"message_id": params["reply_to_message_id"]}
        if not isinstance(rp, dict):
            raise bad("can't parse reply parameters JSON object")
        allow = allow or bool(rp.get("allow_sending_without_reply"))
        target_chat = chat
        if rp.get("chat_id") is not None:
            target_chat = self._chat({"chat_id": rp["chat_id"]})
        mid = rp.get("message_id")
        found = self._messages.get((target_chat["id"], mid)) if isinstance(mid, int) else None
        if found is None and not allow:
            raise bad("message to be replied not found")
        return found

    def _edit_target(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise bad("inline messages are not implemented by the test server")
        chat = self._chat(params)
        mid = params.get("message_id")
        if mid is None:
            raise bad("message identifier is not specified")
        message = self._messages.get((chat["id"], mid))
        if message is None:
            raise bad("message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id:
            raise bad("message can't be edited")
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
            raise bad("can't parse allowed updates JSON object")
        with self._lock:
            if self._webhook is not None:
                raise APIError(
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
                    raise APIError(409, DEFAULT_DESCRIPTIONS[409])
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
                raise bad("bad webhook: An HTTPS URL must be provided for webhook")
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
            raise bad("can't parse scope JSON object")
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad("too many commands specified")
        for command in commands:
            if not isinstance(command, dict):
                raise bad("can't parse BotCommand JSON object")
            name, about = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_NAME.fullmatch(name):
                raise bad("BOT_COMMAND_INVALID")
            if not isinstance(about, str) or not 1 <= len(about.strip()) <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
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
            raise APIError(400, _NOT_MODIFIED)
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
                raise bad("message identifier is not specified")
            if self._messages.pop((chat["id"], mid), None) is None:
                raise bad("message to delete not found")
        return True

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        with self._lock:
            chat = self._chat(params)
            action = params.get("action")
            if action not in _CHAT_ACTIONS:
                raise bad("wrong parameter action in request")
            self._actions.append((chat["id"], action, copy.deepcopy(params)))
        return True

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        qid = params.get("callback_query_id")
        text = params.get("text")
        with self._lock:
            if not isinstance(qid, str) or self._queries.get(qid, True):
                raise bad("query is too old and response timeout expired or query ID is invalid")
            if isinstance(text, str) and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
                raise bad("MESSAGE_TOO_LONG")
            self._queries[qid] = True
            self._callback_answers.append(copy.deepcopy(params))
        return True

    def _send_message_draft(self, params: dict[str, Any]) -> bool:
        with self._lock:
            chat = self._chat(params)
            if chat["type"] != "private":
                raise bad("message drafts can be sent only to private chats (test server)")
            draft_id = params.get("draft_id")
            if not isinstance(draft_id, int) or draft_id == 0:
                raise bad("draft_id must be non-zero (test server)")
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
