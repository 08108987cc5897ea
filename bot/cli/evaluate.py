"""`storybot eval FILE`: run a QA file through the engine (and the plain baseline), report.

The engine is the one the bot uses, configured by the settings (extractive, or
the LLM when a key is set), with its conversation memory in a throwaway SQLite
file so an evaluation never touches the user's. Exit status: 0 when every
threshold is met, 1 when one is missed, 2 when the file, corpus or store is wrong.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.evaluation.dataset import (
    Dialogue,
    DialogueResult,
    EvalFileError,
    EvalReport,
    check_thresholds,
    load_dialogues,
    render_failures,
    render_table,
    retrieval_rank,
    summarise,
)

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.retrievers import BaseRetriever

    from bot.answering.engine import AnswerEngine
    from index.articles import Article

EXIT_THRESHOLD_MISSED = 1
EXIT_BAD_INPUT = 2
# The plain LlamaIndex pipeline. SentenceSplitter(chunk_size=128) alone raises:
# its default chunk_overlap (200) is larger than the chunk, so the overlap is set.
BASELINE_CHUNK_SIZE, BASELINE_CHUNK_OVERLAP = 128, 20
BASELINE_NAME = "baseline"


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def run_storybot(
    engine: AnswerEngine, dialogues: Sequence[Dialogue], k: int | None, tag: str = "eval"
) -> list[DialogueResult]:
    """Each dialogue in a fresh conversation, turn by turn; the last answer is judged.

    With `k`, the last question as the engine resolved it is searched again for its
    top `k` chunks, to rank the first that holds the facts (hit@k, MRR).
    """
    results = []
    for i, dialogue in enumerate(dialogues):
        conversation = f"{tag}-{i}"
        latencies = []
        for turn in dialogue.turns:
            started = time.perf_counter()
            answer = engine.ask(conversation, turn)
            latencies.append(_ms_since(started))
        standalone = answer.standalone_question or dialogue.turns[-1]
        rank = None
        if k is not None and dialogue.in_scope:
            chunks = engine.index.search(standalone, top_k=k)
            texts = (hit.node.get_content() for hit in chunks)
            rank = retrieval_rank(texts, dialogue.facts, dialogue.mode)
        results.append(
            DialogueResult(
                dialogue,
                answer.answer,
                answer.abstained,
                tuple(c.quote for c in answer.citations),
                rank,
                ranked=k is not None,
                latencies_ms=tuple(latencies),
                standalone=standalone,
            )
        )
    return results


def build_baseline(
    articles: Sequence[Article], embed_model: BaseEmbedding, k: int = 1
) -> tuple[BaseRetriever, int]:
    """The plain pipeline: VectorStoreIndex over SentenceSplitter(128, 20) chunks; its size."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter

    from index.chunking import article_documents

    splitter = SentenceSplitter(
        chunk_size=BASELINE_CHUNK_SIZE, chunk_overlap=BASELINE_CHUNK_OVERLAP
    )
    nodes = splitter.get_nodes_from_documents(article_documents(articles))
    index = VectorStoreIndex(nodes, embed_model=embed_model)
    return index.as_retriever(similarity_top_k=k), len(nodes)


def run_baseline(
    retriever: BaseRetriever, dialogues: Sequence[Dialogue], ranked: bool = True
) -> list[DialogueResult]:
    """The top-1 chunk for each dialogue's last turn, asked alone, is its answer.

    It never abstains and cites nothing. The retriever's top k (its
    `similarity_top_k`) give the rank of the first chunk that holds the facts.
    """
    results = []
    for dialogue in dialogues:
        question = dialogue.turns[-1]
        started = time.perf_counter()
        hits = retriever.retrieve(question)
        latency = _ms_since(started)
        texts = [hit.node.get_content() for hit in hits]
        rank = retrieval_rank(texts, dialogue.facts, dialogue.mode) if dialogue.in_scope else None
        results.append(
            DialogueResult(
                dialogue,
                texts[0] if texts else "",
                abstained=False,
                rank=rank,
                ranked=ranked,
                latencies_ms=(latency,),
                standalone=question,
            )
        )
    return results


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _describe(dialogues: Sequence[Dialogue]) -> str:
    kinds = {kind: sum(d.kind == kind for d in dialogues) for kind in ("single", "followup", "out")}
    return (
        f"{len(dialogues)} dialogues ({kinds['single']} single-turn, "
        f"{kinds['followup']} follow-up, {kinds['out']} out of scope)"
    )


