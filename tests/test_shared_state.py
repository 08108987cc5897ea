"""Conversation memory and feedback on a real Redis, shared between processes: memory
through LlamaIndex's RedisChatStore with the SQLite memory's behaviour (tests/test_memory.py)."""

from __future__ import annotations

import time

import pytest
import redis
from conftest import closed_port, run_in_threads
from constants import FIRST_QUESTION, FOLLOW_UP

from bot.answering.memory import Retention, Turn
from bot.answering.shared_memory import ChatStoreMemory, open_memory
from bot.errors import ServerUnavailable
from bot.settings import BotSettings


@pytest.fixture
def url(redis_server) -> str:
    return f"redis://127.0.0.1:{redis_server.port}/0"


@pytest.fixture
def make(url: str, namespace: str):
    def build(max_turns: int = 6, ttl_seconds: float = 3600) -> ChatStoreMemory:
        retention = Retention(max_turns, ttl_seconds)
        return ChatStoreMemory.on_redis(url, f"storybot:{namespace}:", retention)

    return build


def questions(turns: list[Turn]) -> list[str]:
    return [t.question for t in turns]


def test_turns_are_kept_in_order_with_every_field(make) -> None:
    memory = make()
    before = time.time()
    memory.add("chat", FIRST_QUESTION, FIRST_QUESTION, "Resist [1]")
    memory.add("chat", FOLLOW_UP, f"{FIRST_QUESTION} {FOLLOW_UP}", "On July 20 [1]")
    turns = memory.turns("chat")
    assert questions(turns) == [FIRST_QUESTION, FOLLOW_UP]
    assert turns[1].standalone == f"{FIRST_QUESTION} {FOLLOW_UP}"
    assert [t.answer for t in turns] == ["Resist [1]", "On July 20 [1]"]
    assert all(before <= t.asked_at <= time.time() for t in turns)
    assert memory.turns("other") == []


def test_the_cap_is_per_conversation_and_drops_old_turns(make) -> None:
    memory = make(max_turns=3)
    memory.add("a", "a1", "a1", "x")
    for i in range(10):
        memory.add("b", f"q{i}", f"s{i}", f"answer {i}")
    assert questions(memory.turns("b")) == ["q7", "q8", "q9"]
    assert questions(memory.turns("a")) == ["a1"]
    # Deleted, not hidden: a memory with a larger cap sees only three.
    assert questions(make(max_turns=100).turns("b")) == ["q7", "q8", "q9"]


def test_a_question_left_without_its_answer_is_trimmed_with_the_old_turns(
    make, url: str, namespace: str
) -> None:
    from llama_index.core.llms import ChatMessage, MessageRole

    memory = make(max_turns=2)
    memory.add("c", "q1", "q1", "a1")
    memory.add("c", "q2", "q2", "a2")
    # A bot that stopped between writing a question and its answer.
    memory.chat_store.add_message(
        f"storybot:{namespace}:memory:c", ChatMessage(role=MessageRole.USER, content="lost")
    )
    memory.add("c", "q3", "q3", "a3")
    assert questions(memory.turns("c")) == ["q2", "q3"]
    memory.add("c", "q4", "q4", "a4")
    assert questions(memory.turns("c")) == ["q3", "q4"]
    stored = redis.Redis.from_url(url).lrange(f"storybot:{namespace}:memory:c", 0, -1)
    assert len(stored) == 4  # two turns, nothing left of the stray question


def test_turns_expire_after_the_ttl_and_the_key_with_them(make, url: str, namespace: str) -> None:
    memory = make(ttl_seconds=1)
    memory.add("old", "old question", "old question", "old answer")
    assert questions(memory.turns("old")) == ["old question"]
    time.sleep(1.2)
    assert memory.turns("old") == []
    assert redis.Redis.from_url(url).exists(f"storybot:{namespace}:memory:old") == 0
    memory.add("old", "new question", "new question", "new answer")
    assert questions(memory.turns("old")) == ["new question"]


def test_another_process_continues_the_conversation_and_reset_is_shared(make) -> None:
    first = make()
    first.add("chat", "Who is Ken Loach?", "Who is Ken Loach?", "A film director [1]")
    second = make()  # another bot: a new client, nothing in common but the URL
    assert questions(second.turns("chat")) == ["Who is Ken Loach?"]
    second.add("chat", "How old is he?", "Who is Ken Loach? How old is he?", "85 [1]")
    assert questions(first.turns("chat")) == ["Who is Ken Loach?", "How old is he?"]
    first.reset("chat")
    assert second.turns("chat") == []


def test_namespaces_keep_conversations_apart(url: str) -> None:
    one = ChatStoreMemory.on_redis(url, "storybot:one-story:")
    two = ChatStoreMemory.on_redis(url, "storybot:two-story:")
    one.add("chat", "q", "q", "a")
    assert two.turns("chat") == []


