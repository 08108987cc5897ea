"""👍/👎 on answers, kept in SQLite so maintainers can review the answers people disliked."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot.answering.answer import Answer
from bot.sqlite import open_database, reporting_errors

# One SQL script per schema version (bot.sqlite); append, never edit a shipped one.
MIGRATIONS = [
    """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat TEXT NOT NULL,
    answered_at REAL NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    user_id INTEGER NOT NULL,
    helpful INTEGER NOT NULL,
    voted_at REAL NOT NULL,
    PRIMARY KEY (answer_id, user_id)
);
""",
]


@dataclass(frozen=True)
class Disliked:
    """An answer someone marked 👎."""

    answer_id: int
    chat: str
    question: str
    answer: str
    citations: list[dict]
    voted_at: float
    down_votes: int


class FeedbackStore:
    """Answers that were sent, and the votes on them."""

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._path = path
        self._db = open_database(path, MIGRATIONS)

    def record_answer(self, chat: str, question: str, answer: Answer) -> int:
        """Keep a sent answer; its id goes into the feedback buttons."""
        citations = json.dumps(answer.to_json()["citations"], ensure_ascii=False)
        with self._lock, reporting_errors(self._path):
            cursor = self._db.execute(
                "INSERT INTO answers (chat, answered_at, question, answer, citations) "
                "VALUES (?, ?, ?, ?, ?)",
                (chat, time.time(), question, answer.answer, citations),
            )
            if cursor.lastrowid is None:  # sqlite3 sets it after every INSERT
                raise RuntimeError("the answer was not stored")
            return cursor.lastrowid

    def vote(self, answer_id: int, user_id: int, helpful: bool) -> bool:
        """Store (or change) one user's vote; False when the answer is unknown."""
        with self._lock, reporting_errors(self._path):
            known = self._db.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone()
            if not known:
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO votes (answer_id, user_id, helpful, voted_at) "
                "VALUES (?, ?, ?, ?)",
                (answer_id, user_id, int(helpful), time.time()),
            )
        return True

    def disliked(self, limit: int = 20) -> list[Disliked]:
        """The most recently 👎-voted answers, newest first."""
        with self._lock, reporting_errors(self._path):
            rows = self._db.execute(
                "SELECT a.id, a.chat, a.question, a.answer, a.citations, MAX(v.voted_at), COUNT(*) "
                "FROM votes v JOIN answers a ON a.id = v.answer_id WHERE v.helpful = 0 "
                "GROUP BY a.id ORDER BY MAX(v.voted_at) DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            Disliked(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])
            for row in rows
        ]

    def close(self) -> None:
        self._db.close()
