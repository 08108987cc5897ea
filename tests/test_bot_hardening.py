"""Hostile or broken input to the front ends: a rejected token or unreachable Bot API, bytes
that are not UTF-8, control characters, strangers pressing 👍/👎 or sending a bare /ask.

Telegram tests run the real bot against the local Bot API server; CLI tests run the real
`storybot` process or its typer app, on the story indexed once per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from constants import ALICE, BOB, CORPUS, GROUP
from fakes.telegram_server import TelegramBotAPIServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_telegram_bot import WAIT, bot_settings, running_bot, server, story_store, wait_replies
from typer.testing import CliRunner

from bot import texts
from bot.answering.engine import AnswerEngine
from bot.cli.app import app
from bot.redaction import add_secrets, redact
from bot.telegram.app import build_application, protect_logs, serve
from bot.telegram.feedback import FeedbackStore
from index.retrieval import StoryIndex

__all__ = ["server", "story_store"]  # fixtures, imported for pytest

STORYBOT = Path(sys.executable).parent / "storybot"
WRONG_TOKEN = "654321:WRONG-token-zyxwvutsrqponmlkjihgfedcba987"
needs_script = pytest.mark.skipif(
    not STORYBOT.exists(), reason="the storybot script is not installed"
)


def storybot(cwd: Path, *args: str | bytes | Path, stdin: bytes | None = None, **env: str):
    return subprocess.run(
        [str(STORYBOT), *(a if isinstance(a, bytes) else str(a) for a in args)],
        cwd=cwd,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        timeout=180,
    )


def bot_env(store: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "STORYBOT_STORE": str(store),
        "STORYBOT_MEMORY": str(tmp_path / "memory.sqlite3"),
        "STORYBOT_FEEDBACK": str(tmp_path / "feedback.sqlite3"),
        **extra,
    }


# ---------------------------------------------------------------- the token and the Bot API


@needs_script
@pytest.mark.parametrize("log_level", ["WARNING", "DEBUG"])
def test_a_rejected_token_is_one_line_and_never_printed(
    indexed_story: Path, tmp_path: Path, isolated_env: Path, log_level: str
) -> None:
    with TelegramBotAPIServer() as api:  # it accepts only its own token
        url = api.base_url
        result = storybot(
            isolated_env,
            "--log-level",
            log_level,
            "run",
            **bot_env(
                indexed_story,
                tmp_path,
                TELEGRAM_BOT_TOKEN=WRONG_TOKEN,
                TELEGRAM_BASE_URL=url,
            ),
        )
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 2, output
    assert WRONG_TOKEN.split(":")[1] not in output
    assert f"error: the Bot API at {url} rejected TELEGRAM_BOT_TOKEN" in output
    if log_level == "WARNING":
        assert output.count("\n") == 1, output


@needs_script
def test_an_unreachable_bot_api_is_one_line_naming_the_url(
    indexed_story: Path, tmp_path: Path, isolated_env: Path
) -> None:
    from conftest import closed_port

    url = f"http://127.0.0.1:{closed_port()}"
    result = storybot(
        isolated_env,
        "run",
        **bot_env(indexed_story, tmp_path, TELEGRAM_BOT_TOKEN=WRONG_TOKEN, TELEGRAM_BASE_URL=url),
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.startswith(f"error: cannot reach the Telegram Bot API at {url}: ")
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr and WRONG_TOKEN not in stderr


def test_tracebacks_that_ptb_logs_are_redacted(indexed_story: Path, tmp_path: Path) -> None:
    """PTB logs InvalidToken, token in its message, with a traceback: the handler sees neither."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    loop = asyncio.new_event_loop()
    try:
        with TelegramBotAPIServer() as api:
            settings = bot_settings(
                api, (CORPUS, indexed_story), tmp_path, telegram_bot_token=WRONG_TOKEN
            )
            engine = AnswerEngine.from_settings(settings, StoryIndex(settings))
            application = build_application(settings, engine)  # protects the handlers
            asyncio.set_event_loop(loop)
            with pytest.raises(Exception, match="rejected") as caught:
                serve(application, settings, stop_signals=None, close_loop=False)
            with contextlib.suppress(Exception):  # PTB leaves the sessions of a failed start
                loop.run_until_complete(application.bot.shutdown())
            engine.memory.close()
    finally:
        root.removeHandler(handler)
        asyncio.set_event_loop(None)
        loop.close()
    logged = stream.getvalue()
    assert "Traceback" in logged and "InvalidToken" in logged, logged
    assert WRONG_TOKEN not in logged and WRONG_TOKEN.split(":")[1] not in logged
    assert "<redacted>" in logged
    assert WRONG_TOKEN in str(caught.value)  # PTB's own message; the CLI redacts it too
    assert WRONG_TOKEN not in redact(str(caught.value))


