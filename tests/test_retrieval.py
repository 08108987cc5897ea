"""BM25 as the bot loads it: the same hits as LlamaIndex's own loader, found faster."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest
from llama_index.core.schema import TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from index.retrieval import MatchingTopK, build_bm25, load_bm25

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


@pytest.mark.parametrize("query", [["lighthous", "keeper"], ["ferri", "passeng"], ["zeppelin"]])
def test_the_top_k_of_the_matching_chunks_is_bm25s_own(bm25_folder: Path, query) -> None:
    # Called directly, so the test fails if bm25s stops calling the method it overrides.
    loaded = load_bm25(bm25_folder).bm25
    assert isinstance(loaded, MatchingTopK)
    mask = np.ones(len(CHUNKS), dtype=np.float32)
    mask[::3] = 0  # chunks a weight mask leaves out stay out
    for weights in (None, mask):
        ours = loaded._get_top_k_results(query, k=5, sorted=True, weight_mask=weights)
        theirs = bm25s.BM25._get_top_k_results(loaded, query, k=5, sorted=True, weight_mask=weights)
        assert list(ours[0]) == list(theirs[0])
        everything = loaded.get_scores(query, weight_mask=weights)
        assert [everything[i] for i in ours[1]] == list(ours[0])
