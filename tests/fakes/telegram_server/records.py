"""What the server recorded: every request the bot made, and every message it sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BotMessage", "Call"]


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
