"""A small, strict, local Telegram Bot API server (see ``server``)."""

from fakes.telegram_server.server import (
    DEFAULT_TOKEN,
    BotMessage,
    Call,
    HTMLParseError,
    TelegramBotAPIServer,
    parse_html,
)

__all__ = [
    "DEFAULT_TOKEN",
    "BotMessage",
    "Call",
    "HTMLParseError",
    "TelegramBotAPIServer",
    "parse_html",
]
