"""Running a QA file: through storybot's engine, and through the plain LlamaIndex baseline.

The engine is the one the bot uses, configured by the settings (extractive, or
the LLM when a key is set), with its conversation memory in a throwaway file so
an evaluation never touches the user's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.evaluation.dataset import Dialogue
from bot.evaluation.judging import DialogueResult, retrieval_rank
from bot.evaluation.report import EvalReport, summarise

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.retrievers import BaseRetriever

    from bot.answering.engine import AnswerEngine
    from bot.settings import BotSettings
    from index.articles import Article

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
                confidence=answer.confidence,
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


@dataclass
class Evaluation:
    """storybot's report (and the baseline's), notes on how they were run, warnings."""

    reports: list[EvalReport]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def evaluate(
    dialogues: list[Dialogue],
    settings: BotSettings,
    baseline: bool,
    k: int | None,
    repeats: int = 0,
) -> Evaluation:
    """Run `dialogues` through the engine the settings describe (and the baseline).

    The first pass is judged; `repeats` more passes are timed, warm, for latency, and
    must give the same answers. Raises StorybotError subclasses for a bad corpus or
    store; the caller shows them.
    """
    from bot.answering.engine import AnswerEngine
    from index.articles import load_corpus

    depth = k or settings.top_k
    articles = load_corpus(settings.corpus_dir) if baseline else []
    engine = AnswerEngine.from_settings(settings)
    try:
        engine.index.generation()
        mode = f"llm ({settings.openai_model})" if engine.mode == "llm" else "extractive"
        result = Evaluation(
            [], [f"store {settings.store_dir}; answers {mode}; retrieval k={depth}"]
        )
        # Warm-up, untimed: loads the BM25 files, term statistics and first vectors.
        first = dialogues[0].turns[0]
        engine.answer_extractively(first, first)
        judged = run_storybot(engine, dialogues, depth)
        timed = [run_storybot(engine, dialogues, None, f"timed{n}") for n in range(repeats)]
        _check_stable("storybot", judged, timed, result.warnings)
        result.reports.append(summarise(judged, depth, timed=[r for p in timed for r in p]))
        if baseline:
            if {a["doc_id"] for a in engine.sources()} != {a.doc_id for a in articles}:
                result.warnings.append(
                    f"the store's articles are not those of {settings.corpus_dir}; "
                    "the two systems answer from different corpora"
                )
            retriever, chunks = build_baseline(articles, engine.index.embed_model, depth)
            retriever.retrieve(first)  # warm-up, untimed
            results = run_baseline(retriever, dialogues)
            again = [run_baseline(retriever, dialogues) for _ in range(repeats)]
            _check_stable(BASELINE_NAME, results, again, result.warnings)
            flat = [r for p in again for r in p]
            result.reports.append(summarise(results, depth, BASELINE_NAME, False, flat))
            result.notes.append(
                f"baseline = VectorStoreIndex over SentenceSplitter({BASELINE_CHUNK_SIZE}, "
                f"{BASELINE_CHUNK_OVERLAP}) of {settings.corpus_dir} ({chunks} chunks), "
                "same embedding model, top-1 chunk as the answer, last turn alone"
            )
    finally:
        engine.memory.close()
    if repeats:
        result.notes.append(f"latency from {repeats} timed pass(es) after the judged one")
    return result


def _check_stable(
    name: str,
    judged: list[DialogueResult],
    timed: list[list[DialogueResult]],
    warnings: list[str],
) -> None:
    """A timed pass must answer as the judged one did, or its latency is not comparable."""
    answers = [r.answer for r in judged]
    if any([r.answer for r in again] != answers for again in timed):
        warnings.append(f"{name} answered differently in a timed pass than in the judged one")
