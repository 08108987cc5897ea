"""Conversation memory in SQLite: the last few turns of each conversation, expiring."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

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


Remembered = TypeVar("Remembered")


@dataclass(frozen=True)
class Retention:
    """What a memory keeps of a conversation: its last `max_turns` turns, none asked
    more than `ttl_seconds` ago. The Redis memory applies `kept`; the SQLite one says
    the same in SQL, with the same cutoff and cap."""

    max_turns: int = 6
    ttl_seconds: float = 86_400

    def __post_init__(self) -> None:
        # A memory that kept nothing would drop the turn it was just given.
        if self.max_turns < 1 or not self.ttl_seconds > 0:
            raise ValueError(f"a memory keeps at least one turn for some time, not {self}")

    def cutoff(self, now: float) -> float:
        """The earliest time a kept turn can have been asked at."""
        return now - self.ttl_seconds

    def kept(
        self, turns: Sequence[Remembered], now: float, asked_at: Callable[[Remembered], float]
    ) -> list[Remembered]:
        """The turns (oldest first) that are kept at `now`."""
        fresh = [t for t in turns if asked_at(t) >= self.cutoff(now)]
        return fresh[-self.max_turns :]


DEFAULT_RETENTION = Retention()


class Memory(Protocol):
    """What the engine needs of a conversation memory (SQLite here, Redis in shared_memory)."""

    def turns(self, conversation: str) -> list[Turn]: ...

    def add(self, conversation: str, question: str, standalone: str, answer: str) -> None: ...

    def reset(self, conversation: str) -> None: ...

    def close(self) -> None: ...


class ConversationMemory:
    """What `retention` keeps of each conversation, in SQLite; survives restarts."""

    def __init__(self, path: Path, retention: Retention = DEFAULT_RETENTION):
        self.retention = retention
        self._lock = threading.Lock()
        self._path = path
        self._db = open_database(path, MIGRATIONS)

    def turns(self, conversation: str) -> list[Turn]:
        """The conversation's recent turns, oldest first."""
        # Retention's rule, said in SQL: the newest turns since the cutoff, at most the cap.
        with self._lock, reporting_errors(self._path):
            rows = self._db.execute(
                "SELECT question, standalone, answer, asked_at FROM turns "
                "WHERE conversation = ? AND asked_at >= ? ORDER BY id DESC LIMIT ?",
                (conversation, self.retention.cutoff(time.time()), self.retention.max_turns),
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
                (conversation, conversation, self.retention.max_turns),
            )
            self._db.execute("DELETE FROM turns WHERE asked_at < ?", (self.retention.cutoff(now),))

    def reset(self, conversation: str) -> None:
        """Forget a conversation."""
        with self._lock, reporting_errors(self._path), self._db:
            self._db.execute("DELETE FROM turns WHERE conversation = ?", (conversation,))

    def close(self) -> None:
        self._db.close()
