"""Building and running the Telegram application (long polling or webhook)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlparse

from telegram import Bot, BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.answering.engine import AnswerEngine
from bot.answering.prompts import Prompts
from bot.errors import IndexNotBuiltError, TelegramUnavailableError
from bot.redaction import RedactingFilter, add_secrets, protect_handlers, redact
from bot.settings import BotSettings
from bot.telegram import handlers
from bot.telegram.flood import MessageRateLimiter
from bot.telegram.rate_limit import QuestionRateLimit
from bot.telegram.request import AiohttpRequest
from bot.telegram.shared_feedback import open_feedback

log = logging.getLogger(__name__)

COMMANDS = [
    BotCommand("ask", "Ask a question about the story"),
    BotCommand("sources", "The articles I know"),
    BotCommand("reset", "Forget this conversation"),
    BotCommand("help", "How to ask, in private and in groups"),
]


def protect_logs(settings: BotSettings) -> None:
    """Keep the settings' secrets out of every log line, and quiet httpx."""
    add_secrets(settings.telegram_bot_token, settings.webhook_secret, settings.openai_api_key)
    names = ("aiohttp", "httpx", "httpcore", "telegram", "apscheduler")
    loggers = [logging.getLogger(n) for n in names]
    protect_handlers(*loggers)
    for target in loggers:
        # Records of these loggers are redacted even on the way to a handler added later.
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())
    logging.getLogger("httpx").setLevel(logging.WARNING)


def build_application(settings: BotSettings, engine: AnswerEngine | None = None) -> Application:
    """The bot: handlers, rate limiter, shared state. Nothing is sent until it runs."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value()
    protect_logs(settings)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_base_url.rstrip('/')}/bot")
        .base_file_url(f"{settings.telegram_base_url.rstrip('/')}/file/bot")
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(connections=1))  # one long poll at a time
        .rate_limiter(
            MessageRateLimiter(
                overall_max_rate=settings.telegram_messages_per_second, max_retries=3
            )
        )
        .concurrent_updates(True)
        .post_init(_register_commands)
        .build()
    )
    application.bot_data["state"] = handlers.BotState(
        settings=settings,
        engine=engine or AnswerEngine.from_settings(settings),
        feedback=open_feedback(settings),
        rate_limit=QuestionRateLimit(settings.questions_per_minute),
        examples=Prompts(settings.prompts_dir).examples,
    )
    # New messages only: an edited question is not asked again.
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    groups = filters.ChatType.GROUPS & filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("start", handlers.start))
    application.add_handler(CommandHandler("help", handlers.help_command))
    application.add_handler(CommandHandler("sources", handlers.sources))
    application.add_handler(CommandHandler("reset", handlers.reset))
    application.add_handler(CommandHandler("ask", handlers.ask_command))
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & private, handlers.private_question)
    )
    application.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & groups, handlers.group_message)
    )
    application.add_handler(
        CallbackQueryHandler(handlers.feedback, pattern=f"^{handlers.FEEDBACK_PREFIX}:")
    )
    application.add_error_handler(handlers.on_error)
    return application


async def _register_commands(application: Application) -> None:
    """At start-up: load the index and model before the first question, then announce commands."""
    engine = application.bot_data["state"].engine
    try:
        await asyncio.to_thread(engine.warm_up)
    except IndexNotBuiltError as error:  # commands work; questions get an apology
        log.warning("not warmed up: %s", error)
    await application.bot.set_my_commands(COMMANDS)


def run(settings: BotSettings) -> None:
    """`storybot run`: build the bot, check that the Bot API accepts it, serve until interrupted."""
    application = build_application(settings)
    asyncio.run(check_bot_api(settings))
    serve(application, settings)


async def check_bot_api(settings: BotSettings) -> None:
    """Ask the Bot API who the bot is; TelegramUnavailableError in one line if it will not say.

    Run before polling, because PTB's own start-up logs each failure as a chain of
    tracebacks (the token in them) before re-raising it.
    """
    if settings.telegram_bot_token is None:
        raise TelegramUnavailableError("TELEGRAM_BOT_TOKEN is not set")
    base_url = settings.telegram_base_url.rstrip("/")
    bot = Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{base_url}/bot",
        request=AiohttpRequest(connections=1),
        get_updates_request=AiohttpRequest(connections=1),
    )
    try:
        async with bot:  # get_me, and the connections are closed whatever happens
            pass
    except InvalidToken:
        raise TelegramUnavailableError(
            f"the Bot API at {base_url} rejected TELEGRAM_BOT_TOKEN; "
            "copy the token again from @BotFather"
        ) from None
    except NetworkError as error:
        raise TelegramUnavailableError(
            f"cannot reach the Telegram Bot API at {base_url}: {redact(str(error))}"
        ) from None
    except TelegramError as error:
        raise TelegramUnavailableError(
            f"the Telegram Bot API at {base_url} refused getMe: {redact(str(error))}"
        ) from None


def serve(application: Application, settings: BotSettings, **options: Any) -> None:
    """A webhook when one is configured, else long polling. `options` go to PTB's runner."""
    if settings.webhook_url:
        if settings.webhook_secret is None:
            raise ValueError("a webhook needs TELEGRAM_WEBHOOK_SECRET to check requests")
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlparse(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            # PTB rejects every request whose X-Telegram-Bot-Api-Secret-Token differs.
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
            **options,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES, **options)
