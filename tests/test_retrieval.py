"""BM25 as the bot loads it: the same hits as LlamaIndex's own loader, found faster."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.schema import TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from index.retrieval import build_bm25, load_bm25

# Many chunks hold "ferry"; a few hold "lighthouse"; none holds "zeppelin".
CHUNKS = [
    f"Ferry {n} left the harbour at {n % 12} o'clock with {n} passengers."
    if n % 40
    else f"The lighthouse keeper counted ferry {n} from the rocks."
    for n in range(400)
]


@pytest.fixture(scope="module")
def bm25_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bm25")
    nodes = [TextNode(text=text, id_=f"chunk-{n}") for n, text in enumerate(CHUNKS)]
    build_bm25(nodes).persist(str(folder))
    return folder


@pytest.mark.parametrize(
    "query",
    ["ferry passengers", "lighthouse keeper", "ferry 7 harbour", "zeppelin"],
)
def test_the_same_hits_and_scores_as_llamaindexs_loader(bm25_folder: Path, query: str) -> None:
    ours = load_bm25(bm25_folder).retrieve(query)
    reference = BM25Retriever.from_persist_dir(str(bm25_folder), mmap=True).retrieve(query)
    assert len(ours) == len(reference) == 8
    assert [h.score for h in ours] == [h.score for h in reference]
    # Chunks of equal score may come in another order (bm25s promises none among
    # equals), so the same chunks above the last score, and each with its own score.
    everything = BM25Retriever.from_persist_dir(str(bm25_folder), mmap=True)
    everything.similarity_top_k = len(CHUNKS)
    scores = {h.node.node_id: h.score for h in everything.retrieve(query)}
    last = reference[-1].score
    assert {h.node.node_id for h in ours if h.score > last} == {
        h.node.node_id for h in reference if h.score > last
    }
    assert all(scores[h.node.node_id] == h.score for h in ours)
