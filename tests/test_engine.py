"""The answer engine end to end: real Chroma stores, the real local model, offline answers.

The story index (the repo's `corpus/`) is built once for the module; tests that
change a store build their own small one.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from constants import CORPUS, DEV_FILE, ENV_PREFIXES, FIRST_QUESTION, FOLLOW_UP, STORY_ID

from bot.answering.answer import Answer
from bot.answering.engine import AnswerEngine
from bot.answering.questions import Question
from bot.answering.reader import MEANING_CANDIDATES, SENTENCE_FEATURES, held_words, sentence_terms
from bot.settings import BotSettings
from index.articles import Article, load_corpus
from index.indexer import run_index

NO_ANSWER = "The articles don't say"
ANSWER_LIMIT = 340  # characters of an answer body, [n] markers included

# Two made-up articles on another topic: nothing in the engine may know the story.
BRIDGE_URL = "https://example.org/news/kelbridge-bridge"
BRIDGE_MD = """\
---
title: Kelbridge council approves new river bridge
published: 2023-03-04
outlet: Kelbridge Courier
url: https://example.org/news/kelbridge-bridge
---

Kelbridge town council approved a new footbridge over the River Wend on 3 March 2023.

The bridge will cost £4.2 million and is expected to open in the spring of 2025.

Councillors voted eleven to three in favour of the plan after a two-hour debate.

Mayor Helen Marsh said: ‘This bridge will finally join the two halves of our town.’

The old ferry crossing, which has run since 1952, will close when the bridge opens.
"""
RESIDENTS_ID = "residents.txt"
RESIDENTS_TXT = """\
Residents divided over the design of the Kelbridge footbridge

Some residents say the steel footbridge will spoil the view from the market square.

A petition against the design gathered 640 signatures in two weeks.

The architect, Tomasz Nowak, said the design had been chosen to survive winter floods.
"""


# ---------------------------------------------------------------- helpers


def bot_settings(corpus_dir: Path, store_dir: Path, memory_path: Path) -> BotSettings:
    """Every setting that changes answers given explicitly; no `.env`, no LLM."""
    return BotSettings(
        _env_file=None,
        corpus_dir=corpus_dir,
        store_dir=store_dir,
        memory_path=memory_path,
        openai_api_key=None,
        openai_base_url=None,
        embed_backend="local",
        embed_threads=2,
        chunk_size=128,
        chunk_overlap=16,
        chroma_host=None,
        memory_turns=6,
        memory_ttl_hours=24.0,
        top_k=5,
    )


def build_store(corpus_dir: Path, root: Path) -> BotSettings:
    settings = bot_settings(corpus_dir, root / "store", root / "memory.sqlite3")
    run_index(settings, load_corpus(corpus_dir))
    return settings


def write_bridge_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "council.md").write_text(BRIDGE_MD, encoding="utf-8")
    (folder / RESIDENTS_ID).write_text(RESIDENTS_TXT, encoding="utf-8")
    return folder


def new_conversation() -> str:
    return f"test-{uuid.uuid4().hex}"


def articles_by_id(corpus_dir: Path) -> dict[str, Article]:
    return {a.doc_id: a for a in load_corpus(corpus_dir)}


def check_answer(answer: Answer, articles: dict[str, Article]) -> None:
    """What every answer promises: exact quotes, matching [n] markers, a short body."""
    assert answer.mode == "extractive"
    assert len(answer.answer) <= ANSWER_LIMIT, answer.answer
    if answer.abstained:
        assert answer.answer.startswith(NO_ANSWER)
        assert not answer.citations
        return
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == set(numbers), (answer.answer, numbers)
    for c in answer.citations:
        article = articles[c.doc_id]
        assert c.quote.strip(), c
        assert article.text[c.start : c.end] == c.quote, c
        assert c.title == article.title
        assert c.source == (article.url or article.doc_id)
        assert c.published == (article.published or "")
        # Offline answers are the quoted words themselves, each followed by its marker.
        assert f"{c.quote} [{c.n}]" in answer.answer


def assert_states(answer: Answer, fact: str) -> None:
    """The answer says `fact` and a cited quote proves it."""
    assert not answer.abstained, answer
    assert fact in answer.answer, answer.answer
    assert any(fact in c.quote for c in answer.citations), [c.quote for c in answer.citations]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """For module-scoped builds: no STORYBOT_/OPENAI_/CHROMA_ variables, a cwd without `.env`."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIXES):
                mp.delenv(name)
        mp.setenv("ANONYMIZED_TELEMETRY", "False")
        mp.setenv("HF_HUB_OFFLINE", "1")
        cwd = tmp_path_factory.mktemp("engine-cwd")
        mp.chdir(cwd)
        yield cwd


