"""Indexing in batches: many small batches build the same generation and the same BM25
index as one, with LlamaIndex's own `BM25Retriever.from_defaults` as the reference."""

from __future__ import annotations

import pytest
from conftest import live_generation, make_settings, write_corpus
from llama_index.retrievers.bm25 import BM25Retriever
from llama_index.vector_stores.chroma import ChromaVectorStore

import index.streaming as streaming
from index.articles import load_corpus
from index.indexer import run_index
from index.retrieval import build_bm25
from index.store import open_store

QUERIES = ["tomato blight", "Labour proscribed groups July", "lighthouse keeper storm", "Loach"]


def test_small_batches_and_pages_give_the_reference_bm25(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "ARTICLES_PER_BATCH", 1)
    monkeypatch.setattr(streaming, "COPY_ARTICLES_PER_BATCH", 1)
    monkeypatch.setattr(streaming, "PAGE_CHUNKS", 7)
    corpus = write_corpus(tmp_path / "corpus")
    settings = make_settings(corpus, tmp_path / "store")
    run_index(settings, load_corpus(corpus))
    (corpus / "allotment.md").write_text(
        (corpus / "allotment.md").read_text().replace("one season", "two seasons")
    )
    report = run_index(settings, load_corpus(corpus))  # one embedded into a second layer
    assert report.plan.summary() == "0 added, 1 updated, 0 removed, 2 unchanged"
    # Everything re-embedded into a new base, in batches of one article.
    report = run_index(settings, load_corpus(corpus), rebuild=True)

    generation = live_generation(settings)
    assert generation is not None and len(generation.layers) == 1
    assert_reference_bm25(settings, generation.layers[0])


def test_each_layer_has_the_reference_bm25_of_its_chunks(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "PAGE_CHUNKS", 5)
    corpus = write_corpus(tmp_path / "corpus")
    settings = make_settings(corpus, tmp_path / "store")
    run_index(settings, load_corpus(corpus))
    (corpus / "allotment.md").write_text(
        (corpus / "allotment.md").read_text().replace("one season", "two seasons")
    )
    run_index(settings, load_corpus(corpus))
    generation = live_generation(settings)
    assert generation is not None and len(generation.layers) == 2
    for layer in generation.layers:
        assert_reference_bm25(settings, layer)


def assert_reference_bm25(settings, layer) -> None:
    nodes = ChromaVectorStore(chroma_collection=layer).get_nodes(node_ids=None)
    reference = build_bm25(nodes)
    bm25_dir = open_store(settings).bm25_dir(layer.name)
    assert bm25_dir is not None and bm25_dir.is_dir()
    streamed = BM25Retriever.from_persist_dir(str(bm25_dir), mmap=True)  # as the bot loads it
    for query in QUERIES:
        expected = [(h.node.node_id, round(h.score or 0, 5)) for h in reference.retrieve(query)]
        got = [(h.node.node_id, round(h.score or 0, 5)) for h in streamed.retrieve(query)]
        assert got == expected, query
        texts = {h.node.get_content() for h in streamed.retrieve(query)}
        assert texts == {h.node.get_content() for h in reference.retrieve(query)}
