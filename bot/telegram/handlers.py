"""One handler per thing a user can do; each says in its docstring what the user sees.

Handlers only translate between Telegram and the answer engine: which
messages are questions, which conversation they belong to, and how the
answer is shown. Everything about answering lives in `bot.answering.engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from weakref import WeakValueDictionary

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, NetworkError
from telegram.ext import ContextTypes

from bot import texts
from bot.answering.answer import Answer
from bot.answering.engine import AnswerEngine
from bot.settings import BotSettings
from bot.telegram.rate_limit import QuestionRateLimit
from bot.telegram.render import answer_messages
from bot.telegram.shared_feedback import Feedback
from bot.text_input import clean_question

log = logging.getLogger(__name__)

TYPING_EVERY_SECONDS = 4.5  # Telegram shows "typing…" for 5 s per chat action
EDIT_EVERY_SECONDS = 1.0
ANSWER_WORKERS = 2
FEEDBACK_PREFIX = "fb"
REMEMBERED_REFUSALS = 10_000


@dataclass
class BotState:
    """What the handlers share, kept in `application.bot_data["state"]`."""

    settings: BotSettings
    engine: AnswerEngine
    feedback: Feedback
    rate_limit: QuestionRateLimit
    examples: list[str] = field(default_factory=list)  # example questions for /start, /ask
    # A conversation's lock lives while a question of it is under way, then goes.
    locks: WeakValueDictionary[str, asyncio.Lock] = field(default_factory=WeakValueDictionary)
    # Chats refused lately, the oldest forgotten past the cap (they are refused again, once).
    refused: OrderedDict[int, None] = field(default_factory=OrderedDict)
    # Answers are CPU-bound: a few at a time finish sooner, on average, than all at once.
    workers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="answer")
    )

    def lock(self, conversation: str) -> asyncio.Lock:
        """The lock that keeps one conversation's answers in order."""
        lock = self.locks.get(conversation)
        if lock is None:
            lock = self.locks[conversation] = asyncio.Lock()
        return lock

    def first_refusal(self, chat_id: int) -> bool:
        """Whether this chat has not been told lately that it may not use the bot."""
        if chat_id in self.refused:
            return False
        self.refused[chat_id] = None
        while len(self.refused) > REMEMBERED_REFUSALS:
            self.refused.popitem(last=False)
        return True


def state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    bot_state: BotState = context.application.bot_data["state"]
    return bot_state


def message_of(update: Update) -> Message:
    """The message a handler answers; its filters only let updates with one through."""
    message = update.effective_message
    if message is None:
        raise ValueError(f"update {update.update_id} has no message")
    return message


def conversation_id(message: Message) -> str:
    """A conversation is a chat, or one forum topic of it, whoever is asking."""
    topic = message.message_thread_id if message.is_topic_message else 0
    return f"tg:{message.chat_id}:{topic or 0}"


# --- commands -------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: a greeting and three example questions."""
    if await allowed(update, context):
        await message_of(update).reply_text(texts.greeting(state(context).examples))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: how to ask, in private and in groups."""
    if await allowed(update, context):
        await message_of(update).reply_text(texts.TELEGRAM_HELP)


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources: the indexed articles with their dates and links."""
    if not await allowed(update, context):
        return
    articles = await asyncio.to_thread(state(context).engine.sources)
    await message_of(update).reply_text(texts.sources_text(articles), disable_web_page_preview=True)


async def reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/reset: forget this conversation (this chat, or this forum topic)."""
    if not await allowed(update, context):
        return
    message = message_of(update)
    await asyncio.to_thread(state(context).engine.reset, conversation_id(message))
    await message.reply_text(texts.RESET)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask QUESTION (also /ask@BotName in groups): an answer with its sources."""
    if not await allowed(update, context):
        return
    question = clean_question(" ".join(context.args or []))
    if not question:
        await message_of(update).reply_text(texts.ask_usage(state(context).examples))
        return
    await answer(update, context, question)


