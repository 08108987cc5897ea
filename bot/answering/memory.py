"""Conversation memory in SQLite: the last few turns of each conversation, expiring."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.sqlite import open_database, reporting_errors

# One SQL script per schema version (bot.sqlite); append, never edit a shipped one.
MIGRATIONS = [
    """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation TEXT NOT NULL,
    asked_at REAL NOT NULL,
    question TEXT NOT NULL,
    standalone TEXT NOT NULL,
    answer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation, id);
""",
]


@dataclass(frozen=True)
class Turn:
    question: str
    standalone: str  # the question as it was searched, follow-ups resolved
    answer: str
    asked_at: float


class Memory(Protocol):
    """What the engine needs of a conversation memory (SQLite here, Redis in shared_memory)."""

    def turns(self, conversation: str) -> list[Turn]: ...

    def add(self, conversation: str, question: str, standalone: str, answer: str) -> None: ...

    def reset(self, conversation: str) -> None: ...

    def close(self) -> None: ...


class ConversationMemory:
    """The last `max_turns` turns of each conversation, for `ttl_seconds`; survives restarts."""

    def __init__(self, path: Path, max_turns: int = 6, ttl_seconds: float = 86_400):
        self.max_turns = max_turns
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._path = path
        self._db = open_database(path, MIGRATIONS)

    def turns(self, conversation: str) -> list[Turn]:
        """The conversation's recent turns, oldest first."""
        cutoff = time.time() - self.ttl_seconds
        with self._lock, reporting_errors(self._path):
            rows = self._db.execute(
                "SELECT question, standalone, answer, asked_at FROM turns "
                "WHERE conversation = ? AND asked_at >= ? ORDER BY id DESC LIMIT ?",
                (conversation, cutoff, self.max_turns),
            ).fetchall()
        return [Turn(*row) for row in reversed(rows)]

    def add(self, conversation: str, question: str, standalone: str, answer: str) -> None:
        """Record a turn, then forget what is past the cap or the time limit."""
        now = time.time()
        with self._lock, reporting_errors(self._path), self._db:
            # One transaction, not one per statement: the turn and its clean-up land together.
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO turns (conversation, asked_at, question, standalone, answer) "
                "VALUES (?, ?, ?, ?, ?)",
                (conversation, now, question, standalone, answer),
            )
            self._db.execute(
                "DELETE FROM turns WHERE conversation = ? AND id NOT IN "
                "(SELECT id FROM turns WHERE conversation = ? ORDER BY id DESC LIMIT ?)",
                (conversation, conversation, self.max_turns),
            )
            self._db.execute("DELETE FROM turns WHERE asked_at < ?", (now - self.ttl_seconds,))

    def reset(self, conversation: str) -> None:
        """Forget a conversation."""
        with self._lock, reporting_errors(self._path), self._db:
            self._db.execute("DELETE FROM turns WHERE conversation = ?", (conversation,))

    def close(self) -> None:
        self._db.close()
