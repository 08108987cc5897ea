"""The `storybot` command: the typer app, its subcommands, logging, and the last-resort handler."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from bot.cli.answers import ask_command, chat_command
from bot.cli.common import ExitCode
from bot.cli.evaluate import eval_command
from bot.cli.indexing import index_command, search_command
from bot.cli.serve import feedback_command, run_command
from bot.cli.stores import stores_command
from bot.redaction import protect_handlers, redact
from bot.settings import LogLevel, LogSettings

# Not a parent of `bot.*` or `index.*`, so its level is its own.
log = logging.getLogger("storybot.cli")

app = typer.Typer(
    help="Answer questions about a news story, with the passages that prove each answer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def configure(
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            case_sensitive=False,
            help="DEBUG, INFO, WARNING or ERROR [env STORYBOT_LOG_LEVEL; default WARNING]. "
            "DEBUG also prints the traceback of an unexpected error.",
        ),
    ] = None,
) -> None:
    """Answer questions about a news story, with the passages that prove each answer."""
    if log_level is not None:
        logging.getLogger().setLevel(log_level.upper())


app.command("index")(index_command)
app.command("search")(search_command)
app.command("stores")(stores_command)
app.command("ask")(ask_command)
app.command("chat")(chat_command)
app.command("eval")(eval_command)
app.command("run")(run_command)
app.command("feedback")(feedback_command)


def configure_logging() -> None:
    """One format for every logger; the level from STORYBOT_LOG_LEVEL until --log-level says."""
    try:
        level = LogSettings().log_level
    except ValidationError as error:
        typer.echo(f"warning: STORYBOT_LOG_LEVEL ignored: {error.errors()[0]['msg']}", err=True)
        level = "WARNING"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    protect_handlers()
    # Libraries' INFO lines (HTTP requests, telemetry) would bury storybot's own.
    for noisy in ("httpx", "httpcore", "chromadb", "urllib3", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def main() -> None:
    configure_logging()
    try:
        app()
    except Exception as error:  # a maintainer sees one line, not a stack trace
        log.debug("unexpected error", exc_info=True)
        typer.echo(f"error: {type(error).__name__}: {redact(str(error))}", err=True)
        if not log.isEnabledFor(logging.DEBUG):
            typer.echo("(run with --log-level DEBUG to see where it happened)", err=True)
        sys.exit(ExitCode.UNEXPECTED)