def test_safe_from_several_threads(make) -> None:
    memory = make(max_turns=100)

    def work(worker: int) -> None:
        for i in range(20):
            memory.add(f"own-{worker}", f"{worker}:{i}", "s", "a")
            memory.turns(f"own-{worker}")

    errors = run_in_threads(work, 4)
    assert not errors, errors
    for worker in range(4):
        assert questions(memory.turns(f"own-{worker}")) == [f"{worker}:{i}" for i in range(20)]


def test_the_setting_chooses_redis_and_a_silent_server_is_named(url: str, tmp_path) -> None:
    settings = BotSettings(_env_file=None, redis_url=url, memory_path=tmp_path / "m.sqlite3")
    assert isinstance(open_memory(settings), ChatStoreMemory)
    assert not (tmp_path / "m.sqlite3").exists()

    down = ChatStoreMemory.on_redis(f"redis://127.0.0.1:{closed_port()}/0", "storybot:x:")
    with pytest.raises(ServerUnavailable, match="STORYBOT_REDIS_URL"):
        down.turns("chat")
    with pytest.raises(ServerUnavailable, match="STORYBOT_REDIS_URL"):
        down.add("chat", "q", "q", "a")


def test_a_redis_that_never_answers_is_named_once_the_wait_runs_out(silent_port: int) -> None:
    # A stopped server times out rather than refusing: the same message, not a traceback.
    url = f"redis://127.0.0.1:{silent_port}/0?socket_timeout=0.5&socket_connect_timeout=0.5"
    memory = ChatStoreMemory.on_redis(url, "storybot:x:")
    with pytest.raises(ServerUnavailable, match=r"STORYBOT_REDIS_URL.*Timeout"):
        memory.turns("chat")
    from bot.telegram.shared_feedback import RedisFeedbackStore

    feedback = RedisFeedbackStore(url, "storybot:x:")
    with pytest.raises(ServerUnavailable, match=r"STORYBOT_REDIS_URL.*Timeout"):
        feedback.disliked()


def test_feedback_in_redis_lists_the_disliked_answers_newest_first(
    url: str, namespace: str
) -> None:
    from bot.answering.answer import Answer, Citation
    from bot.telegram.shared_feedback import RedisFeedbackStore

    store = RedisFeedbackStore(url, f"storybot:{namespace}:")
    cited = (Citation(n=1, title="Loach expelled", source="x.md", quote="He was expelled."),)
    first = store.record_answer(
        "chat-1",
        "Q1?",
        Answer(answer="A1 [1]", abstained=False, mode="extractive", citations=cited),
    )
    second = store.record_answer(
        "chat-2", "Q2?", Answer(answer="A2", abstained=False, mode="extractive")
    )
    assert second == first + 1
    assert store.vote(first, user_id=7, helpful=False)
    assert store.vote(second, user_id=7, helpful=False)
    assert store.vote(second, user_id=8, helpful=False)
    assert not store.vote(999_999, user_id=7, helpful=False)

    # Another bot process sees the same records.
    other = RedisFeedbackStore(url, f"storybot:{namespace}:")
    newest, older = other.disliked()
    assert (newest.answer_id, newest.down_votes, newest.chat) == (second, 2, "chat-2")
    assert older.citations[0]["quote"] == "He was expelled."
    assert other.vote(first, user_id=7, helpful=True)  # changed its mind
    assert [d.answer_id for d in other.disliked()] == [second]


def test_votes_cast_at_once_leave_the_disliked_list_matching_the_votes(
    url: str, namespace: str
) -> None:
    from bot.answering.answer import Answer
    from bot.telegram.shared_feedback import RedisFeedbackStore

    store = RedisFeedbackStore(url, f"storybot:{namespace}:")
    answer_id = store.record_answer(
        "chat", "Q?", Answer(answer="A", abstained=False, mode="extractive")
    )

    def flip(user: int) -> None:
        # Each user ends on 👍 but passes through 👎: with two stores, as two bots would.
        own = RedisFeedbackStore(url, f"storybot:{namespace}:")
        for helpful in (False, True) * 15:
            own.vote(answer_id, user_id=user, helpful=helpful)

    assert run_in_threads(flip, 6) == []
    assert store.disliked() == []
    assert store.vote(answer_id, user_id=99, helpful=False)
    assert [d.down_votes for d in store.disliked()] == [1]


def test_a_full_redis_is_named_with_what_to_do(tmp_path) -> None:
    from servers import redis_server

    server = redis_server(tmp_path / "full").start()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        redis.Redis.from_url(url).config_set("maxmemory", "1")  # every write refused
        memory = ChatStoreMemory.on_redis(url, "storybot:full:")
        with pytest.raises(ServerUnavailable, match=r"STORYBOT_REDIS_URL.*refuses writes"):
            memory.add("chat", "q", "q", "a")
    finally:
        server.stop()
