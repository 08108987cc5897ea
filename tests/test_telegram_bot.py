"""The Telegram bot end to end: real python-telegram-bot against a local Bot API server.

The bot runs `run_polling` in a thread, exactly as `storybot run` does; the
test injects updates into the server and asserts on what the bot sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from constants import (
    ALICE,
    API_KEY,
    BOB,
    CORPUS,
    DEMO_QUESTION,
    FIRST_QUESTION,
    FOLLOW_UP,
    GROUP,
    STORY,
)
from fakes.openai_server import ScriptedOpenAIServer
from fakes.telegram_server import DEFAULT_USERNAME, TelegramBotAPIServer

from bot.answering.engine import AnswerEngine
from bot.settings import BotSettings
from bot.telegram.app import build_application, serve
from index.articles import load_corpus
from index.indexer import run_index
from index.retrieval import StoryIndex

WAIT = 20  # seconds; answers take well under one, but CI machines are noisy


@pytest.fixture(scope="module")
def story_store(indexed_story: Path) -> tuple[Path, Path]:
    return CORPUS, indexed_story


@pytest.fixture
def server() -> Iterator[TelegramBotAPIServer]:
    with TelegramBotAPIServer() as api:
        api.user(ALICE, "Alice")
        api.user(BOB, "Bob")
        api.chat(GROUP, "supergroup", title="Story club")
        yield api


def bot_settings(server, story_store, tmp_path: Path, **overrides) -> BotSettings:
    corpus, store = story_store
    values = dict(
        corpus_dir=corpus,
        store_dir=store,
        memory_path=tmp_path / "memory.sqlite3",
        feedback_path=tmp_path / "feedback.sqlite3",
        telegram_bot_token=server.token,
        telegram_base_url=server.base_url,
        openai_api_key=None,
    )
    values.update(overrides)
    return BotSettings(**values)


def llm_settings(server, story_store, tmp_path: Path, llm: ScriptedOpenAIServer, **overrides):
    """Bot settings in LLM mode, against the local OpenAI-compatible server."""
    return bot_settings(
        server,
        story_store,
        tmp_path,
        openai_api_key=API_KEY,
        openai_base_url=llm.base_url,
        **overrides,
    )


@contextmanager
def running_bot(settings: BotSettings, server: TelegramBotAPIServer) -> Iterator[AnswerEngine]:
    """`storybot run`'s application, polling in a thread until the block ends."""
    engine = AnswerEngine.from_settings(settings, StoryIndex(settings))
    application = build_application(settings, engine)
    loop = asyncio.new_event_loop()

    options = {"stop_signals": None, "close_loop": False}  # signals belong to the main thread
    if not settings.webhook_url:
        options |= {"poll_interval": 0.0, "timeout": 1}

    def run() -> None:
        asyncio.set_event_loop(loop)
        serve(application, settings, **options)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        server.wait_for(lambda s: s.commands, timeout=WAIT)  # post_init has run
        yield engine
    finally:
        loop.call_soon_threadsafe(application.stop_running)
        thread.join(timeout=WAIT)
        loop.close()
        engine.memory.close()


def wait_replies(server, chat: int, count: int) -> list:
    server.wait_for(lambda s: len(s.messages(chat)) >= count, timeout=WAIT)
    return server.messages(chat)