@pytest.fixture(scope="module")
def story_settings(module_env: Path, tmp_path_factory: pytest.TempPathFactory) -> BotSettings:
    return build_store(CORPUS, tmp_path_factory.mktemp("story"))


@pytest.fixture(scope="module")
def story_articles() -> dict[str, Article]:
    return articles_by_id(CORPUS)


@pytest.fixture(scope="module")
def engine(story_settings: BotSettings) -> AnswerEngine:
    return AnswerEngine.from_settings(story_settings)


@pytest.fixture(scope="module")
def bridge_settings(module_env: Path, tmp_path_factory: pytest.TempPathFactory) -> BotSettings:
    root = tmp_path_factory.mktemp("bridge")
    return build_store(write_bridge_corpus(root / "corpus"), root)


@pytest.fixture(scope="module")
def bridge_engine(bridge_settings: BotSettings) -> AnswerEngine:
    return AnswerEngine.from_settings(bridge_settings)


@pytest.fixture(scope="module")
def bridge_articles(bridge_settings: BotSettings) -> dict[str, Article]:
    return articles_by_id(bridge_settings.corpus_dir)


# ---------------------------------------------------------------- the dev set

DIALOGUES = [json.loads(line) for line in DEV_FILE.read_text("utf-8").splitlines() if line.strip()]

# Dev questions the offline engine currently answers with the wrong sentences.
KNOWN_MISSES = {
    ("Why was Loach expelled?",): (
        "the reader prefers the headline ('booted out for supporting others who were "
        "expelled'); the sentence with 'will not disown those already expelled' is a close "
        "second but does not fit beside it within the answer's length"
    ),
    ("What is Ken Loach's job?",): (
        "'job' never occurs in the article, so word overlap favours the 'Ken Loach (pictured), "
        "85' sentences; the headline with 'Film director' ranks third and does not fit as a "
        "second sentence"
    ),
}


def _dialogue_params() -> list:
    params = []
    for number, dialogue in enumerate(DIALOGUES):
        turns = tuple(dialogue["turns"])
        marks = []
        if turns in KNOWN_MISSES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[turns]))
        params.append(
            pytest.param(number, dialogue, marks=marks, id=f"{number:02d} " + " / ".join(turns))
        )
    return params


def test_dev_file_has_in_and_out_of_scope_dialogues() -> None:
    assert len(DIALOGUES) >= 20
    assert sum(d.get("in_scope", True) is False for d in DIALOGUES) >= 3
    assert any(len(d["turns"]) > 1 for d in DIALOGUES)
    for turns in KNOWN_MISSES:
        assert any(tuple(d["turns"]) == turns for d in DIALOGUES), turns


@pytest.fixture(scope="module")
def dev_answers(engine: AnswerEngine) -> list[Answer]:
    """The final answer of each dev dialogue, each dialogue in its own conversation."""
    answers = []
    for number, dialogue in enumerate(DIALOGUES):
        conversation = f"dev-{number}-{uuid.uuid4().hex}"
        for turn in dialogue["turns"]:
            answer = engine.ask(conversation, turn)
        answers.append(answer)
    return answers


