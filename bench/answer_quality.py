"""How good are storybot's answers on the dev dialogues, beside a plain LlamaIndex baseline?

Measured in one run, on corpus/ and the dev dialogues (tests/data/story_dev.jsonl):
- storybot: `run_index` into a temporary store, then `AnswerEngine` in extractive mode
  (no API key; memory in a temporary SQLite file). Every dialogue gets a fresh
  conversation id and all its turns are asked in order; the last answer is judged.
- baseline: `VectorStoreIndex` over `SentenceSplitter(chunk_size=128, chunk_overlap=20)`
  nodes of the same article documents, the same `LocalMiniLMEmbedding` instance; the
  top-1 retrieved chunk is the answer. It never abstains; a follow-up is asked as its
  last turn alone.

Judgement (the same for both, and the same as `storybot eval`: bot/evaluation.py, whose
runners in bot/eval_cli.py this bench drives): an in-scope answer is correct when it is
not an abstention and contains the expected facts (all of `expect_all`, or any of
`expect_any`; case-insensitive, whole words, curly and straight quotes alike). An
out-of-scope one is correct when it abstains. For storybot, the share of dialogues
whose facts are in the quotes it cites is reported too (of all of them; `storybot eval`'s
citation precision counts only the right answers). `storybot eval FILE --baseline`
gives these figures in one pass, with retrieval hit@k and MRR, but times only that pass.

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
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding

from bot.answering.engine import AnswerEngine
from bot.cli.evaluate import (
    BASELINE_CHUNK_OVERLAP,
    BASELINE_CHUNK_SIZE,
    build_baseline,
    run_baseline,
    run_storybot,
)
from bot.evaluation.dataset import (
    Dialogue,
    DialogueResult,
    EvalReport,
    Ratio,
    load_dialogues,
    percentile,
    render_failures,
    share,
    summarise,
)
from bot.settings import BotSettings
from index.articles import Article, load_corpus
from index.embeddings import LocalMiniLMEmbedding
from index.indexer import run_index
from index.retrieval import StoryIndex

ROOT = Path(__file__).resolve().parents[1]

# One pass over the dialogues: (dialogues, tag) -> the judged results.
Pass = Callable[[list[Dialogue], str], list[DialogueResult]]


@dataclass
class SystemResult:
    report: EvalReport  # of the judged pass
    latencies_ms: list[float]  # of the timed passes
    stable: bool  # every timed pass gave the judged pass's answers


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


def measure(
    name: str, run_pass: Pass, dialogues: list[Dialogue], repeats: int, k: int, cites: bool
) -> SystemResult:
    """Judge the first pass; time `repeats` more, checking they answer the same."""
    judged = run_pass(dialogues, "judged")
    timings: list[float] = []
    stable = True
    for n in range(repeats):
        again = run_pass(dialogues, f"timed{n}")
        timings.extend(ms for r in again for ms in r.latencies_ms)
        stable &= [r.answer for r in again] == [r.answer for r in judged]
    return SystemResult(summarise(judged, k, name, cites), timings, stable)


# --- the report ---------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One line of the table: the value the ratio uses, and how it is printed."""

    label: str
    value: float | None
    shown: str


def from_ratio(label: str, ratio: Ratio) -> Metric:
    return Metric(label, ratio.value, ratio.shown())


def metrics(result: SystemResult) -> list[Metric]:
    """The figures of one system, in report order."""
    report = result.report
    groups = {
        kind: [r for r in report.results if r.dialogue.kind == kind]
        for kind in ("single", "followup")
    }

    def quoted(kind: str) -> Metric:
        # Of all the group's dialogues (not only the right ones, as citation precision
        # counts), those whose facts are in a cited quote. The baseline's "quote" is its
        # answer, so its line would repeat the answer's.
        label = "  facts in a cited quote"
        if not report.cites:
            return Metric(label, None, "(= answer)")
        return from_ratio(label, share(groups[kind], lambda r: r.cited))

    lat = result.latencies_ms
    p50, p95 = percentile(lat, 50) or 0.0, percentile(lat, 95) or 0.0
    median_len = report.median_answer_chars or 0.0
    return [
        from_ratio("factual accuracy (single-turn)", report.single_accuracy),
        quoted("single"),
        from_ratio("follow-up accuracy", report.followup_accuracy),
        quoted("followup"),
        from_ratio("out-of-scope abstention", report.abstention),
        from_ratio("in-scope false abstention", report.false_abstention),
        Metric("median answer length (chars)", median_len, f"{median_len:.0f}"),
        Metric("warm latency p50 (ms)", p50, f"{p50:.1f} (n={len(lat)})"),
        Metric("warm latency p95 (ms)", p95, f"{p95:.1f} (n={len(lat)})"),
    ]


def ratio(ours: Metric, base: Metric) -> str:
    """storybot / baseline."""
    if ours.value is None or base.value is None:
        return "-"
    if base.value == 0:
        return "-" if ours.value == 0 else "inf"
    return f"{ours.value / base.value:.2f}x"


def print_table(ours: SystemResult, base: SystemResult) -> None:
    ours_m, base_m = metrics(ours), metrics(base)
    width = max(len(m.label) for m in ours_m) + 2
    print(f"\n{'':{width}}{'storybot':>18}  {'baseline':>18}  {'ratio':>6}")
    for a, b in zip(ours_m, base_m, strict=True):
        print(f"{a.label:{width}}{a.shown:>18}  {b.shown:>18}  {ratio(a, b):>6}")
    print(
        f"answers identical in every timed pass: storybot {'yes' if ours.stable else 'NO'}, "
        f"baseline {'yes' if base.stable else 'NO'}"
    )


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
        retriever, chunks = build_baseline(articles, model, k=1)
        print(f"baseline index: {chunks} chunks")
        k = engine.settings.top_k
        ours = measure(
            "storybot",
            lambda ds, tag: run_storybot(engine, ds, None, f"bench-{tag}"),
            dialogues,
            args.repeats,
            k,
            cites=True,
        )
        base = measure(
            f"baseline (SentenceSplitter({BASELINE_CHUNK_SIZE}, {BASELINE_CHUNK_OVERLAP}), top-1)",
            lambda ds, tag: run_baseline(retriever, ds, ranked=False),
            dialogues,
            args.repeats,
            k,
            cites=False,
        )
        engine.memory.close()
    print_table(ours, base)
    print(f"load average during the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for result in (ours, base):
        print("\n" + render_failures(result.report))


if __name__ == "__main__":
    main()
