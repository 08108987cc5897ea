"""How good are storybot's answers on the dev dialogues, beside a plain LlamaIndex baseline?

Measured in one run, on corpus/ and the dev dialogues (tests/data/story_dev.jsonl):
- storybot: `run_index` into a temporary store, then `AnswerEngine` in extractive mode
  (no API key; memory in a temporary SQLite file). Every dialogue gets a fresh
  conversation id and all its turns are asked in order; the last answer is judged.
- baseline: `VectorStoreIndex` over `SentenceSplitter(chunk_size=128, chunk_overlap=20)`
  nodes of the same article documents, the same `LocalMiniLMEmbedding` instance; the
  top-1 retrieved chunk is the answer. It never abstains; a follow-up is asked as its
  last turn alone.

Judgement (the same for both): an in-scope answer is correct when it is not an
abstention and contains the expected facts (all of `expect_all`, or any of
`expect_any`; case-insensitive substrings). An out-of-scope one is correct when it
abstains. For storybot, whether the facts are in the quotes it cites is reported too.

Reported: factual accuracy (single-turn in-scope), follow-up accuracy, out-of-scope
abstention rate, in-scope false-abstention rate, median answer length (characters, of
answers that are not abstentions), and warm latency: after the judged pass (which is
also the warm-up), every question asked is timed over --repeats more passes; p50 and
p95 in ms. storybot's timing is `engine.ask` (all turns, memory writes included); the
baseline's is `retriever.retrieve` of the one question it asks per dialogue.

    .venv/bin/python bench/answer_quality.py [--dev tests/data/story_dev.jsonl] [--repeats 5]
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # bm25s and LlamaIndex progress bars

import argparse
import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.retrievers import BaseRetriever

from bot.engine import AnswerEngine
from bot.settings import BotSettings
from index.articles import Article, load_corpus
from index.chunking import article_documents
from index.embeddings import LocalMiniLMEmbedding
from index.indexer import run_index
from index.retrieval import StoryIndex

ROOT = Path(__file__).resolve().parents[1]
BASELINE_CHUNK_SIZE, BASELINE_CHUNK_OVERLAP = 128, 20
SHOWN_ANSWER_CHARS = 150


@dataclass(frozen=True)
class Dialogue:
    """One dev item: the turns asked, and what the last answer must contain (or not)."""

    turns: list[str]
    expect_all: list[str] = field(default_factory=list)
    expect_any: list[str] = field(default_factory=list)
    in_scope: bool = True

    @property
    def kind(self) -> str:
        """'single', 'followup' (in-scope, more than one turn) or 'out' (out of scope)."""
        if not self.in_scope:
            return "out"
        return "single" if len(self.turns) == 1 else "followup"

    def expected(self) -> str:
        if not self.in_scope:
            return "(abstain)"
        if self.expect_all:
            return " AND ".join(self.expect_all)
        return " OR ".join(self.expect_any)


@dataclass(frozen=True)
class Reply:
    """The last answer of a dialogue, as the judge sees it."""

    text: str
    abstained: bool
    quotes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    dialogue: Dialogue
    reply: Reply
    correct: bool
    fact_in_quote: bool


@dataclass
class SystemResult:
    name: str
    verdicts: list[Verdict]
    latencies_ms: list[float]
    stable: bool  # every timed pass gave the judged pass's answers


def load_dialogues(path: Path) -> list[Dialogue]:
    """The dev file: one JSON object a line."""
    dialogues = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        dialogues.append(
            Dialogue(
                turns=list(item["turns"]),
                expect_all=list(item.get("expect_all") or []),
                expect_any=list(item.get("expect_any") or []),
                in_scope=bool(item.get("in_scope", True)),
            )
        )
    return dialogues


def has_facts(dialogue: Dialogue, text: str) -> bool:
    """All of expect_all, or any of expect_any, as case-insensitive substrings of `text`."""
    text = text.lower()
    if dialogue.expect_all:
        return all(fact.lower() in text for fact in dialogue.expect_all)
    return any(fact.lower() in text for fact in dialogue.expect_any)


def judge(dialogue: Dialogue, reply: Reply) -> Verdict:
    if not dialogue.in_scope:
        return Verdict(dialogue, reply, reply.abstained, False)
    correct = not reply.abstained and has_facts(dialogue, reply.text)
    in_quote = not reply.abstained and has_facts(dialogue, "\n".join(reply.quotes))
    return Verdict(dialogue, reply, correct, in_quote)


# --- the two systems ----------------------------------------------------------------


def build_engine(workdir: Path, corpus: Path, articles: list[Article], model: BaseEmbedding):
    """storybot as shipped, extractive mode, on a fresh store and memory."""
    settings = BotSettings(
        store_dir=workdir / "store",
        corpus_dir=corpus,
        memory_path=workdir / "memory.sqlite3",
        openai_api_key=None,
    )
    if settings.llm_enabled:
        raise SystemExit("an OpenAI key leaked into the settings; this bench is extractive only")
    report = run_index(settings, articles)
    print(f"storybot index: {report.summary()}")
    return AnswerEngine(settings, story_index=StoryIndex(settings, embed_model=model))


def build_baseline(articles: list[Article], model: BaseEmbedding) -> BaseRetriever:
    """Plain LlamaIndex: 128-token SentenceSplitter chunks, vector top-1."""
    splitter = SentenceSplitter(
        chunk_size=BASELINE_CHUNK_SIZE, chunk_overlap=BASELINE_CHUNK_OVERLAP
    )
    nodes = splitter.get_nodes_from_documents(article_documents(articles))
    print(f"baseline index: {len(nodes)} chunks")
    return VectorStoreIndex(nodes, embed_model=model).as_retriever(similarity_top_k=1)


def storybot_pass(
    engine: AnswerEngine, dialogues: list[Dialogue], tag: str, timings: list[float] | None
) -> list[Reply]:
    """Every dialogue in a fresh conversation; the last answer of each."""
    replies = []
    for i, dialogue in enumerate(dialogues):
        conversation = f"bench-{tag}-{i}"
        for turn in dialogue.turns:
            started = time.perf_counter()
            answer = engine.ask(conversation, turn)
            if timings is not None:
                timings.append((time.perf_counter() - started) * 1000)
        replies.append(Reply(answer.answer, answer.abstained, [c.quote for c in answer.citations]))
    return replies


def baseline_pass(
    retriever: BaseRetriever, dialogues: list[Dialogue], tag: str, timings: list[float] | None
) -> list[Reply]:
    """The top-1 chunk for each dialogue's last turn, asked alone."""
    del tag  # the baseline has no conversations
    replies = []
    for dialogue in dialogues:
        started = time.perf_counter()
        hits = retriever.retrieve(dialogue.turns[-1])
        if timings is not None:
            timings.append((time.perf_counter() - started) * 1000)
        text = hits[0].node.get_content() if hits else ""
        replies.append(Reply(text, abstained=False, quotes=[text]))
    return replies