def test_redact_hides_registered_secrets_and_escapes_control_characters() -> None:
    add_secrets("111:ABCDEFGHIJKLMNOPQRSTUVWXYZ", None, "")
    assert redact("t=111:ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "t=<redacted>"
    assert redact("tail ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "tail <redacted>"
    assert redact("file \x1b]0;x\x07.md") == "file \\x1b]0;x\\x07.md"


def test_protect_logs_registers_every_secret_of_the_settings(
    indexed_story: Path, tmp_path: Path
) -> None:
    with TelegramBotAPIServer() as api:
        settings = bot_settings(
            api,
            (CORPUS, indexed_story),
            tmp_path,
            webhook_secret="hook-secret-0123456789abcdef",
            openai_api_key="sk-test-0123456789abcdefghij",
        )
        protect_logs(settings)
        text = f"{api.token} hook-secret-0123456789abcdef sk-test-0123456789abcdefghij"
        assert redact(text) == "<redacted> <redacted> <redacted>"


# ---------------------------------------------------------------- strangers


def test_a_stranger_cannot_vote(server, story_store, tmp_path):
    settings = bot_settings(
        server,
        story_store,
        tmp_path,
        allowed_chat_ids=frozenset({GROUP}),
        allowed_user_ids=frozenset({ALICE}),
    )
    with running_bot(settings, server):
        server.send_text(GROUP, ALICE, "/ask How old is Ken Loach?")
        (reply,) = wait_replies(server, GROUP, 1)
        down = reply.reply_markup["inline_keyboard"][0][1]["callback_data"]
        server.press_button(GROUP, BOB, reply.message, down)
        server.wait_for(lambda s: s.callback_answers, timeout=WAIT)
        (refusal,) = server.callback_answers
        assert refusal["text"] == texts.NOT_ALLOWED
        server.press_button(GROUP, ALICE, reply.message, down)
        server.wait_for(lambda s: len(s.callback_answers) == 2, timeout=WAIT)
    assert "Thanks" in server.callback_answers[1]["text"]
    (disliked,) = FeedbackStore(settings.feedback_path).disliked()
    assert disliked.down_votes == 1  # Alice's; Bob's was never stored
    assert len(server.messages(GROUP)) == 1  # a refused vote posts nothing in the chat


def test_a_bare_ask_from_a_stranger_gets_the_refusal(server, story_store, tmp_path):
    settings = bot_settings(server, story_store, tmp_path, allowed_chat_ids=frozenset({ALICE}))
    with running_bot(settings, server):
        server.send_text(BOB, BOB, "/ask")
        (refusal,) = wait_replies(server, BOB, 1)
    assert refusal.text == texts.NOT_ALLOWED


def test_a_message_of_control_characters_is_an_empty_question(server, story_store, tmp_path):
    with running_bot(bot_settings(server, story_store, tmp_path), server):
        server.send_text(ALICE, ALICE, "When were the groups proscribed?")
        wait_replies(server, ALICE, 1)
        server.send_text(ALICE, ALICE, "\x1b\x07\x01 \u202e")
        replies = wait_replies(server, ALICE, 2)
    assert replies[1].text == texts.EMPTY_QUESTION


# ---------------------------------------------------------------- the CLI


@needs_script
def test_a_line_that_is_not_utf8_gets_an_error_line_and_the_session_goes_on(
    indexed_story: Path, tmp_path: Path, isolated_env: Path
) -> None:
    stdin = b"When were the groups proscribed?\n\xff\n\x1b]0;x\x07\nHow old is Ken Loach?\n"
    result = storybot(
        isolated_env, "chat", "--json", stdin=stdin, **bot_env(indexed_story, tmp_path)
    )
    assert result.returncode == 0, result.stderr.decode()
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(lines) == 4
    assert "July" in lines[0]["answer"]
    assert lines[1]["error"] == "not UTF-8 text" and lines[1]["answer"] == texts.NOT_UTF8
    assert lines[2]["error"] == "empty question"
    assert "85" in lines[3]["answer"]


@needs_script
@pytest.mark.parametrize(
    ("args", "named"),
    [
        ([b"How old\xff is he?"], "the question"),
        (["How old is Ken Loach?", "--chat", b"mine\xff"], "--chat"),
    ],
    ids=["question", "chat-id"],
)
def test_ask_with_bytes_that_are_not_utf8_exits_2_naming_the_argument(
    indexed_story: Path, tmp_path: Path, isolated_env: Path, args: list, named: str
) -> None:
    result = storybot(isolated_env, "ask", *args, **bot_env(indexed_story, tmp_path))
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert stderr.startswith(f"error: {named} is not UTF-8 text")
    assert "Traceback" not in stderr and result.stdout == b""


def test_answers_print_no_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    """An index built before the cleaning (or an LLM) may hold them; terminals never get them."""
    from bot.answering.answer import Answer, Citation
    from bot.cli.answers import render_answer
    from bot.cli.common import say, say_json

    citation = Citation(
        n=1, title="T\x1b]0;owned\x07", source="s", quote="Q\x9b2J", url="https://x\x1b[31m"
    )
    answer = Answer(
        answer="A\x1b[2J [1]", abstained=False, mode="extractive", citations=(citation,)
    )
    say(render_answer(answer))
    say_json(answer.to_json())
    printed = capsys.readouterr().out
    text, json_line = printed.rsplit("\n", 2)[0], printed.splitlines()[-1]
    assert "\x1b" not in printed and "\x9b" not in printed and "\x07" not in printed
    assert text == "A [1]\n\nSources:\n[1] T\n    “Q2J”\n    https://x"
    assert json.loads(json_line)["citations"][0]["quote"] == "Q\x9b2J"  # escaped, not lost


CHAT_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LINES = st.lists(
    st.one_of(
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" ")),
        st.sampled_from(
            [b"/reset", b"/sources", b"/help", b"/ask", b"/nope", b"", b"   ", b"\x1b\x07"]
        ),
        st.sampled_from([b"How old is Ken Loach?", b"When did that happen?", b"Who is he?"]),
    ),
    min_size=1,
    max_size=6,
)