@pytest.mark.parametrize(("number", "dialogue"), _dialogue_params())
def test_dev_dialogue_is_answered_with_proof(
    dev_answers: list[Answer], number: int, dialogue: dict
) -> None:
    answer = dev_answers[number]
    if dialogue.get("in_scope", True) is False:
        assert answer.abstained
        assert answer.answer.startswith(NO_ANSWER)
        assert not answer.citations
        return
    assert not answer.abstained, answer
    for fact in dialogue.get("expect_all", []):
        assert_states(answer, fact)
    if "expect_any" in dialogue:
        proved = [
            fact
            for fact in dialogue["expect_any"]
            if fact in answer.answer and any(fact in c.quote for c in answer.citations)
        ]
        assert proved, (dialogue["expect_any"], answer.answer)


@pytest.mark.parametrize(
    "number", range(len(DIALOGUES)), ids=[f"{n:02d}" for n in range(len(DIALOGUES))]
)
def test_dev_answer_quotes_are_exact_and_markers_match(
    dev_answers: list[Answer], story_articles: dict[str, Article], number: int
) -> None:
    answer = dev_answers[number]
    check_answer(answer, story_articles)
    if not answer.abstained:
        assert {c.doc_id for c in answer.citations} == {STORY_ID}


def test_standalone_question_is_the_question_when_not_a_followup(
    dev_answers: list[Answer],
) -> None:
    for dialogue, answer in zip(DIALOGUES, dev_answers, strict=True):
        if len(dialogue["turns"]) == 1:
            assert answer.standalone_question == dialogue["turns"][0]


# ---------------------------------------------------------------- follow-ups


def test_followup_when_did_that_happen(
    engine: AnswerEngine, story_articles: dict[str, Article]
) -> None:
    conversation = new_conversation()
    first = engine.ask(conversation, FIRST_QUESTION)
    assert not first.abstained

    answer = engine.ask(conversation, FOLLOW_UP)

    assert FIRST_QUESTION in answer.standalone_question
    assert_states(answer, "July 20")
    check_answer(answer, story_articles)


def test_followup_how_old_is_he(engine: AnswerEngine, story_articles: dict[str, Article]) -> None:
    conversation = new_conversation()
    engine.ask(conversation, "Who is Ken Loach?")

    answer = engine.ask(conversation, "How old is he?")

    assert "Who is Ken Loach?" in answer.standalone_question
    assert_states(answer, "85")
    check_answer(answer, story_articles)


def test_the_engine_remembers_each_turn(engine: AnswerEngine) -> None:
    conversation = new_conversation()
    first = engine.ask(conversation, "Who is Ken Loach?")
    second = engine.ask(conversation, "How old is he?")

    turns = engine.memory.turns(conversation)

    assert [t.question for t in turns] == ["Who is Ken Loach?", "How old is he?"]
    assert [t.standalone for t in turns] == [
        first.standalone_question,
        second.standalone_question,
    ]
    assert [t.answer for t in turns] == [first.answer, second.answer]


def test_followups_do_not_cross_conversations(engine: AnswerEngine) -> None:
    first = new_conversation()
    engine.ask(first, "Who is Ken Loach?")

    alone = engine.ask(new_conversation(), "How old is he?")

    assert alone.standalone_question == "How old is he?"
    assert "Ken Loach" not in alone.standalone_question
    assert alone.abstained or "85" not in alone.answer
    # The first conversation still resolves its own follow-up.
    follow = engine.ask(first, "How old is he?")
    assert "Who is Ken Loach?" in follow.standalone_question
    assert "85" in follow.answer


def test_reset_forgets_the_conversation(engine: AnswerEngine) -> None:
    conversation, other = new_conversation(), new_conversation()
    engine.ask(conversation, FIRST_QUESTION)
    engine.ask(other, "Who is Ken Loach?")

    engine.reset(conversation)

    assert engine.memory.turns(conversation) == []
    after = engine.ask(conversation, FOLLOW_UP)
    assert after.standalone_question == FOLLOW_UP
    assert "proscribed" not in after.standalone_question
    # Only that conversation was forgotten.
    follow = engine.ask(other, "How old is he?")
    assert "Who is Ken Loach?" in follow.standalone_question
    assert "85" in follow.answer