def test_private_question_is_answered_with_a_cited_quote(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        asked = server.send_text(ALICE, ALICE, DEMO_QUESTION)
        (reply,) = wait_replies(server, ALICE, 1)
    assert "July 20" in reply.text
    assert reply.parse_mode == "HTML"
    assert reply.reply_to == asked["message_id"]
    quotes = [part.split("</blockquote>")[0] for part in reply.html.split("<blockquote")[1:]]
    assert any("July 20" in quote for quote in quotes)
    assert "[1]" in reply.text
    buttons = [b["text"] for row in reply.reply_markup["inline_keyboard"] for b in row]
    assert buttons == ["👍", "👎"]
    assert server.actions(ALICE), "a typing indicator is shown while answering"
    assert {c["command"] for c in server.commands} >= {"ask", "sources", "reset", "help"}


def test_group_chatter_is_ignored_mentions_and_ask_are_answered(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(GROUP, ALICE, "Anyone watching the match tonight?")
        server.send_text(GROUP, BOB, f"/ask@SomeOtherBot {DEMO_QUESTION}")
        server.send_text(GROUP, ALICE, f"@{DEFAULT_USERNAME} How old is Ken Loach?")
        first = wait_replies(server, GROUP, 1)
        server.send_text(
            GROUP, BOB, f"/ask@{DEFAULT_USERNAME} How many members could lose their membership?"
        )
        second = wait_replies(server, GROUP, 2)
    assert len(second) == 2, [m.text for m in second]
    assert "85" in first[0].text
    assert "1,000" in second[1].text


def test_a_reply_to_an_answer_is_a_follow_up_whoever_asks(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(GROUP, ALICE, f"@{DEFAULT_USERNAME} {FIRST_QUESTION}")
        (answer,) = wait_replies(server, GROUP, 1)
        bobs = server.send_text(GROUP, BOB, FOLLOW_UP, reply_to=answer.message)
        follow_up = wait_replies(server, GROUP, 2)[1]
        # Replies between members are not questions. (Replying to the bot's answer would
        # be one.) A question after it shows the bot has read the reply and let it be.
        thanks = server.send_text(GROUP, ALICE, "thanks Bob", reply_to=bobs["message_id"])
        server.send_text(GROUP, BOB, f"@{DEFAULT_USERNAME} How old is Ken Loach?")
        wait_replies(server, GROUP, 3)
    assert "Labour Against the Witchhunt" in answer.text
    assert "July 20" in follow_up.text
    assert len(server.messages(GROUP)) == 3
    assert thanks["message_id"] not in [m.reply_to for m in server.messages(GROUP)]


def test_a_reply_to_an_older_answer_follows_up_that_answer(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(GROUP, ALICE, f"@{DEFAULT_USERNAME} {FIRST_QUESTION}")
        (first,) = wait_replies(server, GROUP, 1)
        server.send_text(GROUP, BOB, f"@{DEFAULT_USERNAME} How old is Ken Loach?")
        wait_replies(server, GROUP, 2)
        # Alice goes back to her answer: the thread is hers, not Bob's question.
        server.send_text(GROUP, ALICE, FOLLOW_UP, reply_to=first.message)
        follow_up = wait_replies(server, GROUP, 3)[2]
    assert "July 20" in follow_up.text


def test_reset_and_sources(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server) as engine:
        server.send_text(ALICE, ALICE, FIRST_QUESTION)
        wait_replies(server, ALICE, 1)
        server.send_text(ALICE, ALICE, "/sources")
        sources = wait_replies(server, ALICE, 2)[1]
        server.send_text(ALICE, ALICE, "/reset")
        wait_replies(server, ALICE, 3)
        remembered = engine.memory.turns(f"tg:{ALICE}:0")
    assert "Corbyn ally Ken Loach" in sources.text and "2021-08-14" in sources.text
    assert remembered == []


def test_html_special_characters_in_questions_are_safe(server, story_store, tmp_path):
    question = "<b>When</b> were the groups & <i>proscribed</i>? *bold* _it_ 1 < 2"
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(ALICE, ALICE, question)
        (reply,) = wait_replies(server, ALICE, 1)
    failed = [r for r in server.sent if r.status != 200 and r.method != "getUpdates"]
    assert not failed, failed
    assert reply.text


def test_a_long_answer_is_split_without_cutting_quotes(server, story_store, tmp_path):
    def verbose(request: dict) -> str:
        """An LLM that restates every sentence of every source, each with its marker."""
        prompt = request["messages"][-1]["content"]
        sources = prompt.split("Question:")[0].split("\n\n[")[1:]
        lines = []
        for block in sources:
            n, _, body = block.partition("]")
            for sentence in body.split("\n")[1:]:
                if sentence.strip().endswith("."):
                    lines.append(f"{sentence.strip()[:-1]} [{n}].")
        return " ".join(lines)

    with ScriptedOpenAIServer() as llm:
        llm.default_reply = verbose
        settings = llm_settings(server, story_store, tmp_path, llm, top_k=8)
        with running_bot(settings, server):
            server.send_text(
                GROUP, ALICE, f"@{DEFAULT_USERNAME} Tell me everything about the expulsion"
            )
            server.wait_for(
                lambda s: any(m.reply_markup for m in s.messages(GROUP) + s.edits(GROUP)),
                timeout=WAIT,
            )
    final = [e for e in server.edits(GROUP)][-1:] + server.messages(GROUP)[1:]
    assert len(final) > 1, "the answer and its sources need more than one message"
    assert all(len(p.text) <= 4096 for p in final)
    assert all(p.html.count("<blockquote") == p.html.count("</blockquote>") for p in final)
    assert final[-1].reply_markup and not any(p.reply_markup for p in final[:-1])
    shown = "\n".join(p.text for p in final)
    for n in range(1, 6):
        assert f"[{n}]" in shown


def test_a_429_is_waited_out_and_the_answer_arrives(server, story_store, tmp_path):
    server.fail_next("sendMessage", status=429, retry_after=1)
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(ALICE, ALICE, "How old is Ken Loach?")
        (reply,) = wait_replies(server, ALICE, 1)
    statuses = [r.status for r in server.calls("sendMessage")]
    assert statuses[0] == 429 and statuses[-1] == 200
    assert "85" in reply.text


def test_an_unauthorised_chat_gets_one_polite_refusal(server, story_store, tmp_path):
    settings = bot_settings(server, story_store, tmp_path, allowed_chat_ids=frozenset({ALICE}))
    with running_bot(settings, server):
        server.send_text(BOB, BOB, "How old is Ken Loach?")
        server.send_text(BOB, BOB, DEMO_QUESTION)
        server.send_text(ALICE, ALICE, "How old is Ken Loach?")
        wait_replies(server, ALICE, 1)
        refusals = server.messages(BOB)
    assert len(refusals) == 1
    assert "private" in refusals[0].text.lower() and "85" not in refusals[0].text


def test_rate_limit_and_length_cap_reply_politely(server, story_store, tmp_path):
    settings = bot_settings(
        server, story_store, tmp_path, questions_per_minute=2, max_question_chars=50
    )
    with running_bot(settings, server):
        server.send_text(ALICE, ALICE, "How old is Ken Loach? " * 5)
        for _ in range(3):
            server.send_text(ALICE, ALICE, "How old is Ken Loach?")
        messages = wait_replies(server, ALICE, 4)
    # The two polite refusals are sent at once, so they may arrive in either order.
    texts = [m.text for m in messages]
    assert sum("too long" in t for t in texts) == 1
    assert sum("85" in t for t in texts) == 2
    assert any("try again" in t for t in texts)


def test_memory_survives_a_restart(server, story_store, tmp_path):
    settings = bot_settings(server, story_store, tmp_path)
    with running_bot(settings, server):
        server.send_text(ALICE, ALICE, FIRST_QUESTION)
        wait_replies(server, ALICE, 1)
    with running_bot(settings, server):
        server.send_text(ALICE, ALICE, FOLLOW_UP)
        follow_up = wait_replies(server, ALICE, 2)[1]
    assert "July 20" in follow_up.text


def test_a_reindex_while_running_is_picked_up(server, story_store, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    story = STORY.read_text()
    (corpus / "story.md").write_text(story)
    store = tmp_path / "store"
    run_index(BotSettings(corpus_dir=corpus, store_dir=store), load_corpus(corpus))
    settings = bot_settings(server, (corpus, store), tmp_path)
    with running_bot(settings, server):
        # A question the reader answers confidently (it abstains on "How long was the
        # NEC meeting?", whose answer does not name the NEC).
        question = "How many members could lose their membership?"
        server.send_text(ALICE, ALICE, question)
        before = wait_replies(server, ALICE, 1)[0]
        (corpus / "story.md").write_text(story.replace("1,000", "2,000"))
        run_index(settings, load_corpus(corpus))
        server.send_text(ALICE, ALICE, question)
        after = wait_replies(server, ALICE, 2)[1]
    assert "1,000" in before.text
    assert "2,000" in after.text


def test_feedback_is_stored_and_acknowledged(server, story_store, tmp_path):
    settings = bot_settings(server, story_store, tmp_path)
    with running_bot(settings, server):
        server.send_text(ALICE, ALICE, "How old is Ken Loach?")
        (reply,) = wait_replies(server, ALICE, 1)
        down = reply.reply_markup["inline_keyboard"][0][1]["callback_data"]
        server.press_button(ALICE, ALICE, reply.message, down)
        server.wait_for(lambda s: s.callback_answers, timeout=WAIT)
    from bot.telegram.feedback import FeedbackStore

    (disliked,) = FeedbackStore(settings.feedback_path).disliked()
    assert disliked.question == "How old is Ken Loach?"
    assert "85" in disliked.answer and disliked.citations
    assert "Thanks" in server.callback_answers[0]["text"]


def test_with_redis_a_bot_elsewhere_continues_the_chat_and_votes_are_shared(
    server, story_store, tmp_path, redis_server
):
    import redis

    from bot.telegram.shared_feedback import RedisFeedbackStore
    from index.namespaces import Namespace

    # A database of its own: the story store is in the default namespace, as are its keys.
    url = f"redis://127.0.0.1:{redis_server.port}/7"
    redis.Redis.from_url(url).flushdb()

    def machine(name: str) -> BotSettings:
        # Each bot has its own SQLite paths: only Redis can carry the conversation over.
        return bot_settings(server, story_store, tmp_path / name, redis_url=url)

    with running_bot(machine("first"), server):
        server.send_text(ALICE, ALICE, FIRST_QUESTION)
        wait_replies(server, ALICE, 1)
    with running_bot(machine("second"), server):
        server.send_text(ALICE, ALICE, FOLLOW_UP)
        follow_up = wait_replies(server, ALICE, 2)[1]
        down = follow_up.reply_markup["inline_keyboard"][0][1]["callback_data"]
        server.press_button(ALICE, ALICE, follow_up.message, down)
        server.wait_for(lambda s: s.callback_answers, timeout=WAIT)
    assert "July 20" in follow_up.text
    prefix = Namespace(machine("any").namespace).redis_prefix
    (disliked,) = RedisFeedbackStore(url, prefix).disliked()
    assert disliked.question == FOLLOW_UP
    assert not (tmp_path / "first" / "memory.sqlite3").exists()


def test_llm_answers_stream_as_edits_in_groups_and_drafts_in_private(server, story_store, tmp_path):
    def cited(request: dict) -> str:
        sources = request["messages"][-1]["content"]
        blocks = sources.split("\n\n[")
        n = next(i for i, b in enumerate(blocks, 1) if "July 20" in b)
        return (
            "The four groups were proscribed at a National Executive Committee meeting "
            f"on July 20 [{n}]. They were Resist, Socialist Appeal, Labour in Exile Network "
            f"and Labour Against the Witchhunt [{n}]. Ken Loach won an Oscar in 1990."
        )

    with ScriptedOpenAIServer(chunk_delay=0.1) as llm:
        llm.default_reply = cited
        settings = llm_settings(server, story_store, tmp_path, llm, llm_timeout=10)
        with running_bot(settings, server):
            server.send_text(GROUP, ALICE, f"@{DEFAULT_USERNAME} {DEMO_QUESTION}")
            server.wait_for(lambda s: any(e.reply_markup for e in s.edits(GROUP)), timeout=WAIT)
            server.send_text(ALICE, ALICE, DEMO_QUESTION)
            wait_replies(server, ALICE, 1)
    edits = server.edits(GROUP)
    assert len(server.messages(GROUP)) == 1, "one message, edited in place"
    assert len(edits) >= 2
    final = edits[-1]
    assert "July 20" in final.text and "Oscar" not in final.text
    assert "<blockquote" in final.html
    assert server.drafts(ALICE), "private chats stream with sendMessageDraft"
    (private_final,) = server.messages(ALICE)
    assert "Oscar" not in private_final.text and "July 20" in private_final.text


def test_the_token_never_reaches_the_logs(server, story_store, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = bot_settings(server, story_store, tmp_path)
    with running_bot(settings, server):
        logging.getLogger("httpx").setLevel(logging.DEBUG)  # as verbose as it gets
        server.send_text(ALICE, ALICE, "How old is Ken Loach?")
        wait_replies(server, ALICE, 1)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "getUpdates" in logged or "sendMessage" in logged, "httpx request lines were logged"
    assert server.token not in logged
    assert server.token.split(":")[1] not in logged


def test_info_logs_each_answered_update_without_its_text(server, story_store, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    question = "How old is the film director Ken Loach?"
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(ALICE, ALICE, question)
        (reply,) = wait_replies(server, ALICE, 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.telegram.handlers"]
    assert any(line.startswith("update ") and "answered (extractive)" in line for line in lines)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert question not in everything and reply.text not in everything


def test_start_and_help_explain_how_to_ask(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(ALICE, ALICE, "/start")
        server.send_text(ALICE, ALICE, "/help")
        messages = wait_replies(server, ALICE, 2)
    # Commands are handled concurrently, so the two replies may come in either order.
    (start,) = [m for m in messages if "Try:" in m.text]
    (help_message,) = [m for m in messages if "privacy mode" in m.text]
    assert start.text.count("•") == 3
    assert "/ask" in help_message.text and "/reset" in help_message.text


def test_help_stays_instant_while_answers_are_computed(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        for user in range(301, 311):
            server.user(user, f"Reader {user}")
            server.send_text(user, user, DEMO_QUESTION)
        server.send_text(ALICE, ALICE, "/help")
        server.wait_for(lambda s: all(s.messages(u) for u in range(301, 311)), timeout=WAIT)
    (help_reply,) = server.messages(ALICE)
    answers = [server.messages(u)[0] for u in range(301, 311)]
    sent_at = {c.result["message_id"] + 1000 * c.chat_id: c.at for c in server.calls("sendMessage")}
    help_at = sent_at[help_reply.message_id + 1000 * ALICE]
    last_answer_at = max(sent_at[a.message_id + 1000 * a.chat_id] for a in answers)
    assert help_at < last_answer_at, "/help waited for the answers"


def test_a_failure_gets_an_apology_and_a_log_line_with_the_update_id(server, tmp_path, caplog):
    empty_store = tmp_path / "empty-store"
    empty_store.mkdir()  # a store folder with no index in it: every question fails
    settings = bot_settings(server, (CORPUS, empty_store), tmp_path)
    with running_bot(settings, server):
        server.send_text(ALICE, ALICE, "How old is Ken Loach?")
        (apology,) = wait_replies(server, ALICE, 1)
        server.send_text(ALICE, ALICE, "/help")
        wait_replies(server, ALICE, 2)  # the application kept running
    assert "Sorry" in apology.text
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("update" in r.getMessage() and r.exc_info for r in failures)
    assert "Traceback" not in apology.text


def test_a_webhook_checks_its_secret(server, story_store, tmp_path):
    import httpx
    from conftest import closed_port

    port = closed_port()
    settings = bot_settings(
        server,
        story_store,
        tmp_path,
        # Telegram only accepts https: the public URL is a TLS proxy's (nothing is sent
        # there: Telegram is the local server), which forwards to 127.0.0.1:port/hook.
        webhook_url="https://bot.example.org/hook",
        webhook_secret="s3cret-value",
        webhook_listen="127.0.0.1",
        webhook_port=port,
    )
    update = {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "text": "How old is Ken Loach?",
            "chat": {"id": ALICE, "type": "private", "first_name": "Alice"},
            "from": {"id": ALICE, "is_bot": False, "first_name": "Alice"},
        },
    }
    server.chat(ALICE, "private")  # updates come by webhook, so the server never saw this chat
    with running_bot(settings, server):
        server.wait_for(lambda s: s.calls("setWebhook"), timeout=WAIT)  # listening by then
        url = f"http://127.0.0.1:{port}/hook"
        forged = httpx.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "no"})
        genuine = httpx.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-value"}
        )
        (reply,) = wait_replies(server, ALICE, 1)
    assert forged.status_code == 403
    assert genuine.status_code == 200
    assert "85" in reply.text
    (hook,) = server.calls("setWebhook")
    assert hook.params["url"] == "https://bot.example.org/hook"
    assert hook.params["secret_token"] == "s3cret-value"
