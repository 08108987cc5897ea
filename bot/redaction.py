"""What storybot writes to stderr and the logs: never a secret, never a raw control character.

Secrets (the bot token, the webhook secret, API keys) are registered when the
settings that hold them are used; every log record that reaches a handler, its
formatted traceback included, and every error line the CLI prints go through
`redact`. Libraries put secrets in places a message filter alone misses: PTB
writes the token into InvalidToken's message, and httpx into the URLs it logs.
"""

from __future__ import annotations

import logging
import threading

from pydantic import SecretStr

from index.cleaning import escape_control_characters

REDACTED = "<redacted>"
_secrets: set[str] = set()
_lock = threading.Lock()


def add_secrets(*secrets: SecretStr | str | None) -> None:
    """Never show these again, anywhere `redact` is applied."""
    with _lock:
        for secret in secrets:
            value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            if value:
                _secrets.add(value)
                # A bot token's secret half is just as secret on its own.
                _, _, tail = value.partition(":")
                if len(tail) >= 16:
                    _secrets.add(tail)


def redact(text: str) -> str:
    """`text` with every registered secret replaced and control characters escaped."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)  # a token before its tail
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return escape_control_characters(text)


class RedactingFilter(logging.Filter):
    """Redacts a record's message and its formatted traceback before a handler writes them."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the redacted text is what they print.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def protect_handlers(*loggers: logging.Logger) -> None:
    """Put the filter on every handler of the root logger (and of `loggers`), once each.

    A handler's filters see every record it writes, whichever logger made it; a
    logger's filters would miss the records of its children.
    """
    handlers = [h for lg in (logging.getLogger(), *loggers) for h in lg.handlers]
    for handler in handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