def measure(
    name: str,
    run_pass: Callable[[list[Dialogue], str, list[float] | None], list[Reply]],
    dialogues: list[Dialogue],
    repeats: int,
) -> SystemResult:
    """Judge the first pass; time `repeats` more, checking they answer the same."""
    replies = run_pass(dialogues, "judged", None)
    verdicts = [judge(d, r) for d, r in zip(dialogues, replies, strict=True)]
    timings: list[float] = []
    stable = True
    for n in range(repeats):
        again = run_pass(dialogues, f"timed{n}", timings)
        stable &= [r.text for r in again] == [r.text for r in replies]
    return SystemResult(name, verdicts, timings, stable)


# --- the report ---------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One line of the table: the value the ratio uses, and how it is printed."""

    label: str
    value: float | None
    shown: str


def share(label: str, verdicts: list[Verdict], test: Callable[[Verdict], bool]) -> Metric:
    """The share of `verdicts` that pass `test`."""
    hits, total = sum(test(v) for v in verdicts), len(verdicts)
    if not total:
        return Metric(label, None, "n/a (0/0)")
    return Metric(label, hits / total, f"{hits / total:.1%} ({hits}/{total})")


def metrics(result: SystemResult, baseline: bool) -> list[Metric]:
    """The figures of one system, in report order."""
    kinds = ("single", "followup", "out")
    by_kind = {k: [v for v in result.verdicts if v.dialogue.kind == k] for k in kinds}
    in_scope = by_kind["single"] + by_kind["followup"]
    quoted = (lambda v: v.fact_in_quote) if not baseline else None
    rows = [
        ("factual accuracy (single-turn)", by_kind["single"], lambda v: v.correct),
        ("  facts in a cited quote", by_kind["single"], quoted),
        ("follow-up accuracy", by_kind["followup"], lambda v: v.correct),
        ("  facts in a cited quote", by_kind["followup"], quoted),
        ("out-of-scope abstention", by_kind["out"], lambda v: v.reply.abstained),
        ("in-scope false abstention", in_scope, lambda v: v.reply.abstained),
    ]
    # The baseline's "quote" is its answer, so its quote lines would repeat the answer's.
    out = [
        Metric(label, None, "(= answer)") if test is None else share(label, group, test)
        for label, group, test in rows
    ]
    answered = [len(v.reply.text) for v in result.verdicts if not v.reply.abstained]
    median_len = statistics.median(answered) if answered else 0.0
    lat = result.latencies_ms
    p50, p95 = np.percentile(lat, [50, 95]) if lat else (0.0, 0.0)
    return [
        *out,
        Metric("median answer length (chars)", median_len, f"{median_len:.0f}"),
        Metric("warm latency p50 (ms)", float(p50), f"{p50:.1f} (n={len(lat)})"),
        Metric("warm latency p95 (ms)", float(p95), f"{p95:.1f} (n={len(lat)})"),
    ]


