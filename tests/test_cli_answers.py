"""`storybot ask` and `storybot chat` through the real CLI, on a real store of the story."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from constants import CORPUS, DEMO_QUESTION, FIRST_QUESTION, FOLLOW_UP, STORY_ID
from typer.testing import CliRunner

from bot.cli.app import app
from index.articles import load_corpus

STORY_TITLE = (
    "Corbyn ally Ken Loach, 85, is kicked out of the Labour Party over ties to far-left outcasts"
)


@pytest.fixture(scope="module")
def store(indexed_story: Path) -> Path:
    return indexed_story


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Per-test memory file; no API key, so answers are extractive."""
    return {"STORYBOT_MEMORY": str(tmp_path / "memory.sqlite3"), "ANONYMIZED_TELEMETRY": "False"}


def invoke(runner: CliRunner, args: list[str], env: dict[str, str], stdin: str | None = None):
    return runner.invoke(app, args, env=env, input=stdin)


def ask_json(runner: CliRunner, store: Path, env: dict[str, str], question: str, *extra: str):
    result = invoke(runner, ["ask", question, "--json", "--store", str(store), *extra], env)
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


# ---------------------------------------------------------------- ask


def test_ask_json_answers_with_citations(runner: CliRunner, store: Path, env: dict) -> None:
    data = ask_json(runner, store, env, DEMO_QUESTION)

    assert {"answer", "abstained", "mode", "citations"} <= set(data)
    assert data["mode"] == "extractive"
    assert data["abstained"] is False
    assert "July 20" in data["answer"]
    assert data["citations"], data
    for n, citation in enumerate(data["citations"], 1):
        assert {"n", "title", "source", "quote"} <= set(citation)
        assert citation["n"] == n
        assert f"[{n}]" in data["answer"]
        assert citation["title"] == STORY_TITLE
        assert citation["source"] == STORY_ID
        assert citation["quote"] in data["answer"]
    assert any("July 20" in c["quote"] for c in data["citations"])
    # The quotes are the article's own words.
    text = load_corpus(CORPUS)[0].text
    assert all(c["quote"] in text for c in data["citations"])


def test_ask_json_abstains_out_of_scope(runner: CliRunner, store: Path, env: dict) -> None:
    data = ask_json(runner, store, env, "Who is the Prime Minister of France?")

    assert data["abstained"] is True
    assert data["answer"].startswith("The articles don't say")
    assert data["citations"] == []


def test_ask_human_output_lists_sources(runner: CliRunner, store: Path, env: dict) -> None:
    result = invoke(runner, ["ask", DEMO_QUESTION, "--store", str(store)], env)

    assert result.exit_code == 0, result.output
    out = result.stdout
    answer, _, sources = out.partition("Sources:")
    assert sources, out
    assert "July 20" in answer
    assert "[1]" in answer
    assert f"[1] {STORY_TITLE}" in sources
    assert "2021-08-14" in sources
    assert "July 20" in sources  # the quoted passage


def test_ask_on_an_empty_store_says_to_index(runner: CliRunner, tmp_path: Path, env: dict) -> None:
    empty = tmp_path / "empty-store"

    result = invoke(runner, ["ask", DEMO_QUESTION, "--store", str(empty)], env)

    assert result.exit_code == 2, result.output
    assert "storybot index" in result.stderr
    assert result.stdout == ""


def test_ask_store_comes_from_the_environment(runner: CliRunner, store: Path, env: dict) -> None:
    result = invoke(
        runner, ["ask", "How old is Ken Loach?", "--json"], {**env, "STORYBOT_STORE": str(store)}
    )

    assert result.exit_code == 0, result.output
    assert "85" in json.loads(result.stdout)["answer"]


def test_chat_name_keeps_memory_across_ask_invocations(
    runner: CliRunner, store: Path, env: dict
) -> None:
    first = ask_json(runner, store, env, "Who is Ken Loach?", "--chat", "film-club")
    assert first["abstained"] is False

    second = ask_json(runner, store, env, "How old is he?", "--chat", "film-club")

    assert "Who is Ken Loach?" in second["standalone_question"]
    assert "85" in second["answer"]
    assert any("85" in c["quote"] for c in second["citations"])


