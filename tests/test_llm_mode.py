"""LLM mode end to end: the answer engine, over HTTP, against a scripted OpenAI-compatible server.

Everything is real: the story is indexed once per module into a tmp Chroma
store with the local MiniLM model, and the engine's LlamaIndex `OpenAILike`
client (the real `openai` package) talks HTTP to `ScriptedOpenAIServer` on
127.0.0.1. Replies that cite sources are callables that read the prompt the
server received, so no test depends on the order in which chunks are retrieved.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import make_settings
from constants import API_KEY, CORPUS, ENV_PREFIXES, FIRST_QUESTION, FOLLOW_UP, MODEL, REPO
from fakes.openai_server import ScriptedOpenAIServer, hang, malformed, status, text

from bot.answering.answer import Answer
from bot.answering.engine import AnswerEngine
from bot.answering.llm import LLM_UNAVAILABLE, LLM_UNSUPPORTED
from bot.settings import BotSettings
from index.articles import Article, load_corpus
from index.indexer import run_index
from index.retrieval import StoryIndex

PROMPTS = REPO / "prompts"
SYSTEM_PROMPT = (PROMPTS / "system.txt").read_text(encoding="utf-8").strip()
CONDENSE_PROMPT = (PROMPTS / "condense.txt").read_text(encoding="utf-8").strip()
REFUSAL = (PROMPTS / "refusal.txt").read_text(encoding="utf-8").strip()

QUESTION = "When were the four groups proscribed?"
CLAIM = "The four groups were proscribed at a National Executive Committee meeting on July 20"
UNSUPPORTED = "Ken Loach won an Oscar in 1990."
GROUPS_CLAIM = (
    "Resist, Socialist Appeal, Labour in Exile Network and Labour Against the Witchhunt "
    "were proscribed"
)

_MARKERS = re.compile(r"\[(\d+)\]")


# ------------------------------------------------------------------ environment


def _isolate(mp: pytest.MonkeyPatch, cwd: Path) -> None:
    """No STORYBOT_/OPENAI_/CHROMA_ variables or proxies, and a cwd without a `.env`."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES) or name.lower() in ("http_proxy", "https_proxy"):
            mp.delenv(name)
    mp.setenv("ANONYMIZED_TELEMETRY", "False")
    mp.setenv("NO_PROXY", "127.0.0.1,localhost")
    mp.chdir(cwd)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cwd = tmp_path / "llm-cwd"
    cwd.mkdir()
    _isolate(monkeypatch, cwd)


def _settings(store_dir: Path, **fields: Any) -> BotSettings:
    return make_settings(CORPUS, store_dir, settings_class=BotSettings, **{"top_k": 5, **fields})


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's corpus indexed once for the module (offline settings: no key)."""
    root = tmp_path_factory.mktemp("llm-store")
    with pytest.MonkeyPatch.context() as mp:
        (root / "cwd").mkdir()
        _isolate(mp, root / "cwd")
        settings = _settings(root / "chroma")
        report = run_index(settings, load_corpus(CORPUS))
    assert report.chunks > 5
    return root / "chroma"


@pytest.fixture(scope="module")
def story_index(store_dir: Path) -> StoryIndex:
    """One reader of the store (and one loaded embedding model) shared by the engines."""
    return StoryIndex(_settings(store_dir))


@pytest.fixture(scope="module")
def article() -> Article:
    (story,) = load_corpus(CORPUS)
    return story


# ------------------------------------------------------------------ server and engine