# --- questions ------------------------------------------------------------------


async def private_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any text in a private chat is a question; the reply is the answer with sources."""
    await answer(update, context, message_of(update).text or "")


async def group_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """In groups, a message that @mentions the bot or replies to it is a question."""
    message = message_of(update)
    if message.from_user is None or message.from_user.is_bot:
        return
    bot = context.bot
    replied_to = message.reply_to_message
    is_reply = bool(replied_to and replied_to.from_user and replied_to.from_user.id == bot.id)
    mention = f"@{bot.username}".lower()
    mentions = [
        text
        for entity, text in message.parse_entities([MessageEntity.MENTION]).items()
        if text.lower() == mention
    ]
    if not (is_reply or mentions):
        return
    question = message.text or ""
    for text in mentions:
        question = question.replace(text, " ")
    await answer(update, context, " ".join(question.split()))


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """Check the asker may ask, then answer within the conversation's turn order."""
    if not await allowed(update, context):
        return
    bot_state = state(context)
    message = message_of(update)
    user_id = update.effective_user.id if update.effective_user else message.chat_id
    question = clean_question(question)
    if not question:
        await message.reply_text(texts.EMPTY_QUESTION)
        return
    if len(question) > bot_state.settings.max_question_chars:
        await message.reply_text(texts.too_long(bot_state.settings.max_question_chars))
        return
    if not bot_state.rate_limit.allow(user_id):
        await message.reply_text(texts.slow_down(bot_state.rate_limit.retry_in(user_id)))
        return
    conversation = conversation_id(message)
    # Answers in one conversation keep their order; other conversations run alongside.
    async with bot_state.lock(conversation):
        started = time.perf_counter()
        typing = asyncio.create_task(keep_typing(message))
        try:
            final, preview = await produce_answer(context, message, conversation, question)
        finally:
            typing.cancel()
        await send_answer(context, message, conversation, question, final, preview)
    # What a maintainer needs to follow the bot, never what anyone wrote.
    log.info(
        "update %s in %s: %s, %d citation(s), %.0f ms",
        update.update_id,
        conversation,
        "abstained" if final.abstained else f"answered ({final.mode})",
        len(final.citations),
        (time.perf_counter() - started) * 1000,
    )


async def keep_typing(message: Message) -> None:
    """Show "typing…" until cancelled."""
    with contextlib.suppress(Exception):
        while True:
            await message.reply_chat_action(ChatAction.TYPING)
            await asyncio.sleep(TYPING_EVERY_SECONDS)


def replied_answer(message: Message, bot_id: int) -> str | None:
    """The text of the bot's message that `message` replies to, if it replies to one.

    A reply chain is a thread: the question follows up that answer, even when
    other questions were asked in the chat since.
    """
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == bot_id:
        return replied.text
    return None


async def produce_answer(
    context: ContextTypes.DEFAULT_TYPE, message: Message, conversation: str, question: str
) -> tuple[Answer, Message | None]:
    """Run the engine in the worker pool; show partial answers as an LLM streams them.

    Returns the final answer and the message that previewed it, if one was sent.
    An extractive engine streams nothing but the final answer, so it sends no preview.
    """
    engine = state(context).engine
    loop = asyncio.get_running_loop()
    updates: asyncio.Queue[str | Answer | BaseException] = asyncio.Queue()
    replying_to = replied_answer(message, context.bot.id)

    def run() -> None:
        try:
            for event in engine.stream(conversation, question, replying_to):
                loop.call_soon_threadsafe(updates.put_nowait, event)
        except BaseException as error:  # handed to the loop, raised there
            loop.call_soon_threadsafe(updates.put_nowait, error)

    worker = loop.run_in_executor(state(context).workers, run)
    preview = StreamPreview(context, message)
    try:
        while True:
            event = await updates.get()
            if isinstance(event, BaseException):
                raise event
            if isinstance(event, Answer):
                break
            await preview.show(event)
    finally:
        await worker
    return event, preview.message


