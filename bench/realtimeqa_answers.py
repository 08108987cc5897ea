"""Do storybot's answers generalise beyond corpus/? A check on weekly RealTime QA news quizzes.

For each of the first --weeks quiz weeks of ../shared/corpora/realtimeqa-2024 (read in
place; the week's files below go to --write-dir, a temporary folder by default, never
into the repository), the week's news is indexed and the week's questions are asked:
- week: the date in the question id (`20240105_3` -> 2024-01-05). The `date` field is
  the day one quiz was released and disagrees with its week in places (week 20240209
  is dated 2023/09/29), so it only widens the news window below.
- corpus: articles whose `published` date falls in the 8 days ending on the week's date
  (from 7 days before the week's earliest question date). Articles are chosen by date
  alone, not by content, so retrieval faces that week's real distractors. An article
  whose date does not parse would be added only if its text contains one of the week's
  answers (the README promises free text; the data says how often that happens). Over
  --max-articles, the most recent are kept. Each is written as WEEK/corpus/NNN.md with
  front matter (title, published, outlet, url; its id is the url) and read back with
  `load_corpus`, as `storybot index --corpus WEEK/corpus` would.
- questions: those whose answer appears in at least one indexed article's text, written
  to WEEK/questions.jsonl in `storybot eval`'s format ({"id", "turns": [question],
  "expect_any": [answer]}) and read back with its loader. Matching, here and in the
  judgement, is bot/evaluation/judging.py's: case-insensitive, whole words, curly and straight
  quotes alike, quotes around the answer ignored. The answer choices are not shown to
  either system.
- storybot: `run_index` into a temporary store, `AnswerEngine` in extractive mode (no
  API key), one fresh conversation per question: `storybot eval`'s runner. Also shown:
  whether the answer is in the top_k chunks its retrieval hands to the answerer (the
  ceiling for extraction).
- baseline: `storybot eval --baseline`'s: `VectorStoreIndex` over
  `SentenceSplitter(chunk_size=128, chunk_overlap=20)` nodes of the same documents and
  the same embedding model instance; the top-1 chunk is its answer (it never abstains).

So `storybot index --corpus WEEK/corpus --store S` then
`storybot eval WEEK/questions.jsonl --store S --baseline --corpus WEEK/corpus` gives the
same accuracy figures for one week.

Reported per week and overall: the questions asked, how often each system's answer
contains the answer string, how often it abstained, and the median answer length.

    .venv/bin/python bench/realtimeqa_answers.py [--weeks 3] [--max-articles 300]
        [--write-dir DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # bm25s and LlamaIndex progress bars

import argparse
import datetime as dt
import gzip
import json
import re
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import yaml
from _common import quiet_logs
from llama_index.core.base.embeddings.base import BaseEmbedding

from bot.answering.engine import AnswerEngine
from bot.evaluation import (
    BASELINE_CHUNK_OVERLAP,
    BASELINE_CHUNK_SIZE,
    DialogueResult,
    build_baseline,
    fact_pattern,
    load_dialogues,
    normalise,
    run_baseline,
    run_storybot,
    share,
    shorten,
    summarise,
)
from bot.settings import BotSettings
from index.articles import Article, load_corpus
from index.cleaning import clean_text
from index.embeddings import LocalMiniLMEmbedding
from index.indexer import run_index
from index.retrieval import StoryIndex

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "corpora" / "realtimeqa-2024"
NEWS_DAYS_BEFORE = 7
SHOWN_CHARS = 90


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


@dataclass
class WeekResult:
    week: dt.date
    window: tuple[dt.date, dt.date]
    selection: Selection
    questions: int
    chunks: tuple[int, int]
    seconds: float
    folder: Path
    k: int  # storybot's top_k: the depth of "answer in its top-k chunks"
    ours: list[DialogueResult] = field(default_factory=list)
    base: list[DialogueResult] = field(default_factory=list)


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
    patterns = [fact_pattern(q.answer) for q in questions]
    undated = [
        n
        for n in news
        if n.published is None and any(p.search(normalise(n.text)) for p in patterns)
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
    texts = [normalise(a.text) for a in articles]
    return [q for q in questions if any(fact_pattern(q.answer).search(t) for t in texts)]


# --- the week's files: a corpus folder and a QA file, as `storybot eval` reads them --------


def file_name(n: int, url: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", urlparse(url).path.lower()).strip("-")[-60:].strip("-")
    return f"{n:03d}-{slug or 'article'}.md"


def write_corpus(corpus: Path, articles: list[Article]) -> None:
    """CORPUS/*.md, front matter and text, as `storybot index --corpus CORPUS` reads them."""
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    for n, article in enumerate(articles, 1):
        meta = {"title": article.title, "published": article.published, "url": article.url}
        meta["outlet"] = article.outlet
        front = yaml.safe_dump(
            {k: v for k, v in meta.items() if v}, allow_unicode=True, sort_keys=False, width=1000
        )
        path = corpus / file_name(n, article.url or article.doc_id)
        path.write_text(f"---\n{front}---\n\n{article.text}\n", encoding="utf-8")


def write_week(folder: Path, articles: list[Article], questions: list[QuizQuestion]) -> None:
    """FOLDER/corpus/*.md (front matter + text) and FOLDER/questions.jsonl (eval format)."""
    write_corpus(folder / "corpus", articles)
    lines = [
        json.dumps(
            {"id": q.id, "turns": [q.question], "expect_any": [q.answer]}, ensure_ascii=False
        )
        for q in questions
    ]
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- the two systems ----------------------------------------------------------------


def build_engine(workdir: Path, articles: list[Article], model: BaseEmbedding) -> AnswerEngine:
    settings = BotSettings(
        store_dir=workdir / "store",
        corpus_dir=workdir / "corpus",
        memory_path=workdir / "memory.sqlite3",
        openai_api_key=None,
    )
    if settings.llm_enabled:
        raise SystemExit("an OpenAI key leaked into the settings; this bench is extractive only")
    run_index(settings, articles)
    return AnswerEngine.from_settings(settings, story_index=StoryIndex(settings, embed_model=model))


def run_week(
    week: dt.date,
    questions: list[QuizQuestion],
    news: list[NewsItem],
    cap: int,
    model: BaseEmbedding,
    folder: Path,
) -> WeekResult:
    started = time.perf_counter()
    window = news_window(week, questions)
    selection = select_articles(news, window, questions, cap)
    write_week(folder, selection.articles, answerable(questions, selection.articles))
    articles = load_corpus(folder / "corpus")
    dialogues = load_dialogues(folder / "questions.jsonl")
    with tempfile.TemporaryDirectory(prefix="storybot-rtqa-") as workdir:
        engine = build_engine(Path(workdir), articles, model)
        k = engine.top_k
        retriever, base_chunks = build_baseline(articles, model, k)
        ours_chunks = engine.index.store.catalog(engine.index.generation()).chunks()
        ours = run_storybot(engine, dialogues, k, tag=f"rtqa-{week}")
        base = run_baseline(retriever, dialogues)
        engine.memory.close()
    return WeekResult(
        week,
        window,
        selection,
        len(questions),
        (ours_chunks, base_chunks),
        time.perf_counter() - started,
        folder,
        k,
        ours,
        base,
    )


# --- the report ---------------------------------------------------------------------


def summary_lines(ours: list[DialogueResult], base: list[DialogueResult], k: int) -> list[str]:
    """Both systems' figures, two lines each."""
    lines = []
    for name, results in (("storybot", ours), ("baseline", base)):
        report = summarise(results, k, name)
        answered = [r for r in results if not r.abstained]
        median = int(report.median_answer_chars or 0)
        lines.append(
            f"{name}: answer contains it {report.accuracy.shown()}, "
            f"abstained {report.false_abstention.shown()}, "
            f"right when it answered {share(answered, lambda r: r.correct).shown()}, "
            f"median answer {median} chars"
        )
        lost = sum(r.rank is not None and r.abstained for r in results)
        lines.append(
            f"          answer in its top-k chunks {report.hit_at_k.shown()}"
            + (f"; abstained although retrieved {lost}" if name == "storybot" else "")
        )
    return lines


def print_week(result: WeekResult, kept: bool) -> None:
    sel = result.selection
    start, end = result.window
    print(
        f"\nweek {result.week} (news {start} .. {end}): {len(sel.articles)} articles "
        f"({sel.dated} dated in window, {sel.fallback} undated fallback, "
        f"{sel.dropped_by_cap} dropped by cap); chunks storybot {result.chunks[0]}, "
        f"baseline {result.chunks[1]}; {result.seconds:.0f} s"
        + (f"; files in {result.folder}" if kept else "")
    )
    print(
        f"  {len(result.ours)} of {result.questions} questions have their answer "
        "in an indexed article"
    )
    for line in summary_lines(result.ours, result.base, result.k):
        print(f"  {line}")
    print("  S B R  question -> answer | storybot's answer")
    for ours, base in zip(result.ours, result.base, strict=True):
        marks = " ".join(
            [
                "a" if ours.abstained else ("+" if ours.correct else "-"),
                "+" if base.correct else "-",
                "+" if ours.rank is not None else "-",
            ]
        )
        question = ours.dialogue
        print(f"  {marks}  {shorten(question.turns[0], 70)} -> {question.facts[0]}")
        print(f"           | {shorten(ours.answer, SHOWN_CHARS)}")


def outside_repo(path: Path) -> Path:
    """`path`, refused when it lies inside the repository (the data must not enter it)."""
    resolved = path.resolve()
    if resolved == ROOT or ROOT in resolved.parents:
        raise SystemExit(f"--write-dir {path} is inside the repository; choose a folder outside")
    return resolved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("--max-articles", type=int, default=300)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument(
        "--write-dir",
        type=Path,
        default=None,
        help="keep each week's corpus/ and questions.jsonl here (default: a temporary folder)",
    )
    args = parser.parse_args()
    quiet_logs()
    started = time.perf_counter()
    keep = args.write_dir is not None
    write_dir = (
        outside_repo(args.write_dir) if keep else Path(tempfile.mkdtemp(prefix="storybot-rtqa-"))
    )

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
    try:
        for week, week_questions in weeks:
            folder = write_dir / week.isoformat()
            result = run_week(week, week_questions, news, args.max_articles, model, folder)
            print_week(result, keep)
            results.append(result)
    finally:
        if not keep:
            shutil.rmtree(write_dir, ignore_errors=True)
    ours = [r for week in results for r in week.ours]
    base = [r for week in results for r in week.base]
    print(f"\noverall, {len(ours)} questions over {len(results)} week(s):")
    for line in summary_lines(ours, base, results[0].k if results else 1):
        print(f"  {line}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average {load}")


if __name__ == "__main__":
    main()