def test_conversations_survive_an_engine_restart(story_settings: BotSettings) -> None:
    conversation = new_conversation()
    AnswerEngine.from_settings(story_settings).ask(conversation, "Who is Ken Loach?")

    restarted = AnswerEngine.from_settings(story_settings)
    answer = restarted.ask(conversation, "How old is he?")

    assert "Who is Ken Loach?" in answer.standalone_question
    assert_states(answer, "85")


# ---------------------------------------------------------------- another corpus

BRIDGE_FACTS = [
    ("When did the council approve the bridge?", "3 March 2023", BRIDGE_URL),
    ("How much will the bridge cost?", "£4.2 million", BRIDGE_URL),
    ("What did the mayor say about the bridge?", "join the two halves of our town", BRIDGE_URL),
    pytest.param(
        "Who is the architect of the bridge?",
        "Tomasz Nowak",
        RESIDENTS_ID,
        marks=pytest.mark.xfail(
            strict=False,
            reason="the reader's estimate sits near the cut of 2/3; a refit may make it abstain",
        ),
    ),
    ("How many signatures did the petition gather?", "640", RESIDENTS_ID),
]


@pytest.mark.parametrize(("question", "fact", "source"), BRIDGE_FACTS)
def test_made_up_corpus_is_answered_with_citations(
    bridge_engine: AnswerEngine,
    bridge_articles: dict[str, Article],
    question: str,
    fact: str,
    source: str,
) -> None:
    answer = bridge_engine.ask(new_conversation(), question)

    assert_states(answer, fact)
    check_answer(answer, bridge_articles)
    assert any(fact in c.quote and c.source == source for c in answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "Who won the football World Cup in 2018?",
        "What is the capital of Japan?",
        # The story is not in this store: nothing may leak from it.
        "How old is Ken Loach?",
    ],
)
def test_made_up_corpus_abstains_on_unrelated_questions(
    bridge_engine: AnswerEngine, question: str
) -> None:
    answer = bridge_engine.ask(new_conversation(), question)

    assert answer.abstained
    assert answer.answer.startswith(NO_ANSWER)
    assert not answer.citations


def test_made_up_corpus_followup(
    bridge_engine: AnswerEngine, bridge_articles: dict[str, Article]
) -> None:
    conversation = new_conversation()
    first = bridge_engine.ask(conversation, "How much will the bridge cost?")
    assert_states(first, "£4.2 million")

    answer = bridge_engine.ask(conversation, "When was it approved?")

    assert "How much will the bridge cost?" in answer.standalone_question
    assert_states(answer, "3 March 2023")
    check_answer(answer, bridge_articles)


def test_sources_lists_the_indexed_articles(bridge_engine: AnswerEngine) -> None:
    sources = bridge_engine.sources()

    assert {s["doc_id"] for s in sources} == {BRIDGE_URL, RESIDENTS_ID}
    bridge = next(s for s in sources if s["doc_id"] == BRIDGE_URL)
    assert bridge["title"] == "Kelbridge council approves new river bridge"
    assert bridge["published"] == "2023-03-04"
    assert bridge["url"] == BRIDGE_URL


# ---------------------------------------------------------------- re-indexing