def eval_command(
    file: Annotated[Path, typer.Argument(help="QA file: JSONL, one dialogue a line.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The figures as one JSON object.")
    ] = False,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            "--min-accuracy", min=0.0, max=1.0, help="Exit 1 below this in-scope accuracy (0..1)."
        ),
    ] = None,
    min_abstention: Annotated[
        float | None,
        typer.Option(
            "--min-abstention",
            min=0.0,
            max=1.0,
            help="Exit 1 below this out-of-scope abstention rate (0..1).",
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="Folder of the Chroma index (env STORYBOT_STORE)."),
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option("--corpus", help="Articles for --baseline (env STORYBOT_CORPUS)."),
    ] = None,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline", help="Also run the plain LlamaIndex pipeline and show it beside."
        ),
    ] = False,
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            min=1,
            max=50,
            help="Retrieval depth of hit@k and MRR (default: the top_k setting).",
        ),
    ] = None,
) -> None:
    """Measure answer quality on a QA FILE: accuracy, citations, abstention, retrieval, latency."""
    try:
        dialogues = load_dialogues(file)
    except EvalFileError as error:
        raise _fail(str(error)) from None
    with tempfile.TemporaryDirectory(prefix="storybot-eval-") as scratch:
        reports, notes = _evaluate(dialogues, store, corpus, baseline, k, Path(scratch))
    ours = reports[0]
    thresholds = check_thresholds(ours, min_accuracy, min_abstention)
    if as_json:
        data = {"file": str(file), **ours.to_json()}
        if baseline:
            data["baseline"] = reports[1].to_json()
        data["thresholds"] = [t.to_json() for t in thresholds]
        data["passed"] = all(t.passed for t in thresholds)
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"storybot eval: {_describe(dialogues)} from {file}")
        typer.echo("".join(f"  {note}\n" for note in notes))
        typer.echo(render_table(reports))
        for report in reports:
            typer.echo("\n" + render_failures(report))
        if thresholds:
            typer.echo("\nthresholds:")
            for threshold in thresholds:
                typer.echo(f"  {threshold.describe()}")
    missed = [t for t in thresholds if not t.passed]
    for threshold in missed:
        typer.echo(f"error: quality gate missed: {threshold.describe()}", err=True)
    if missed:
        raise typer.Exit(EXIT_THRESHOLD_MISSED)


def _evaluate(
    dialogues: list[Dialogue],
    store: Path | None,
    corpus: Path | None,
    baseline: bool,
    k: int | None,
    scratch: Path,
) -> tuple[list[EvalReport], list[str]]:
    """storybot's report (and the baseline's), and notes on how they were run."""
    from pydantic import ValidationError

    from bot.answering.engine import AnswerEngine
    from bot.settings import BotSettings
    from index.articles import CorpusError, load_corpus
    from index.embeddings import EmbeddingUnavailable
    from index.store import StoreMismatchError

    overrides: dict[str, object] = {"memory_path": scratch / "memory.sqlite3"}
    if store is not None:
        overrides["store_dir"] = store
    if corpus is not None:
        overrides["corpus_dir"] = corpus
    try:
        settings = BotSettings(**overrides)
    except ValidationError as error:
        raise _fail(f"the settings are invalid: {error}") from None
    depth = k or settings.top_k
    articles: list[Article] = []
    if baseline:
        try:
            articles = load_corpus(settings.corpus_dir)
        except CorpusError as error:
            problems = "\n  ".join(error.problems)
            raise _fail(f"the baseline's corpus cannot be read:\n  {problems}") from None
    try:
        engine = AnswerEngine(settings)
        engine.index.generation()
    except (StoreMismatchError, EmbeddingUnavailable, LookupError) as error:
        raise _fail(str(error)) from None
    try:
        mode = f"llm ({settings.openai_model})" if engine.llm is not None else "extractive"
        notes = [f"store {settings.store_dir}; answers {mode}; retrieval k={depth}"]
        # Warm-up, untimed: loads the BM25 files, term statistics and first vectors.
        first = dialogues[0].turns[0]
        engine.answer_extractively(first, first)
        reports = [summarise(run_storybot(engine, dialogues, depth), depth)]
        if baseline:
            if {a["doc_id"] for a in engine.sources()} != {a.doc_id for a in articles}:
                typer.echo(
                    f"warning: the store's articles are not those of {settings.corpus_dir}; "
                    "the two systems answer from different corpora",
                    err=True,
                )
            retriever, chunks = build_baseline(articles, engine.index.embed_model, depth)
            retriever.retrieve(first)  # warm-up, untimed
            results = run_baseline(retriever, dialogues)
            reports.append(summarise(results, depth, BASELINE_NAME, cites=False))
            notes.append(
                f"baseline = VectorStoreIndex over SentenceSplitter({BASELINE_CHUNK_SIZE}, "
                f"{BASELINE_CHUNK_OVERLAP}) of {settings.corpus_dir} ({chunks} chunks), "
                "same embedding model, top-1 chunk as the answer, last turn alone"
            )
    finally:
        engine.memory.close()
    return reports, notes
