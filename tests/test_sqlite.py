"""Memory and feedback files: schema versions migrate forward; bad files are named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.answering.memory import MIGRATIONS as MEMORY_MIGRATIONS
from bot.answering.memory import ConversationMemory
from bot.errors import MemoryFileError
from bot.sqlite import open_database
from bot.telegram.feedback import FeedbackStore


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_file_from_before_schema_versions_is_migrated_and_keeps_its_turns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "memory.sqlite3"
    with sqlite3.connect(path) as db:  # as storybot wrote it before user_version was set
        db.executescript(MEMORY_MIGRATIONS[0])
        db.execute(
            "INSERT INTO turns (conversation, asked_at, question, standalone, answer) "
            "VALUES ('c', strftime('%s','now'), 'Who?', 'Who?', 'Him.')"
        )
    memory = ConversationMemory(path)
    assert [t.answer for t in memory.turns("c")] == ["Him."]
    memory.close()
    assert user_version(path) == len(MEMORY_MIGRATIONS)


def test_migrations_run_once_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite3"
    steps = ["CREATE TABLE a (x)", "ALTER TABLE a ADD COLUMN y"]
    open_database(path, steps[:1]).close()
    db = open_database(path, steps)  # only the second runs now
    assert [row[1] for row in db.execute("PRAGMA table_info(a)")] == ["x", "y"]
    db.close()
    assert user_version(path) == 2


def test_a_file_from_a_newer_storybot_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(MemoryFileError, match=r"feedback\.sqlite3.*newer storybot"):
        FeedbackStore(path)


def test_a_corrupted_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite3"
    path.write_bytes(b"this is not a database, just text " * 200)
    with pytest.raises(MemoryFileError, match=r"memory\.sqlite3.*Move it aside"):
        ConversationMemory(path)