def test_live_engine_follows_a_reindex(module_env: Path, tmp_path: Path) -> None:
    corpus = write_bridge_corpus(tmp_path / "corpus")
    settings = build_store(corpus, tmp_path)
    engine = AnswerEngine.from_settings(settings)
    before = engine.ask(new_conversation(), "How much will the bridge cost?")
    assert_states(before, "£4.2 million")
    old_generation = engine.index.generation().name

    # The cost changes, one article goes, and a new one arrives.
    changed = BRIDGE_MD.replace(
        "The bridge will cost £4.2 million",
        "After a redesign, the bridge will now cost £5.9 million",
    )
    (corpus / "council.md").write_text(changed, encoding="utf-8")
    (corpus / RESIDENTS_ID).unlink()
    (corpus / "opening.txt").write_text(
        "Kelbridge bridge to be named after a ferryman\n\n"
        "The new Kelbridge footbridge will be named the Albert Trewin Bridge "
        "after the ferryman who worked the crossing for forty years.\n",
        encoding="utf-8",
    )
    report = run_index(settings, load_corpus(corpus))
    assert [a.doc_id for a in report.plan.updated] == [BRIDGE_URL]
    assert report.plan.removed == [RESIDENTS_ID]

    # Same engine object, no restart.
    assert engine.index.generation().name != old_generation
    articles = articles_by_id(corpus)
    after = engine.ask(new_conversation(), "How much will the bridge cost?")
    assert_states(after, "£5.9 million")
    assert "£4.2 million" not in after.answer
    check_answer(after, articles)

    named = engine.ask(new_conversation(), "What will the bridge be named?")
    assert_states(named, "Albert Trewin Bridge")
    check_answer(named, articles)

    gone = engine.ask(new_conversation(), "How many signatures did the petition gather?")
    assert all(c.doc_id != RESIDENTS_ID for c in gone.citations)
    assert "640" not in gone.answer
    assert {s["doc_id"] for s in engine.sources()} == {BRIDGE_URL, "opening.txt"}


def test_engine_reads_the_store_not_the_corpus_folder(module_env: Path, tmp_path: Path) -> None:
    """Until `run_index` runs, an edited corpus file does not change answers."""
    corpus = write_bridge_corpus(tmp_path / "corpus")
    settings = build_store(corpus, tmp_path)
    engine = AnswerEngine.from_settings(settings)
    (corpus / "council.md").write_text(BRIDGE_MD.replace("£4.2 million", "£9 million"), "utf-8")

    answer = engine.ask(new_conversation(), "How much will the bridge cost?")

    assert_states(answer, "£4.2 million")


def test_a_reading_measures_what_the_rest_of_the_question_adds(
    bridge_engine: AnswerEngine,
) -> None:
    """Each sentence's lift is its meaning minus that of the question words it holds."""
    question = Question.parse("Who came up with the design of the footbridge?")
    chunks = bridge_engine.index.search(question.search_text, top_k=8)
    stats = bridge_engine.term_stats()
    every = bridge_engine.extractive.read(question, chunks, stats, every_lift=True)
    vectors = bridge_engine.extractive.vectors
    meaning, lift = (SENTENCE_FEATURES.index(n) for n in ("meaning", "lift"))
    assert len(every.sentences) > 2
    for scored, row in zip(every.sentences, every.features, strict=True):
        text = scored.sentence.text
        held = held_words(question, sentence_terms(text))
        near = float(vectors.texts([held])[0] @ vectors.texts([text])[0]) if held else 0.0
        assert row[lift] == pytest.approx(row[meaning] - near, abs=1e-5)
    # A bot measures it for the answer's sentences only, as training does for them.
    asked = bridge_engine.extractive.read(question, chunks, stats)
    assert asked.chosen and asked.confidence == pytest.approx(every.confidence)
    for position in range(len(asked.sentences)):
        expected = every.features[position, lift] if position in asked.chosen else 0.0
        assert asked.features[position, lift] == pytest.approx(expected, abs=1e-6)


def test_a_reading_can_withhold_the_sentences_that_answer(bridge_engine: AnswerEngine) -> None:
    """Training reads a question as if the articles did not state its answer."""
    question = Question.parse("Who is the architect of the bridge?")
    chunks = bridge_engine.index.search(question.search_text, top_k=8)
    stats = bridge_engine.term_stats()
    full = bridge_engine.extractive.read(question, chunks, stats)
    held = bridge_engine.extractive.read(
        question, chunks, stats, withhold=lambda text: "Tomasz Nowak" in text
    )

    assert any("Tomasz Nowak" in s.sentence.text for s in full.sentences)
    candidates, _ = bridge_engine.extractive.first_stage(question, chunks, stats)
    # Only the shortlist is embedded and scored; every candidate is ranked by its words.
    assert len(full.sentences) == min(len(candidates), MEANING_CANDIDATES)
    assert held.sentences and not any("Tomasz Nowak" in s.sentence.text for s in held.sentences)
    assert len(held.sentences) < len(full.sentences)