class Script:
    """Pushes replies; a callable reply that raises is recorded, not just turned into a 500."""

    def __init__(self, server: ScriptedOpenAIServer):
        self.server = server
        self.errors: list[str] = []

    def push(self, *replies: Any) -> None:
        for reply in replies:
            self.server.push(self._guard(reply) if callable(reply) else reply)

    def _guard(self, fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        def guarded(request: dict[str, Any]) -> Any:
            try:
                return fn(request)
            except Exception as error:
                self.errors.append(f"{type(error).__name__}: {error}")
                raise

        return guarded


@pytest.fixture
def server() -> Iterator[ScriptedOpenAIServer]:
    with ScriptedOpenAIServer() as srv:
        yield srv


@pytest.fixture
def script(server: ScriptedOpenAIServer) -> Iterator[Script]:
    s = Script(server)
    yield s
    assert not s.errors, f"a scripted reply failed: {s.errors}"


@pytest.fixture
def make_engine(
    store_dir: Path, story_index: StoryIndex, tmp_path: Path
) -> Callable[..., AnswerEngine]:
    """An engine in LLM mode pointed at `server`, with its own conversation memory."""
    count = 0

    def build(
        server: ScriptedOpenAIServer,
        *,
        api_key: str = API_KEY,
        llm_timeout: float = 5.0,
        shared_index: bool = True,
    ) -> AnswerEngine:
        nonlocal count
        count += 1
        settings = _settings(
            store_dir,
            memory_path=tmp_path / f"memory-{count}.sqlite3",
            openai_api_key=api_key,
            openai_base_url=server.base_url,
            llm_timeout=llm_timeout,
        )
        assert settings.llm_enabled
        return AnswerEngine.from_settings(settings, story_index if shared_index else None)

    return build


@pytest.fixture
def engine(make_engine: Callable[..., AnswerEngine], server: ScriptedOpenAIServer) -> AnswerEngine:
    return make_engine(server)


# ------------------------------------------------------------------ prompts and replies


def sources_of(request: dict[str, Any]) -> dict[int, str]:
    """Source number -> chunk text, from the answer prompt's "[n] title\\nchunk" list."""
    user = request["messages"][-1]["content"]
    assert user.startswith("Sources:\n"), user[:200]
    listing = user.split("Sources:\n", 1)[1].rsplit("\n\nQuestion: ", 1)[0]
    parts = re.split(r"(?m)^\[(\d+)\] ", listing)
    sources = {}
    for n, entry in zip(parts[1::2], parts[2::2], strict=True):
        _title, _, chunk = entry.partition("\n")
        sources[int(n)] = chunk.strip()
    assert sources, "the prompt lists no sources"
    return sources


def source_with(request: dict[str, Any], needle: str) -> int:
    """The first source whose chunk states `needle`."""
    found = [n for n, chunk in sources_of(request).items() if needle in chunk]
    assert found, f"no source in the prompt contains {needle!r}"
    return found[0]


def source_without_july_20(request: dict[str, Any]) -> int:
    """A source that cannot support a July 20 claim: it never mentions the number 20."""
    found = [n for n, chunk in sources_of(request).items() if not re.search(r"\b20\b", chunk)]
    assert found, "every source mentions 20"
    return found[0]


def cited_claim(request: dict[str, Any]) -> str:
    return f"{CLAIM} [{source_with(request, 'July 20')}]."


def is_condense(request: dict[str, Any]) -> bool:
    return CONDENSE_PROMPT.split(".")[0] in request["messages"][-1]["content"]


def answer_requests(server: ScriptedOpenAIServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["messages"][0]["role"] == "system"]


def markers(answer_text: str) -> list[str]:
    return _MARKERS.findall(answer_text)


def without_markers(answer_text: str) -> str:
    return re.sub(r"\s*\[\d+\]", "", answer_text).strip()


def assert_quotes_exact(answer: Answer, article: Article) -> None:
    assert answer.citations
    for c in answer.citations:
        assert c.doc_id == article.doc_id
        assert article.text[c.start : c.end] == c.quote, c
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert set(markers(answer.answer)) <= {str(c.n) for c in answer.citations}


def assert_fallback(answer: Answer, notice: str) -> None:
    assert answer.mode == "extractive"
    assert answer.check == "fallback"
    assert answer.notice == notice
    assert isinstance(answer.answer, str) and answer.answer


# ------------------------------------------------------------------ 1. well cited


def test_well_cited_answer_passes_the_check(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    script.push(cited_claim)

    answer = engine.ask("c", QUESTION)

    assert answer.mode == "llm"
    assert answer.check == "passed"
    assert answer.notice is None
    assert not answer.abstained
    assert answer.standalone_question == QUESTION
    assert "July 20" in answer.answer
    assert without_markers(answer.answer) == CLAIM + "."
    assert markers(answer.answer) == ["1"]
    assert len(answer.citations) == 1
    assert "July 20" in answer.citations[0].quote
    assert_quotes_exact(answer, article)

    (request,) = server.requests
    assert request["stream"] is True
    assert request["model"] == MODEL
    system, user = request["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith(SYSTEM_PROMPT.split(".")[0])
    assert system["content"] == SYSTEM_PROMPT.replace("{refusal}", REFUSAL)
    assert user["role"] == "user"
    assert f"Question: {QUESTION}" in user["content"]
    assert server.request_headers[0]["authorization"] == f"Bearer {API_KEY}"


# ------------------------------------------------------------------ 2. wrong citation


def test_wrong_marker_is_removed_and_the_right_one_kept(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    def reply(request: dict[str, Any]) -> str:
        wrong = source_without_july_20(request)
        right = source_with(request, "July 20")
        return f"{CLAIM} [{wrong}][{right}]."

    script.push(reply)

    answer = engine.ask("c", QUESTION)

    assert answer.mode == "llm"
    assert answer.check == "repaired"
    assert answer.notice is None
    assert without_markers(answer.answer) == CLAIM + "."
    assert markers(answer.answer) == ["1"]
    assert len(answer.citations) == 1
    assert "July 20" in answer.citations[0].quote
    assert_quotes_exact(answer, article)
    assert len(server.requests) == 1


def test_sentence_with_only_a_wrong_marker_is_dropped(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    expelled = "Ken Loach has been kicked out of the Labour Party over his ties"

    def reply(request: dict[str, Any]) -> str:
        wrong = source_without_july_20(request)
        right = source_with(request, expelled)
        return f"{CLAIM} [{wrong}]. {expelled} to pro-Jeremy Corbyn groups [{right}]."

    script.push(reply)

    answer = engine.ask("c", QUESTION)

    assert answer.mode == "llm"
    assert answer.check == "repaired"
    assert "July 20" not in answer.answer
    assert expelled in answer.answer
    assert markers(answer.answer) == ["1"]
    assert len(answer.citations) == 1
    assert expelled in answer.citations[0].quote
    assert_quotes_exact(answer, article)


def test_all_markers_wrong_falls_back_to_extractive(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    script.push(lambda request: f"{CLAIM} [{source_without_july_20(request)}].")

    answer = engine.ask("c", QUESTION)

    assert_fallback(answer, LLM_UNSUPPORTED)
    assert not answer.abstained
    assert_quotes_exact(answer, article)
    assert len(server.requests) == 1


# ------------------------------------------------------------------ 3. uncited claim


def test_uncited_sentence_is_dropped(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    script.push(lambda request: f"{cited_claim(request)} {UNSUPPORTED}")

    answer = engine.ask("c", QUESTION)

    assert answer.mode == "llm"
    assert answer.check == "repaired"
    assert "Oscar" not in answer.answer
    assert "1990" not in answer.answer
    assert without_markers(answer.answer) == CLAIM + "."
    assert all("Oscar" not in c.quote for c in answer.citations)
    assert_quotes_exact(answer, article)


# ------------------------------------------------------------------ 4-7, 11. model failures


@dataclass(frozen=True)
class Failure:
    """A model failure the engine must survive with an extractive answer."""

    replies: tuple[Any, ...]  # what the server answers, in order
    requests: int  # requests the engine makes before it gives up (retries included)
    unserved: int = 0  # scripted replies never served
    engine: dict[str, Any] = field(default_factory=dict)  # make_engine's options
    server_key: str | None = None  # the only key the server accepts (None: any)
    seconds: tuple[float, float] | None = None  # bounds on how long the answer takes
    then_key: str | None = None  # an engine with this key is then answered by the model


TIMEOUT = 1.0

FAILURES = {
    # Broken output is not retried.
    "malformed-output": Failure((malformed(),), requests=1),
    # One retry, then give up: two attempts of `llm_timeout` each, a short
    # back-off, and the extractive answer.
    "timeout": Failure(
        (hang(20.0), hang(20.0)),
        requests=2,
        engine={"llm_timeout": TIMEOUT},
        seconds=(2 * TIMEOUT, 2 * TIMEOUT + 5.0),
    ),
    "rate-limit-that-persists": Failure((status(429), status(429)), requests=2),
    "server-error-that-persists": Failure((status(500), status(500)), requests=2),
    # A 401 is not retried, and the scripted answer is never served; the engine's
    # own construction path here: it opens the store itself. The same server and
    # script then answer an engine holding the right key.
    "wrong-api-key": Failure(
        (cited_claim,),
        requests=1,
        unserved=1,
        engine={"api_key": "wrong-key", "shared_index": False},
        server_key="right-key",
        then_key="right-key",
    ),
}


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_model_failure_falls_back(
    failure: Failure, make_engine: Callable[..., AnswerEngine], article: Article
) -> None:
    with ScriptedOpenAIServer(api_key=failure.server_key) as server:
        script = Script(server)
        script.push(*failure.replies)
        server.default_reply = status(503, message="unexpected extra request")
        engine = make_engine(server, **failure.engine)

        started = time.perf_counter()
        answer = engine.ask("c", QUESTION)
        elapsed = time.perf_counter() - started

        assert_fallback(answer, LLM_UNAVAILABLE)
        assert_quotes_exact(answer, article)
        assert len(server.requests) == failure.requests
        assert server.pending == failure.unserved
        assert all(request["stream"] is True for request in server.requests)
        key = failure.engine.get("api_key", API_KEY)
        assert all(h["authorization"] == f"Bearer {key}" for h in server.request_headers)
        if failure.seconds is not None:
            shortest, longest = failure.seconds
            assert shortest <= elapsed < longest, elapsed

        if failure.then_key is not None:
            right = make_engine(server, api_key=failure.then_key)
            assert right.ask("c", QUESTION).mode == "llm"
            assert server.pending == 0
        assert not script.errors, f"a scripted reply failed: {script.errors}"


def test_rate_limit_once_is_retried(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    script.push(status(429, retry_after=0.1), cited_claim)

    answer = engine.ask("c", QUESTION)

    assert answer.mode == "llm"
    assert answer.check == "passed"
    assert answer.notice is None
    assert "July 20" in answer.answer
    assert_quotes_exact(answer, article)
    assert len(server.requests) == 2
    assert server.requests[0] == server.requests[1]
    assert server.pending == 0


# ------------------------------------------------------------------ 8. streaming


def test_stream_yields_growing_partials_then_the_checked_answer(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    raw: list[str] = []

    def reply(request: dict[str, Any]) -> str:
        raw.append(f"{cited_claim(request)} {UNSUPPORTED}")
        return raw[-1]

    script.push(reply)

    events = list(engine.stream("c", QUESTION))

    *partials, final = events
    assert isinstance(final, Answer)
    assert all(isinstance(p, str) for p in partials)
    assert len(partials) > 1
    for before, after in pairwise(partials):
        assert after.startswith(before), (before, after)
    assert len(set(partials)) > 1  # it grows: not one text repeated
    assert partials[-1] == raw[0]
    assert "Oscar" in partials[-1]

    assert final.mode == "llm"
    assert final.check == "repaired"
    assert final.answer != partials[-1]
    assert "Oscar" not in final.answer
    assert without_markers(final.answer) == CLAIM + "."
    assert markers(final.answer) == ["1"]
    assert_quotes_exact(final, article)
    assert server.requests[0]["stream"] is True
    # The turn is remembered with the checked text, not the raw stream.
    (turn,) = engine.memory.turns("c")
    assert turn.answer == final.answer


def test_stream_partials_strictly_grow(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script
) -> None:
    """A front end edits its message on every partial; an unchanged text is a wasted edit
    (Telegram rejects it: "message is not modified")."""
    script.push(cited_claim)

    partials = [e for e in engine.stream("c", QUESTION) if isinstance(e, str)]

    assert len(partials) > 1
    for before, after in pairwise(partials):
        assert after.startswith(before) and len(after) > len(before), (before, after)


# ------------------------------------------------------------------ 9. refusal


def test_refusal_is_an_abstention(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script
) -> None:
    script.push(text(REFUSAL))

    answer = engine.ask("c", "What did Ken Loach eat for breakfast on the day he was expelled?")

    assert answer.abstained is True
    assert answer.mode == "llm"
    assert not answer.citations
    assert answer.answer == REFUSAL
    assert answer.notice is None
    assert len(server.requests) == 1


# ------------------------------------------------------------------ 10. follow-up condensing


def _first_turn(engine: AnswerEngine, script: Script) -> None:
    script.push(lambda request: f"{GROUPS_CLAIM} [{source_with(request, 'Socialist Appeal')}].")
    first = engine.ask("c", FIRST_QUESTION)
    assert first.mode == "llm", first
    assert first.standalone_question == FIRST_QUESTION


def test_follow_up_is_condensed_by_the_model(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    _first_turn(engine, script)
    condensed = "When were the four groups proscribed?"

    def reply(request: dict[str, Any]) -> str:
        return condensed if is_condense(request) else cited_claim(request)

    script.push(reply, reply)

    answer = engine.ask("c", FOLLOW_UP)

    assert answer.standalone_question == condensed
    assert answer.mode == "llm"
    assert answer.check == "passed"
    assert "July 20" in answer.answer
    assert_quotes_exact(answer, article)

    first, condense, final = server.requests
    assert not is_condense(first)
    assert is_condense(condense)
    assert not condense.get("stream")
    (message,) = condense["messages"]
    assert message["role"] == "user"
    assert message["content"].startswith(CONDENSE_PROMPT.split(".")[0])
    assert FIRST_QUESTION in message["content"]
    assert f"Follow-up: {FOLLOW_UP}" in message["content"]
    assert final["stream"] is True
    assert f"Question: {condensed}" in final["messages"][-1]["content"]
    assert FOLLOW_UP not in final["messages"][-1]["content"]
    assert [t.standalone for t in engine.memory.turns("c")] == [FIRST_QUESTION, condensed]


def test_follow_up_still_answered_when_condensing_fails(
    engine: AnswerEngine, server: ScriptedOpenAIServer, script: Script, article: Article
) -> None:
    _first_turn(engine, script)
    offline = f"{FIRST_QUESTION} {FOLLOW_UP}"  # the offline follow-up rule
    script.push(status(500), status(500), cited_claim)

    answer = engine.ask("c", FOLLOW_UP)

    assert answer.standalone_question == offline
    assert answer.mode == "llm"
    assert "July 20" in answer.answer
    assert_quotes_exact(answer, article)
    assert len(server.requests) == 4  # first turn, condense + retry, answer
    assert all(is_condense(r) for r in server.requests[1:3])
    assert f"Question: {offline}" in server.requests[3]["messages"][-1]["content"]
    assert server.pending == 0
    assert len(answer_requests(server)) == 2