def ratio(ours: Metric, base: Metric) -> str:
    """storybot / baseline."""
    if ours.value is None or base.value is None:
        return "-"
    if base.value == 0:
        return "-" if ours.value == 0 else "inf"
    return f"{ours.value / base.value:.2f}x"


def print_table(ours: SystemResult, base: SystemResult) -> None:
    ours_m, base_m = metrics(ours, baseline=False), metrics(base, baseline=True)
    width = max(len(m.label) for m in ours_m) + 2
    print(f"\n{'':{width}}{'storybot':>18}  {'baseline':>18}  {'ratio':>6}")
    for a, b in zip(ours_m, base_m, strict=True):
        print(f"{a.label:{width}}{a.shown:>18}  {b.shown:>18}  {ratio(a, b):>6}")
    print(
        f"answers identical in every timed pass: storybot {'yes' if ours.stable else 'NO'}, "
        f"baseline {'yes' if base.stable else 'NO'}"
    )


def shorten(text: str, limit: int = SHOWN_ANSWER_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_failures(result: SystemResult) -> None:
    wrong = [v for v in result.verdicts if not v.correct]
    print(f"\n{result.name} got {len(wrong)}/{len(result.verdicts)} wrong:")
    for v in wrong:
        print(f"  [{v.dialogue.kind}] {' → '.join(v.dialogue.turns)}")
        print(f"      expected: {v.dialogue.expected()}")
        said = "(abstained) " if v.reply.abstained else ""
        print(f"      answered: {said}{shorten(v.reply.text)}")


def quiet_logs() -> None:
    for name in ("bm25s", "chromadb", "httpx", "llama_index", "onnxruntime"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=ROOT / "tests/data/story_dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes after warm-up")
    args = parser.parse_args()
    quiet_logs()

    dialogues = load_dialogues(args.dev)
    articles = load_corpus(args.corpus)
    kinds = {k: sum(d.kind == k for d in dialogues) for k in ("single", "followup", "out")}
    print(
        f"{len(dialogues)} dialogues ({kinds['single']} single-turn, {kinds['followup']} "
        f"follow-up, {kinds['out']} out of scope), {len(articles)} article(s); "
        f"1 judged/warm-up pass + {args.repeats} timed passes"
    )
    model = LocalMiniLMEmbedding()
    with tempfile.TemporaryDirectory(prefix="storybot-bench-") as workdir:
        engine = build_engine(Path(workdir), args.corpus, articles, model)
        retriever = build_baseline(articles, model)
        ours = measure(
            "storybot",
            lambda ds, tag, t: storybot_pass(engine, ds, tag, t),
            dialogues,
            args.repeats,
        )
        base = measure(
            f"baseline (SentenceSplitter({BASELINE_CHUNK_SIZE}, {BASELINE_CHUNK_OVERLAP}), top-1)",
            lambda ds, tag, t: baseline_pass(retriever, ds, tag, t),
            dialogues,
            args.repeats,
        )
        engine.memory.close()
    print_table(ours, base)
    print(f"load average during the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print_failures(ours)
    print_failures(base)


if __name__ == "__main__":
    main()