@CHAT_SETTINGS
@given(lines=LINES)
def test_every_chat_line_gets_exactly_one_json_reply(
    indexed_story: Path, tmp_path: Path, lines: list[bytes]
) -> None:
    env = {"STORYBOT_MEMORY": str(tmp_path / "memory.sqlite3")}
    result = CliRunner().invoke(
        app,
        ["chat", "--json", "--store", str(indexed_story)],
        input=b"\n".join(lines) + b"\n",
        env=env,
    )
    assert result.exit_code == 0, (result.output, result.exception)
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(replies) == len(lines)
    for line, reply in zip(lines, replies, strict=True):
        assert isinstance(reply["answer"], str) and reply["answer"]
        if b"\xff" in line or b"\xfe" in line:
            assert reply.get("error") == "not UTF-8 text"


def damage(path: Path) -> None:
    """Overwrite every page after SQLite's header page: the file opens, its tables do not."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(b"\xde\xad" * ((path.stat().st_size - 4096) // 2))


def test_a_memory_file_damaged_after_opening_is_named_with_what_to_do(
    indexed_story: Path, tmp_path: Path
) -> None:
    memory = tmp_path / "memory.sqlite3"
    env = {"STORYBOT_MEMORY": str(memory)}
    base = ["--store", str(indexed_story)]
    runner = CliRunner()
    first = runner.invoke(app, ["ask", "How old is Ken Loach?", "--chat", "c", *base], env=env)
    assert first.exit_code == 0, first.output
    damage(memory)
    expected = f"{memory}: cannot use this SQLite file (database disk image is malformed). "
    asked = runner.invoke(app, ["ask", "How old is he?", "--chat", "c", *base], env=env)
    assert asked.exit_code == 2, (asked.output, asked.exception)
    assert asked.stderr.startswith(f"error: {expected}Move it aside")
    chat = runner.invoke(app, ["chat", "--json", "--chat", "c", *base], env=env, input="Hi?\n/x\n")
    assert chat.exit_code == 0, (chat.output, chat.exception)
    lines = [json.loads(line) for line in chat.stdout.splitlines()]
    assert len(lines) == 2
    assert lines[0]["error"] == "cannot answer" and lines[0]["answer"].startswith(expected)


def test_a_damaged_feedback_file_is_named(tmp_path: Path) -> None:
    feedback = tmp_path / "feedback.sqlite3"
    feedback.write_bytes(b"SQLite format 3\0" + b"\xde\xad" * 4000)
    result = CliRunner().invoke(app, ["feedback"], env={"STORYBOT_FEEDBACK": str(feedback)})
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr.startswith(f"error: {feedback}: cannot use this SQLite file")


@needs_script
def test_storybot_run_answers_after_checking_the_bot_api(
    indexed_story: Path, tmp_path: Path, isolated_env: Path
) -> None:
    """The check before polling leaves the event loop usable for PTB's own."""
    import signal

    with TelegramBotAPIServer() as api:
        api.user(ALICE, "Alice")
        process = subprocess.Popen(
            [str(STORYBOT), "run"],
            cwd=isolated_env,
            env={
                **os.environ,
                **bot_env(
                    indexed_story,
                    tmp_path,
                    TELEGRAM_BOT_TOKEN=api.token,
                    TELEGRAM_BASE_URL=api.base_url,
                ),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            api.wait_for(lambda s: s.commands, timeout=60)
            api.send_text(ALICE, ALICE, "How old is Ken Loach?")
            (reply,) = wait_replies(api, ALICE, 1)
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
    assert "85" in reply.text
    assert process.returncode == 0, stderr
    assert api.token not in stderr


def test_the_bot_api_going_away_while_polling_is_one_line_per_retry(story_store, tmp_path, caplog):
    import time

    caplog.set_level(logging.WARNING)
    api = TelegramBotAPIServer().__enter__()
    url = api.base_url
    stopped = False
    try:
        with running_bot(bot_settings(api, story_store, tmp_path), api):
            api.wait_for(lambda s: s.calls("getUpdates"), timeout=WAIT)  # polling has begun
            api.__exit__(None, None, None)
            stopped = True
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and not any(
                "cannot reach" in r.getMessage() for r in caplog.records
            ):
                time.sleep(0.2)
    finally:
        if not stopped:
            api.__exit__(None, None, None)
    ours = [r for r in caplog.records if r.name == "bot.telegram.handlers"]
    assert ours, "no line about the Bot API"
    for record in ours:
        assert record.levelno == logging.WARNING and record.exc_info is None
        assert record.getMessage().startswith(f"cannot reach the Telegram Bot API at {url} (")
