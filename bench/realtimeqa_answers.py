"""Do storybot's answers generalise beyond corpus/? A check on weekly RealTime QA news quizzes.

For each of the first --weeks quiz weeks of ../shared/corpora/realtimeqa-2024 (read in
place, never copied), the week's news is indexed and the week's questions are asked:
- week: the date in the question id (`20240105_3` -> 2024-01-05). The `date` field is
  the day one quiz was released and disagrees with its week in places (week 20240209
  is dated 2023/09/29), so it only widens the news window below.
- corpus: articles whose `published` date falls in the 8 days ending on the week's date
  (from 7 days before the week's earliest question date). Articles are chosen by date
  alone, not by content, so retrieval faces that week's real distractors. An article
  whose date does not parse would be added only if its text contains one of the week's
  answers (the README promises free text; the data says how often that happens). Over
  --max-articles, the most recent are kept. Each becomes Article(doc_id=url, title,
  text=clean_text(text)).
- questions: those whose answer appears in at least one indexed article's text. Matching
  here and in the judgement: case-insensitive, whole words, curly and straight quotes
  alike, quotes around the answer ignored. The answer choices are not shown to either
  system.
- storybot: `run_index` into a temporary store, `AnswerEngine` in extractive mode (no
  API key), one fresh conversation per question. Also shown: whether the answer is in
  the top_k chunks its retrieval hands to the answerer (the ceiling for extraction).
- baseline: `VectorStoreIndex` over `SentenceSplitter(chunk_size=128, chunk_overlap=20)`
  nodes of the same documents and the same embedding model instance; the top-1 chunk
  is its answer (it never abstains).

Reported per week and overall: the questions asked, how often each system's answer
contains the answer string, how often it abstained, and the median answer length.

    .venv/bin/python bench/realtimeqa_answers.py [--weeks 3] [--max-articles 300]
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # bm25s and LlamaIndex progress bars

import argparse
import datetime as dt
import gzip
import json
import logging
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.retrievers import BaseRetriever

from bot.engine import AnswerEngine
from bot.settings import BotSettings
from index.articles import Article
from index.chunking import article_documents
from index.cleaning import clean_text
from index.embeddings import LocalMiniLMEmbedding
from index.indexer import run_index
from index.retrieval import StoryIndex

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "corpora" / "realtimeqa-2024"
NEWS_DAYS_BEFORE = 7
BASELINE_CHUNK_SIZE, BASELINE_CHUNK_OVERLAP = 128, 20
SHOWN_CHARS = 90
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_AROUND_ANSWER = " \"'.,"


@dataclass(frozen=True)
class QuizQuestion:
    id: str
    week: dt.date  # from the id
    released: dt.date | None  # the `date` field
    question: str
    answer: str


@dataclass(frozen=True)
class NewsItem:
    url: str
    title: str
    published: dt.date | None
    text: str  # as stored, uncleaned


@dataclass
class Selection:
    """The corpus of one week and how it was chosen."""

    articles: list[Article]
    dated: int = 0
    fallback: int = 0
    dropped_by_cap: int = 0


@dataclass(frozen=True)
class Outcome:
    question: QuizQuestion
    ours_text: str
    ours_abstained: bool
    ours_correct: bool
    ours_retrieved: bool
    base_text: str
    base_correct: bool


@dataclass
class WeekResult:
    week: dt.date
    window: tuple[dt.date, dt.date]
    selection: Selection
    questions: int
    chunks: tuple[int, int]
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)


# --- data ---------------------------------------------------------------------------


def parse_date(value: str) -> dt.date | None:
    """'2024/01/05' or '2024-01-05' (anything else: None)."""
    try:
        return dt.date.fromisoformat(value.strip().replace("/", "-")[:10])
    except ValueError:
        return None


def load_questions(path: Path) -> list[QuizQuestion]:
    questions = []
    for line in path.read_text().splitlines():
        item = json.loads(line)
        week = dt.datetime.strptime(item["id"].split("_")[0], "%Y%m%d").date()
        questions.append(
            QuizQuestion(
                item["id"], week, parse_date(item["date"]), item["question"], item["answer"]
            )
        )
    return questions


def load_news(path: Path) -> list[NewsItem]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [
            NewsItem(a["url"], a["title"], parse_date(a.get("published") or ""), a["text"])
            for a in map(json.loads, lines)
        ]


def first_weeks(questions: list[QuizQuestion], n: int) -> list[tuple[dt.date, list[QuizQuestion]]]:
    weeks: dict[dt.date, list[QuizQuestion]] = defaultdict(list)
    for question in questions:
        weeks[question.week].append(question)
    return sorted(weeks.items())[:n]


def news_window(week: dt.date, questions: list[QuizQuestion]) -> tuple[dt.date, dt.date]:
    """From a week before the earliest question release to the week's date, inclusive."""
    earliest = min([q.released for q in questions if q.released] + [week])
    return earliest - dt.timedelta(days=NEWS_DAYS_BEFORE), week


