"""`storybot run` (the Telegram bot) and `storybot feedback` (what users disliked)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from bot.cli.common import fail, fail_with, load_settings, say
from bot.errors import StorybotError
from bot.settings import BotSettings


def run_command(
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Serve a webhook at this public URL instead of long polling "
            "[env TELEGRAM_WEBHOOK_URL]."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Webhook listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Webhook listen port.")] = None,
) -> None:
    """Run the Telegram bot (TELEGRAM_BOT_TOKEN from the environment or .env)."""
    settings = load_settings(
        BotSettings, webhook_url=webhook_url, webhook_listen=host, webhook_port=port
    )
    if settings.telegram_bot_token is None:
        raise fail(
            "TELEGRAM_BOT_TOKEN is not set (put it in the environment or .env). "
            "`storybot chat` answers in the terminal with no token."
        )
    if settings.webhook_url and settings.webhook_secret is None:
        raise fail("a webhook needs TELEGRAM_WEBHOOK_SECRET to check requests")
    from bot.telegram.app import run

    try:
        run(settings)
    except StorybotError as error:
        raise fail_with(error) from None


def feedback_command(
    limit: Annotated[int, typer.Option(min=1, help="How many answers to show.")] = 20,
) -> None:
    """Show the answers users marked 👎, newest first."""
    from bot.telegram.shared_feedback import open_feedback

    settings = load_settings(BotSettings)
    if not settings.redis_url and not settings.feedback_path.exists():
        typer.echo("No feedback yet.")
        return
    try:
        disliked = open_feedback(settings).disliked(limit)
    except StorybotError as error:
        raise fail_with(error) from None
    if not disliked:
        typer.echo("No 👎 yet.")
    for item in disliked:
        when = dt.datetime.fromtimestamp(item.voted_at).strftime("%Y-%m-%d %H:%M")
        say(f"#{item.answer_id} {when} 👎×{item.down_votes} in {item.chat}")
        say(f"  Q: {item.question}")
        say(f"  A: {item.answer}")
        for citation in item.citations:
            say(f"    [{citation['n']}] {citation['title']}: “{citation['quote']}”")
        say()