def test_other_or_no_chat_name_starts_a_fresh_conversation(
    runner: CliRunner, store: Path, env: dict
) -> None:
    ask_json(runner, store, env, "Who is Ken Loach?", "--chat", "one")

    other = ask_json(runner, store, env, "How old is he?", "--chat", "two")
    unnamed = ask_json(runner, store, env, "How old is he?")

    assert other["standalone_question"] == "How old is he?"
    assert unnamed["standalone_question"] == "How old is he?"


# ---------------------------------------------------------------- chat

CHAT_INPUT = f"{FIRST_QUESTION}\n{FOLLOW_UP}\n/sources\n/reset\n\n/help\n/bogus\n"


def chat_lines(runner: CliRunner, store: Path, env: dict, stdin: str, *extra: str) -> list[dict]:
    result = invoke(runner, ["chat", "--json", "--store", str(store), *extra], env, stdin)
    assert result.exit_code == 0, (result.output, result.exception)
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_chat_json_one_line_per_input_line(runner: CliRunner, store: Path, env: dict) -> None:
    replies = chat_lines(runner, store, env, CHAT_INPUT)

    assert len(replies) == CHAT_INPUT.count("\n") == 7
    first, follow, sources, reset, empty, help_, bogus = replies

    # Questions: answers, no command key.
    for reply in (first, follow):
        assert "command" not in reply
        assert reply["mode"] == "extractive"
        assert reply["abstained"] is False
        assert reply["citations"]
    assert "Labour Against the Witchhunt" in first["answer"]
    assert FIRST_QUESTION in follow["standalone_question"]
    assert "July 20" in follow["answer"]
    assert any("July 20" in c["quote"] for c in follow["citations"])

    # Commands: their name, their text, no citations.
    assert sources["command"] == "sources"
    assert STORY_TITLE in sources["answer"]
    assert "2021-08-14" in sources["answer"]
    assert reset["command"] == "reset"
    assert "forgotten" in reset["answer"]
    assert empty["command"] is None
    assert empty["error"] == "empty question"
    assert help_["command"] == "help"
    assert "/reset" in help_["answer"]
    assert "/sources" in help_["answer"]
    assert bogus["command"] == "bogus"
    assert bogus["error"] == "unknown command"
    for reply in (sources, reset, empty, help_, bogus):
        assert reply["citations"] == []
    for reply in (sources, reset, help_):
        assert "error" not in reply


def test_chat_reset_forgets_the_conversation(runner: CliRunner, store: Path, env: dict) -> None:
    replies = chat_lines(
        runner, store, env, "Who is Ken Loach?\nHow old is he?\n/reset\nHow old is he?\n"
    )

    assert len(replies) == 4
    assert "Who is Ken Loach?" in replies[1]["standalone_question"]
    assert "85" in replies[1]["answer"]
    assert replies[2]["command"] == "reset"
    assert replies[3]["standalone_question"] == "How old is he?"


def test_chat_named_conversation_continues_an_ask(
    runner: CliRunner, store: Path, env: dict
) -> None:
    ask_json(runner, store, env, FIRST_QUESTION, "--chat", "shared")

    replies = chat_lines(runner, store, env, f"{FOLLOW_UP}\n", "--chat", "shared")

    assert len(replies) == 1
    assert FIRST_QUESTION in replies[0]["standalone_question"]
    assert "July 20" in replies[0]["answer"]


def test_chat_plain_text_output(runner: CliRunner, store: Path, env: dict) -> None:
    result = invoke(
        runner,
        ["chat", "--store", str(store)],
        env,
        f"{DEMO_QUESTION}\n/bogus\n",
    )

    assert result.exit_code == 0, result.output
    assert "July 20" in result.stdout
    assert "Sources:" in result.stdout
    assert "[1]" in result.stdout
    assert "/help lists" in result.stdout


def test_chat_on_an_empty_store_says_to_index(runner: CliRunner, tmp_path: Path, env: dict) -> None:
    result = invoke(
        runner, ["chat", "--json", "--store", str(tmp_path / "nothing")], env, "Hello?\n"
    )

    assert result.exit_code == 2
    assert "storybot index" in result.stderr