# --- matching -----------------------------------------------------------------------


def answer_pattern(answer: str) -> re.Pattern[str]:
    """The answer as whole words, case-insensitive, quotes unified and stripped."""
    core = answer.translate(_QUOTES).strip(_AROUND_ANSWER)
    return re.compile(rf"(?<!\w){re.escape(core)}(?!\w)", re.IGNORECASE)


def contains(text: str, pattern: re.Pattern[str]) -> bool:
    return pattern.search(text.translate(_QUOTES)) is not None


# --- corpus selection ---------------------------------------------------------------


def to_article(item: NewsItem) -> Article | None:
    text = clean_text(item.text)
    if not text:
        return None
    return Article(
        doc_id=item.url,
        title=clean_text(item.title) or item.url,
        text=text,
        published=item.published.isoformat() if item.published else None,
        outlet=urlparse(item.url).netloc or None,
        url=item.url,
    )


def select_articles(
    news: list[NewsItem],
    window: tuple[dt.date, dt.date],
    questions: list[QuizQuestion],
    cap: int,
) -> Selection:
    """Dated articles of the window, most recent first; undated ones holding an answer."""
    start, end = window
    dated = [n for n in news if n.published and start <= n.published <= end]
    dated.sort(key=lambda n: (n.published, n.url), reverse=True)
    patterns = [answer_pattern(q.answer) for q in questions]
    undated = [
        n for n in news if n.published is None and any(contains(n.text, p) for p in patterns)
    ]
    chosen, seen = [], set()
    for item in dated + undated:
        if item.url not in seen:
            seen.add(item.url)
            chosen.append(item)
    articles = [a for a in map(to_article, chosen[:cap]) if a is not None]
    return Selection(articles, len(dated), len(undated), max(0, len(chosen) - cap))


def answerable(questions: list[QuizQuestion], articles: list[Article]) -> list[QuizQuestion]:
    """The questions whose answer some indexed article states."""
    texts = [a.text.translate(_QUOTES) for a in articles]
    return [q for q in questions if any(answer_pattern(q.answer).search(text) for text in texts)]


# --- the two systems ----------------------------------------------------------------


def build_engine(workdir: Path, articles: list[Article], model: BaseEmbedding) -> AnswerEngine:
    settings = BotSettings(
        store_dir=workdir / "store",
        corpus_dir=workdir / "corpus",  # unused: articles are handed over directly
        memory_path=workdir / "memory.sqlite3",
        openai_api_key=None,
    )
    if settings.llm_enabled:
        raise SystemExit("an OpenAI key leaked into the settings; this bench is extractive only")
    run_index(settings, articles)
    return AnswerEngine(settings, story_index=StoryIndex(settings, embed_model=model))


def build_baseline(articles: list[Article], model: BaseEmbedding) -> tuple[BaseRetriever, int]:
    splitter = SentenceSplitter(
        chunk_size=BASELINE_CHUNK_SIZE, chunk_overlap=BASELINE_CHUNK_OVERLAP
    )
    nodes = splitter.get_nodes_from_documents(article_documents(articles))
    index = VectorStoreIndex(nodes, embed_model=model)
    return index.as_retriever(similarity_top_k=1), len(nodes)


def ask_both(
    engine: AnswerEngine, retriever: BaseRetriever, question: QuizQuestion, n: int
) -> Outcome:
    pattern = answer_pattern(question.answer)
    answer = engine.ask(f"rtqa-{question.id}-{n}", question.question)
    chunks = engine.index.search(question.question, top_k=engine.settings.top_k)
    retrieved = any(contains(c.node.get_content(), pattern) for c in chunks)
    hits = retriever.retrieve(question.question)
    base_text = hits[0].node.get_content() if hits else ""
    return Outcome(
        question=question,
        ours_text=answer.answer,
        ours_abstained=answer.abstained,
        ours_correct=not answer.abstained and contains(answer.answer, pattern),
        ours_retrieved=retrieved,
        base_text=base_text,
        base_correct=contains(base_text, pattern),
    )


