"""Where does retrieval put the chunk that answers each dev question?

For every single-turn, in-scope dialogue of the dev file, the rank of the first
retrieved chunk that contains the expected fact(s), for:
- a sweep of chunk sizes and overlaps (the numbers that chose our defaults),
- storybot's configured chunking, through the real store (`run_index` + `StoryIndex`),
- LlamaIndex defaults: `SentenceSplitter()` + `VectorStoreIndex`, similarity_top_k=2,
- a plain vector baseline with 128-token chunks.
All use the same local embedding model, so only chunking differs.

    .venv/bin/python bench/retrieval_ranks.py [--dev tests/data/story_dev.jsonl]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from llama_index.core import VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter

from bot.evaluation import Dialogue, load_dialogues, retrieval_rank
from index.articles import load_corpus
from index.chunking import article_documents, make_splitter
from index.embeddings import LocalMiniLMEmbedding
from index.indexer import run_index
from index.retrieval import StoryIndex
from index.settings import IndexSettings

ROOT = Path(__file__).resolve().parents[1]
DEPTH = 10


def load_questions(path: Path) -> list[Dialogue]:
    """The single-turn, in-scope dialogues of a QA file (retrieval is judged on those)."""
    return [d for d in load_dialogues(path) if d.kind == "single"]


def first_rank(texts: list[str], dialogue: Dialogue) -> int | None:
    """`storybot eval`'s rank: the first chunk that holds the facts as the eval judges them."""
    return retrieval_rank(texts, dialogue.facts, dialogue.mode)


def summarise(ranks: list[int | None], depth: int, mean_chars: float) -> str:
    """Hit rates, MRR, and how much text a reader wades through before the fact.

    Bigger chunks always contain more facts, so rank alone favours them; the
    characters read up to the answering chunk (a miss costs `depth` chunks)
    is what a short, quotable passage is after.
    """
    hits = [r for r in ranks if r is not None and r <= depth]
    mrr = sum(1 / r for r in hits) / len(ranks)
    at1 = sum(r == 1 for r in hits)
    at3 = sum(r <= 3 for r in hits)
    read = statistics.mean((r if r and r <= depth else depth) * mean_chars for r in ranks)
    return (
        f"hit@1 {at1:2d}/{len(ranks)}  hit@3 {at3:2d}/{len(ranks)}  MRR {mrr:.3f}  "
        f"chunk {mean_chars:4.0f} chars  read {read:5.0f} chars"
    )


def in_memory_ranks(documents, splitter, model, questions, top_k) -> tuple[list, float]:
    nodes = splitter.get_nodes_from_documents(documents)
    index = VectorStoreIndex(nodes, embed_model=model)
    retriever = index.as_retriever(similarity_top_k=top_k)
    ranks = [
        first_rank([h.node.get_content() for h in retriever.retrieve(d.turns[0])], d)
        for d in questions
    ]
    return ranks, statistics.mean(len(n.get_content()) for n in nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=ROOT / "tests/data/story_dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = parser.parse_args()

    questions = load_questions(args.dev)
    documents = article_documents(load_corpus(args.corpus))
    model = LocalMiniLMEmbedding()
    print(f"{len(questions)} questions, {len(documents)} article(s), rank of the answering chunk\n")

    print(f"chunk sweep (our splitter, vector top-{DEPTH}):")
    for size in (64, 96, 128, 160, 192, 256):
        for overlap in (0, 16, 32):
            if overlap >= size // 2:
                continue
            ranks, mean_chars = in_memory_ranks(
                documents, make_splitter(size, overlap), model, questions, DEPTH
            )
            print(f"  size {size:3d} overlap {overlap:2d}: {summarise(ranks, DEPTH, mean_chars)}")

    with tempfile.TemporaryDirectory() as store:
        settings = IndexSettings(corpus_dir=args.corpus, store_dir=Path(store))
        run_index(settings, load_corpus(args.corpus))
        story_index = StoryIndex(settings, embed_model=model)
        vector, vector_chars = store_ranks(story_index, questions, hybrid=False)
        hybrid, hybrid_chars = store_ranks(story_index, questions, hybrid=True)
    default_ranks, default_chars = in_memory_ranks(
        documents, SentenceSplitter(), model, questions, 2
    )
    plain_ranks, plain_chars = in_memory_ranks(
        documents, SentenceSplitter(chunk_size=128, chunk_overlap=20), model, questions, DEPTH
    )

    print("\nper question (rank of first chunk with the fact; - = not retrieved):")
    print(f"  {'hybrid':>6} {'vector':>6} {'default':>7} {'128tok':>6}  question")
    rows = zip(questions, hybrid, vector, default_ranks, plain_ranks, strict=True)
    for dialogue, a, b, c, d in rows:
        print(f"  {a or '-':>6} {b or '-':>6} {c or '-':>7} {d or '-':>6}  {dialogue.turns[0]}")
    print()
    ours = f"storybot {settings.chunk_size}/{settings.chunk_overlap}"
    print(
        f"{ours} hybrid (BM25 + vector, RRF), top-{DEPTH}: {summarise(hybrid, DEPTH, hybrid_chars)}"
    )
    print(f"{ours} vector only, top-{DEPTH}:            {summarise(vector, DEPTH, vector_chars)}")
    print(
        "LlamaIndex defaults, SentenceSplitter(), top-2:  "
        f"{summarise(default_ranks, 2, default_chars)}"
    )
    print(
        f"plain vector, SentenceSplitter(128, 20), top-{DEPTH}: "
        f"{summarise(plain_ranks, DEPTH, plain_chars)}"
    )


def store_ranks(
    story_index: StoryIndex, questions: list[Dialogue], hybrid: bool
) -> tuple[list[int | None], float]:
    """Ranks through the real store, and the mean length of the chunks it returned."""
    ranks: list[int | None] = []
    lengths: list[int] = []
    for dialogue in questions:
        hits = story_index.search(dialogue.turns[0], DEPTH, hybrid)
        texts = [h.node.get_content() for h in hits]
        ranks.append(first_rank(texts, dialogue))
        lengths.extend(len(t) for t in texts)
    return ranks, statistics.mean(lengths)


if __name__ == "__main__":
    main()