class StreamPreview:
    """The partial answer: a draft in private chats, else one message edited in place."""

    def __init__(self, context: ContextTypes.DEFAULT_TYPE, message: Message):
        self.bot = context.bot
        self.asking = message
        self.message: Message | None = None
        self.private = message.chat.type == ChatType.PRIVATE
        self.draft_id = message.message_id
        self._shown_at = 0.0

    async def show(self, text: str) -> None:
        now = time.monotonic()
        if now - self._shown_at < EDIT_EVERY_SECONDS:
            return
        self._shown_at = now
        try:
            if self.private:
                await self.bot.send_message_draft(
                    self.asking.chat_id, self.draft_id, text=text[:4000]
                )
            elif self.message is None:
                self.message = await self.asking.reply_text(text[:4000], do_quote=True)
            else:
                await self.message.edit_text(text[:4000])
        except BadRequest as error:  # a preview is best effort; the final answer is not
            log.info("streamed preview not shown: %s", error.message)


async def send_answer(
    context: ContextTypes.DEFAULT_TYPE,
    message: Message,
    conversation: str,
    question: str,
    final: Answer,
    preview: Message | None,
) -> None:
    """Send the final answer as a reply, with 👍/👎 under its last part.

    A streamed preview message becomes the answer's first part.
    """
    answer_id = await asyncio.to_thread(
        state(context).feedback.record_answer, conversation, question, final
    )
    parts = answer_messages(final)
    keyboard = feedback_keyboard(answer_id)
    for index, part in enumerate(parts):
        markup = keyboard if index == len(parts) - 1 else None
        if index == 0 and preview is not None:
            await preview.edit_text(part, parse_mode=ParseMode.HTML, reply_markup=markup)
            continue
        await message.reply_text(
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
            disable_web_page_preview=True,
        )


def feedback_keyboard(answer_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("👍", callback_data=f"{FEEDBACK_PREFIX}:{answer_id}:1"),
                InlineKeyboardButton("👎", callback_data=f"{FEEDBACK_PREFIX}:{answer_id}:0"),
            ]
        ]
    )


async def feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on 👍/👎 is stored and acknowledged with a short notice; others are refused."""
    query = update.callback_query
    if query is None:
        return
    if not await allowed(update, context, reply=False):
        await query.answer(texts.NOT_ALLOWED)
        return
    try:
        _, answer_id, helpful = (query.data or "").split(":")
        stored = await asyncio.to_thread(
            state(context).feedback.vote, int(answer_id), query.from_user.id, helpful == "1"
        )
    except ValueError:
        stored = False
    await query.answer(texts.FEEDBACK_THANKS if stored else texts.FEEDBACK_UNKNOWN)


# --- access and errors ----------------------------------------------------------


async def allowed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, *, reply: bool = True
) -> bool:
    """Whether this chat and user may use the bot; others get one polite refusal (if `reply`)."""
    settings = state(context).settings
    chat = update.effective_chat
    user = update.effective_user
    chat_ok = not settings.allowed_chat_ids or (chat and chat.id in settings.allowed_chat_ids)
    user_ok = not settings.allowed_user_ids or (user and user.id in settings.allowed_user_ids)
    if chat_ok and user_ok:
        return True
    if not reply:
        return False
    if state(context).first_refusal(chat.id if chat else 0) and update.effective_message:
        await update.effective_message.reply_text(texts.NOT_ALLOWED)
    return False


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure with its update id; tell the user, briefly, that it went wrong.

    The Bot API going away while polling is one line naming it, not a chain of
    tracebacks: PTB keeps retrying, and the cause is outside the bot.
    """
    if update is None and isinstance(context.error, NetworkError):
        url = state(context).settings.telegram_base_url
        log.warning("cannot reach the Telegram Bot API at %s (%s); retrying", url, context.error)
        return
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        with contextlib.suppress(Exception):
            await update.effective_message.reply_text(texts.APOLOGY)
