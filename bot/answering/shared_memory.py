"""Conversation memory in a LlamaIndex chat store on Redis, shared by bots on any machine.

Turns, cap and expiry are those of the SQLite memory (`memory.py`): each turn is
a user message (the question, with the standalone question and the time in its
`additional_kwargs`) followed by the assistant's answer. The Redis key expires
after the time limit without a turn, so abandoned conversations clean themselves
up; older turns of a live conversation are dropped when a turn is added.
"""

from __future__ import annotations

import math
import time

import redis
import redis.asyncio
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.storage.chat_store import BaseChatStore
from llama_index.storage.chat_store.redis import RedisChatStore

from bot.answering.memory import ConversationMemory, Memory, Turn
from bot.settings import BotSettings
from index.namespaces import Namespace
from index.shared import REDIS_UNUSABLE, connect_redis, unavailable


def open_memory(settings: BotSettings) -> Memory:
    """Redis when STORYBOT_REDIS_URL is set, so any bot process can continue a conversation;
    else the SQLite file STORYBOT_MEMORY beside this bot."""
    ttl_seconds = settings.memory_ttl_hours * 3600
    if settings.redis_url:
        return ChatStoreMemory.on_redis(
            settings.redis_url,
            Namespace(settings.namespace).redis_prefix,
            settings.memory_turns,
            ttl_seconds,
        )
    return ConversationMemory(settings.memory_path, settings.memory_turns, ttl_seconds)


class ChatStoreMemory:
    """The last `max_turns` turns of each conversation, for `ttl_seconds`, in a chat store."""

    def __init__(
        self,
        chat_store: BaseChatStore,
        *,
        prefix: str,
        max_turns: int = 6,
        ttl_seconds: float = 86_400,
        url: str = "",
        client: redis.Redis,
    ):
        self.chat_store = chat_store
        self.client = client  # the store's own connection, for an atomic trim
        self.prefix = prefix
        self.max_turns = max_turns
        self.ttl_seconds = ttl_seconds
        self.url = url  # named in the message when the server is down

    @classmethod
    def on_redis(
        cls, url: str, prefix: str, max_turns: int = 6, ttl_seconds: float = 86_400
    ) -> ChatStoreMemory:
        """A memory in the Redis at `url`, its keys under `prefix`."""
        client = connect_redis(url)
        # Both clients given: the store would otherwise connect (and fail) while being built.
        store = RedisChatStore(
            redis_client=client,
            aredis_client=redis.asyncio.Redis.from_url(url),
            ttl=max(1, math.ceil(ttl_seconds)),
        )
        return cls(
            store,
            prefix=prefix,
            max_turns=max_turns,
            ttl_seconds=ttl_seconds,
            url=url,
            client=client,
        )

    def _key(self, conversation: str) -> str:
        return f"{self.prefix}memory:{conversation}"

    def _messages(self, conversation: str) -> list[ChatMessage]:
        try:
            return self.chat_store.get_messages(self._key(conversation))
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None

    def turns(self, conversation: str) -> list[Turn]:
        """The conversation's recent turns, oldest first."""
        cutoff = time.time() - self.ttl_seconds
        fresh = [t for _, t in _pair(self._messages(conversation)) if t.asked_at >= cutoff]
        return fresh[-self.max_turns :]

    def add(self, conversation: str, question: str, standalone: str, answer: str) -> None:
        """Record a turn, then forget what is past the cap or the time limit."""
        key = self._key(conversation)
        now = time.time()
        asked = ChatMessage(
            role=MessageRole.USER,
            content=question,
            additional_kwargs={"standalone": standalone, "asked_at": now},
        )
        try:
            self.chat_store.add_message(key, asked)
            self.chat_store.add_message(
                key, ChatMessage(role=MessageRole.ASSISTANT, content=answer)
            )
            messages = self.chat_store.get_messages(key)
            fresh = [(at, t) for at, t in _pair(messages) if t.asked_at >= now - self.ttl_seconds]
            # The turn just added is fresh, so at least one is kept.
            first = fresh[-self.max_turns :][0][0]
            if first > 0:
                # Everything before the oldest kept question goes (older turns, a question
                # left without its answer) in one atomic step, counted from the end so
                # that what another bot appends meanwhile stays: a rewrite of the list
                # could lose the conversation half-way.
                self.client.ltrim(key, first - len(messages), -1)
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None

    def reset(self, conversation: str) -> None:
        """Forget a conversation."""
        try:
            self.chat_store.delete_messages(self._key(conversation))
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None

    def close(self) -> None:
        """Nothing to close: the connection pool goes with the process."""


def _pair(messages: list[ChatMessage]) -> list[tuple[int, Turn]]:
    """Turns from question/answer pairs, each with its question's position in `messages`;
    a question whose answer is being written (or never was) is skipped."""
    turns = []
    asked: ChatMessage | None = None
    at = 0
    for position, message in enumerate(messages):
        if message.role == MessageRole.USER:
            asked, at = message, position
        elif message.role == MessageRole.ASSISTANT and asked is not None:
            extra = asked.additional_kwargs
            turn = Turn(
                question=asked.content or "",
                standalone=str(extra.get("standalone", asked.content or "")),
                answer=message.content or "",
                asked_at=float(extra.get("asked_at", 0.0)),
            )
            turns.append((at, turn))
            asked = None
    return turns