def run_week(
    week: dt.date,
    questions: list[QuizQuestion],
    news: list[NewsItem],
    cap: int,
    model: BaseEmbedding,
) -> WeekResult:
    started = time.perf_counter()
    window = news_window(week, questions)
    selection = select_articles(news, window, questions, cap)
    asked = answerable(questions, selection.articles)
    with tempfile.TemporaryDirectory(prefix="storybot-rtqa-") as workdir:
        engine = build_engine(Path(workdir), selection.articles, model)
        retriever, base_chunks = build_baseline(selection.articles, model)
        ours_chunks = engine.index.generation().collection.count()
        outcomes = [ask_both(engine, retriever, q, i) for i, q in enumerate(asked)]
        engine.memory.close()
    return WeekResult(
        week,
        window,
        selection,
        len(questions),
        (ours_chunks, base_chunks),
        time.perf_counter() - started,
        outcomes,
    )


# --- the report ---------------------------------------------------------------------


def pct(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.0%})" if total else "0/0"


def median_chars(texts: list[str]) -> int:
    return int(statistics.median(len(t) for t in texts)) if texts else 0


def summary_lines(outcomes: list[Outcome]) -> list[str]:
    """Both systems' figures over `outcomes`, one line each (storybot's in two)."""
    n = len(outcomes)
    correct = sum(o.ours_correct for o in outcomes)
    answered = [o.ours_text for o in outcomes if not o.ours_abstained]
    retrieved = sum(o.ours_retrieved for o in outcomes)
    lost = sum(o.ours_retrieved and o.ours_abstained for o in outcomes)
    return [
        f"storybot: answer contains it {pct(correct, n)}, "
        f"abstained {pct(n - len(answered), n)}, "
        f"right when it answered {pct(correct, len(answered))}, "
        f"median answer {median_chars(answered)} chars",
        f"          answer in its top-k chunks {pct(retrieved, n)}; "
        f"abstained although retrieved {lost}",
        f"baseline: answer contains it {pct(sum(o.base_correct for o in outcomes), n)}, "
        f"abstained {pct(0, n)}, "
        f"right when it answered {pct(sum(o.base_correct for o in outcomes), n)}, "
        f"median answer {median_chars([o.base_text for o in outcomes])} chars",
    ]


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_week(result: WeekResult) -> None:
    sel = result.selection
    start, end = result.window
    print(
        f"\nweek {result.week} (news {start} .. {end}): {len(sel.articles)} articles "
        f"({sel.dated} dated in window, {sel.fallback} undated fallback, "
        f"{sel.dropped_by_cap} dropped by cap); chunks storybot {result.chunks[0]}, "
        f"baseline {result.chunks[1]}; {result.seconds:.0f} s"
    )
    print(
        f"  {len(result.outcomes)} of {result.questions} questions have their answer "
        "in an indexed article"
    )
    for line in summary_lines(result.outcomes):
        print(f"  {line}")
    print("  S B R  question -> answer | storybot's answer")
    for o in result.outcomes:
        marks = " ".join(
            [
                "a" if o.ours_abstained else ("+" if o.ours_correct else "-"),
                "+" if o.base_correct else "-",
                "+" if o.ours_retrieved else "-",
            ]
        )
        print(f"  {marks}  {shorten(o.question.question, 70)} -> {o.question.answer}")
        print(f"           | {shorten(o.ours_text)}")


def quiet_logs() -> None:
    for name in ("bm25s", "chromadb", "httpx", "llama_index", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--max-articles", type=int, default=300)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    quiet_logs()
    started = time.perf_counter()

    questions = load_questions(args.data / "questions.jsonl")
    news = load_news(args.data / "articles.jsonl.gz")
    undated = sum(n.published is None for n in news)
    weeks = first_weeks(questions, args.weeks)
    print(
        f"RealTime QA 2024: {len(questions)} questions, {len(news)} articles "
        f"({undated} without a parseable date); first {len(weeks)} week(s)."
    )
    print(
        f"corpus per week: articles published from {NEWS_DAYS_BEFORE} days before the week's "
        f"earliest question date to the week's date (by date only, not by content), most "
        f"recent first up to {args.max_articles}; undated articles only if they contain one "
        "of the week's answers. Asked: questions whose answer (case-insensitive, whole words) "
        "is in an indexed article."
    )
    print(
        "marks: S storybot (+ contains answer, - not, a abstained), B baseline top-1 chunk, "
        f"R answer in storybot's top-k retrieved chunks; baseline = VectorStoreIndex over "
        f"SentenceSplitter({BASELINE_CHUNK_SIZE}, {BASELINE_CHUNK_OVERLAP}), top-1"
    )
    model = LocalMiniLMEmbedding()
    results = []
    for week, week_questions in weeks:
        result = run_week(week, week_questions, news, args.max_articles, model)
        print_week(result)
        results.append(result)
    outcomes = [o for r in results for o in r.outcomes]
    print(f"\noverall, {len(outcomes)} questions over {len(results)} week(s):")
    for line in summary_lines(outcomes):
        print(f"  {line}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average {load}")


if __name__ == "__main__":
    main()
