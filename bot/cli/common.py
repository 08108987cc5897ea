"""What every `storybot` subcommand shares: exit codes, errors, settings from flags, the engine."""

from __future__ import annotations

import json
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import unquote, urlsplit

import typer
from pydantic import SecretStr, ValidationError

from bot.errors import CorpusError, IndexBusyError, StorybotError
from bot.redaction import add_secrets, redact
from index.cleaning import CONTROL_CHARACTERS, strip_control_characters
from index.settings import IndexSettings

if TYPE_CHECKING:
    from bot.answering.engine import AnswerEngine


class ExitCode(IntEnum):
    """How `storybot` ends; scripts and CI tell the cases apart by these."""

    OK = 0
    THRESHOLD_MISSED = 1  # `storybot eval`: a quality gate was missed
    BAD_INPUT = 2  # the input, corpus, store or configuration is wrong
    BUSY = 3  # another indexer holds the store
    UNEXPECTED = 70  # a bug (EX_SOFTWARE); never confused with a missed threshold


CorpusOption = Annotated[
    Path | None,
    typer.Option("--corpus", help="Folder of .md/.txt articles (env STORYBOT_CORPUS)."),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Folder of the Chroma index (env STORYBOT_STORE)."),
]

SettingsT = TypeVar("SettingsT", bound=IndexSettings)


def say(text: str = "") -> None:
    """Print text for a person to stdout, without the control characters a terminal obeys."""
    typer.echo(strip_control_characters(text))


def say_json(data: object) -> None:
    """Print one JSON line; control characters in it are \\u escapes (json leaves C1 raw)."""
    line = json.dumps(data, ensure_ascii=False)
    typer.echo(CONTROL_CHARACTERS.sub(lambda m: f"\\u{ord(m.group()):04x}", line))


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> typer.Exit:
    """Print `error: message` to stderr (redacted); raise the returned Exit to end with `code`."""
    typer.echo(f"error: {redact(message)}", err=True)
    return typer.Exit(code)


def fail_with(error: StorybotError) -> typer.Exit:
    """The exit for a storybot error: its message (each problem of a corpus on a line)."""
    if isinstance(error, CorpusError):
        problems = "".join(f"\n  {problem}" for problem in error.problems)
        return fail(f"the corpus cannot be indexed; the store is unchanged:{problems}")
    return fail(
        str(error), ExitCode.BUSY if isinstance(error, IndexBusyError) else ExitCode.BAD_INPUT
    )


def load_settings(cls: type[SettingsT], **flags: Any) -> SettingsT:
    """Settings from the environment and `.env`, with the flags that were given on top."""
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        settings = cls(**given)
    except ValidationError as error:
        raise fail(f"the settings are invalid:\n{error}") from None
    add_secrets(*(value for value in vars(settings).values() if isinstance(value, SecretStr)))
    add_secrets(*_url_passwords(settings.redis_url))
    return settings


def _url_passwords(url: str | None) -> list[str]:
    """The password a URL carries (redis://:PASSWORD@host:6379/0), as written and decoded."""
    try:
        password = urlsplit(url).password if url else None
    except ValueError:  # a malformed URL: the client names the setting when it is used
        return []
    return [password, unquote(password)] if password else []


def open_engine(store: Path | None, **flags: Any) -> AnswerEngine:
    """The answer engine over the live index, or a clean exit naming what is missing."""
    from bot.answering.engine import AnswerEngine
    from bot.settings import BotSettings

    settings = load_settings(BotSettings, store_dir=store, **flags)
    try:
        engine = AnswerEngine.from_settings(settings)
        engine.index.generation()
    except StorybotError as error:
        raise fail_with(error) from None
    return engine
