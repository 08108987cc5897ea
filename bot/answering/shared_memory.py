"""Conversation memory in a LlamaIndex chat store on Redis, shared by bots on any machine.

It keeps what the SQLite memory keeps (`memory.Retention`): each turn is
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

from bot.answering.memory import (
    DEFAULT_RETENTION,
    ConversationMemory,
    Memory,
    Retention,
    Turn,
)
from bot.settings import BotSettings
from index.namespaces import Namespace
from index.shared import REDIS_UNUSABLE, connect_redis, unavailable


def open_memory(settings: BotSettings) -> Memory:
    """Redis when STORYBOT_REDIS_URL is set, so any bot process can continue a conversation;
    else the SQLite file STORYBOT_MEMORY beside this bot."""
    retention = Retention(settings.memory_turns, settings.memory_ttl_hours * 3600)
    if settings.redis_url:
        return ChatStoreMemory.on_redis(
            settings.redis_url, Namespace(settings.namespace).redis_prefix, retention
        )
    return ConversationMemory(settings.memory_path, retention)


class ChatStoreMemory:
    """What `retention` keeps of each conversation, in a chat store."""

    def __init__(
        self,
        chat_store: BaseChatStore,
        *,
        prefix: str,
        retention: Retention = DEFAULT_RETENTION,
        url: str = "",
        client: redis.Redis,
    ):
        self.chat_store = chat_store
        self.client = client  # the store's own connection, for an atomic trim
        self.prefix = prefix
        self.retention = retention
        self.url = url  # named in the message when the server is down

    @classmethod
    def on_redis(
        cls, url: str, prefix: str, retention: Retention = DEFAULT_RETENTION
    ) -> ChatStoreMemory:
        """A memory in the Redis at `url`, its keys under `prefix`."""
        client = connect_redis(url)
        # Both clients given: the store would otherwise connect (and fail) while being built.
        store = RedisChatStore(
            redis_client=client,
            aredis_client=redis.asyncio.Redis.from_url(url),
            ttl=max(1, math.ceil(retention.ttl_seconds)),
        )
        return cls(store, prefix=prefix, retention=retention, url=url, client=client)

    def _key(self, conversation: str) -> str:
        return f"{self.prefix}memory:{conversation}"

    def _messages(self, conversation: str) -> list[ChatMessage]:
        try:
            return self.chat_store.get_messages(self._key(conversation))
        except REDIS_UNUSABLE as error:
            raise unavailable(self.url, error) from None

    def turns(self, conversation: str) -> list[Turn]:
        """The conversation's recent turns, oldest first."""
        turns = [t for _, t in _pair(self._messages(conversation))]
        return self.retention.kept(turns, time.time(), lambda t: t.asked_at)

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
            kept = self.retention.kept(_pair(messages), now, lambda pair: pair[1].asked_at)
            # The turn just added is fresh, so at least one is kept.
            first = kept[0][0]
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
