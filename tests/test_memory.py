"""Conversation memory on a real SQLite file: order, cap, expiry, restarts, reset, threads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import run_in_threads
from constants import FIRST_QUESTION, FOLLOW_UP

from bot.answering.memory import ConversationMemory, Retention, Turn


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # A folder that does not exist yet: the memory must create it.
    return tmp_path / "state" / "memory.sqlite3"


def questions(turns: list[Turn]) -> list[str]:
    return [t.question for t in turns]


def add_numbered(memory: ConversationMemory, conversation: str, count: int) -> None:
    for i in range(count):
        memory.add(conversation, f"q{i}", f"standalone {i}", f"answer {i}")


def test_turns_are_kept_in_order_with_every_field(db_path: Path) -> None:
    memory = ConversationMemory(db_path, Retention(6, 3600))
    before = time.time()
    memory.add("chat", FIRST_QUESTION, FIRST_QUESTION, "Resist [1]")
    memory.add(
        "chat",
        FOLLOW_UP,
        f"{FIRST_QUESTION} {FOLLOW_UP}",
        "On July 20 [1]",
    )
    after = time.time()

    turns = memory.turns("chat")

    assert questions(turns) == [FIRST_QUESTION, FOLLOW_UP]
    assert turns[1].standalone == f"{FIRST_QUESTION} {FOLLOW_UP}"
    assert [t.answer for t in turns] == ["Resist [1]", "On July 20 [1]"]
    assert all(before <= t.asked_at <= after for t in turns)
    assert turns[0].asked_at <= turns[1].asked_at
    assert db_path.is_file()


def test_unknown_conversation_has_no_turns(db_path: Path) -> None:
    memory = ConversationMemory(db_path)
    memory.add("a", "q", "q", "a")
    assert memory.turns("b") == []


def test_only_the_last_max_turns_are_kept(db_path: Path) -> None:
    memory = ConversationMemory(db_path, Retention(3, 3600))
    add_numbered(memory, "chat", 10)

    assert questions(memory.turns("chat")) == ["q7", "q8", "q9"]
    memory.close()

    # The older turns are deleted, not merely hidden: a memory with a larger
    # cap on the same file still sees only three.
    roomy = ConversationMemory(db_path, Retention(100, 3600))
    assert questions(roomy.turns("chat")) == ["q7", "q8", "q9"]


def test_the_cap_is_per_conversation(db_path: Path) -> None:
    memory = ConversationMemory(db_path, Retention(2, 3600))
    memory.add("a", "a1", "a1", "x")
    add_numbered(memory, "b", 5)
    memory.add("a", "a2", "a2", "x")

    assert questions(memory.turns("a")) == ["a1", "a2"]
    assert questions(memory.turns("b")) == ["q3", "q4"]


def test_turns_expire_after_the_ttl(db_path: Path) -> None:
    memory = ConversationMemory(db_path, Retention(6, 0.3))
    memory.add("old", "old question", "old question", "old answer")
    assert questions(memory.turns("old")) == ["old question"]

    time.sleep(0.45)
    assert memory.turns("old") == []

    # A turn added now is fresh, while the expired one stays gone.
    memory.add("old", "new question", "new question", "new answer")
    assert questions(memory.turns("old")) == ["new question"]


def test_expired_turns_are_deleted_from_the_file(db_path: Path) -> None:
    memory = ConversationMemory(db_path, Retention(6, 0.3))
    memory.add("stale", "forgotten", "forgotten", "x")
    time.sleep(0.45)
    memory.add("other", "recent", "recent", "x")  # any write purges expired turns
    memory.close()

    reopened = ConversationMemory(db_path, Retention(6, 3600))
    assert reopened.turns("stale") == []
    assert questions(reopened.turns("other")) == ["recent"]


def test_memory_survives_a_restart(db_path: Path) -> None:
    first = ConversationMemory(db_path, Retention(6, 3600))
    first.add("chat", "Who is Ken Loach?", "Who is Ken Loach?", "A film director [1]")
    first.add("chat", "How old is he?", "Who is Ken Loach? How old is he?", "85 [1]")
    first.close()

    restarted = ConversationMemory(db_path, Retention(6, 3600))
    turns = restarted.turns("chat")
    assert questions(turns) == ["Who is Ken Loach?", "How old is he?"]
    assert turns[1].standalone == "Who is Ken Loach? How old is he?"
    assert turns[1].answer == "85 [1]"

    # And it keeps appending after the restart.
    restarted.add("chat", "Why?", "Why?", "x")
    assert questions(restarted.turns("chat"))[-1] == "Why?"


def test_two_open_memories_on_one_file_see_each_other(db_path: Path) -> None:
    writer = ConversationMemory(db_path, Retention(6, 3600))
    reader = ConversationMemory(db_path, Retention(6, 3600))
    writer.add("chat", "q", "q", "a")
    assert questions(reader.turns("chat")) == ["q"]


def test_reset_forgets_one_conversation_only(db_path: Path) -> None:
    memory = ConversationMemory(db_path, Retention(6, 3600))
    add_numbered(memory, "forget-me", 3)
    add_numbered(memory, "keep-me", 2)

    memory.reset("forget-me")

    assert memory.turns("forget-me") == []
    assert questions(memory.turns("keep-me")) == ["q0", "q1"]
    memory.close()
    # The reset is persistent.
    assert ConversationMemory(db_path).turns("forget-me") == []

    memory = ConversationMemory(db_path)
    memory.add("forget-me", "fresh", "fresh", "x")
    assert questions(memory.turns("forget-me")) == ["fresh"]


def test_reset_of_an_unknown_conversation_is_harmless(db_path: Path) -> None:
    memory = ConversationMemory(db_path)
    memory.add("a", "q", "q", "x")
    memory.reset("never-seen")
    assert questions(memory.turns("a")) == ["q"]


def test_safe_from_several_threads(db_path: Path) -> None:
    memory = ConversationMemory(db_path, Retention(50, 3600))
    threads_count, per_thread = 8, 40

    def work(worker: int) -> None:
        for i in range(per_thread):
            memory.add(f"own-{worker}", f"{worker}:{i}", "s", "a")
            memory.add("shared", f"{worker}:{i}", "s", "a")
            memory.turns("shared")
            if i % 10 == 0:
                memory.reset(f"scratch-{worker}")

    errors = run_in_threads(work, threads_count)
    assert not errors, errors
    # Each thread's own conversation: its last 40 turns (under the cap), in order.
    for worker in range(threads_count):
        assert questions(memory.turns(f"own-{worker}")) == [
            f"{worker}:{i}" for i in range(per_thread)
        ]
    # The shared conversation: capped, and each thread's turns still in its order.
    shared = questions(memory.turns("shared"))
    assert len(shared) == 50
    for worker in range(threads_count):
        mine = [int(q.split(":")[1]) for q in shared if q.startswith(f"{worker}:")]
        assert mine == sorted(mine)
    # The final state is on disk too.
    memory.close()
    assert len(ConversationMemory(db_path, Retention(max_turns=1000)).turns("shared")) == 50


def test_threads_with_separate_connections_to_one_file(db_path: Path) -> None:
    """Like two bot processes sharing the file: every write lands, none is lost."""
    ConversationMemory(db_path).close()  # create the schema once

    def work(worker: int) -> None:
        memory = ConversationMemory(db_path, Retention(100, 3600))
        for i in range(20):
            memory.add(f"proc-{worker}", f"{worker}:{i}", "s", "a")
        memory.close()

    errors = run_in_threads(work, 4)
    assert not errors, errors
    memory = ConversationMemory(db_path, Retention(100, 3600))
    for worker in range(4):
        assert questions(memory.turns(f"proc-{worker}")) == [f"{worker}:{i}" for i in range(20)]


def test_retention_keeps_the_last_turns_asked_within_the_time_limit() -> None:
    retention = Retention(max_turns=2, ttl_seconds=10)
    asked = [Turn(f"q{i}", f"q{i}", "a", at) for i, at in enumerate((80.0, 95.0, 96.0, 99.0))]
    assert [t.question for t in retention.kept(asked, 100.0, lambda t: t.asked_at)] == [
        "q2",
        "q3",
    ]
    # Too old counts before the cap: one turn left in the last ten seconds is one kept.
    assert [t.question for t in retention.kept(asked, 108.0, lambda t: t.asked_at)] == ["q3"]
    assert retention.cutoff(100.0) == 90.0


@pytest.mark.parametrize(("max_turns", "ttl_seconds"), [(0, 60.0), (3, 0.0), (-1, 60.0)])
def test_a_memory_that_would_keep_nothing_is_refused(max_turns: int, ttl_seconds: float) -> None:
    with pytest.raises(ValueError, match="at least one turn"):
        Retention(max_turns, ttl_seconds)
