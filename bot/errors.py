"""The errors of answering and evaluation, on the base every storybot error shares.

`StorybotError` and the index's errors are defined in `index/errors.py`
(`index/` never imports `bot/`) and re-exported here, so a front end imports
every error it reports from this one module.
"""

from __future__ import annotations

from index.errors import (
    ConfigurationError,
    CorpusError,
    EmbeddingUnavailable,
    IndexBusyError,
    IndexNotBuiltError,
    ModelPreparationError,
    ServerUnavailable,
    StoreDamagedError,
    StoreMismatchError,
    StoreUnavailableError,
    StorybotError,
)

__all__ = [
    "ConfigurationError",
    "CorpusError",
    "EmbeddingUnavailable",
    "EvalFileError",
    "IndexBusyError",
    "IndexNotBuiltError",
    "MemoryFileError",
    "ModelPreparationError",
    "PromptsError",
    "ServerUnavailable",
    "StoreDamagedError",
    "StoreMismatchError",
    "StoreUnavailableError",
    "StorybotError",
    "TelegramUnavailableError",
]


class EvalFileError(StorybotError):
    """The QA file cannot be evaluated; the message names the file and line."""


class PromptsError(StorybotError):
    """A prompt file is missing or unreadable; the message names it."""


class MemoryFileError(StorybotError):
    """The conversation or feedback database cannot be used; the message names the file."""


class TelegramUnavailableError(StorybotError):
    """The Bot API cannot be reached or rejects the token; the message names the URL."""
