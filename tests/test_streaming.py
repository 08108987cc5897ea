"""Indexing in batches: many small batches build the same generation and the same BM25
index as one, with LlamaIndex's own `BM25Retriever.from_defaults` as the reference, and
the same term statistics as counting the layer's chunks."""

from __future__ import annotations

import sys
import threading

import chromadb.errors
import pytest
from conftest import live_generation, make_settings, write_corpus
from constants import ALLOTMENT_URL, LIGHTHOUSE_ID
from llama_index.retrievers.bm25 import BM25Retriever
from llama_index.vector_stores.chroma import ChromaVectorStore

import index.indexer as indexer
import index.streaming as streaming
from index.articles import load_corpus
from index.embeddings import build_embed_model, embed_model_id
from index.indexer import run_index
from index.retrieval import build_bm25
from index.store import open_store
from index.terms import TermStats

QUERIES = ["tomato blight", "Labour proscribed groups July", "lighthouse keeper storm", "Loach"]


def test_every_layer_built_in_batches_has_the_reference_bm25_and_term_stats(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "ARTICLES_PER_BATCH", 1)
    monkeypatch.setattr(streaming, "COPY_ARTICLES_PER_BATCH", 1)
    monkeypatch.setattr(indexer, "MAX_LAYERS", 2)
    corpus = write_corpus(tmp_path / "corpus")
    settings = make_settings(corpus, tmp_path / "store")

    def change(name: str) -> None:
        path = corpus / name
        path.write_text(path.read_text().replace(" the ", " this ", 1))

    run_index(settings, load_corpus(corpus))  # embedded in batches of one article
    change("allotment.md")
    report = run_index(settings, load_corpus(corpus))  # embedded into a second layer
    assert report.plan.summary() == "0 added, 1 updated, 0 removed, 2 unchanged"
    assert len(live_generation(settings).layers) == 2
    change(LIGHTHOUSE_ID)
    run_index(settings, load_corpus(corpus))  # folds: the allotment copied, one at a time
    generation = live_generation(settings)
    assert generation is not None and len(generation.layers) == 2
    upper = {m["doc_id"] for m in generation.layers[1].get(include=["metadatas"])["metadatas"]}
    assert upper == {ALLOTMENT_URL, LIGHTHOUSE_ID}
    for layer in generation.layers:
        assert_reference_bm25(settings, layer)
        assert_counted_term_stats(settings, layer)

    run_index(settings, load_corpus(corpus), rebuild=True)
    generation = live_generation(settings)
    assert generation is not None and len(generation.layers) == 1
    assert_reference_bm25(settings, generation.layers[0])
    assert_counted_term_stats(settings, generation.layers[0])


def assert_counted_term_stats(settings, layer) -> None:
    stored = TermStats.read(open_store(settings).bm25_dir(layer.name))
    reference = TermStats(layer.get(include=["documents"])["documents"])
    assert stored is not None and reference.n == layer.count()
    assert (stored.n, stored.df) == (reference.n, reference.df)


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


def test_a_chunking_failure_on_a_later_batch_stops_the_run_with_its_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunking runs on a helper thread beside the embedding; its error reaches the
    caller as raised, after the batches before it were written, and nothing of the
    helper is left running."""
    monkeypatch.setattr(streaming, "ARTICLES_PER_BATCH", 1)
    settings = make_settings(write_corpus(tmp_path / "corpus"), tmp_path / "store")
    articles = load_corpus(settings.corpus_dir)
    embed_model = build_embed_model(settings)
    chunked: list[str] = []

    def chunk(batch):
        if len(chunked) == 2:
            raise ValueError("the third article cannot be split")
        chunked.append(batch[0].doc_id)
        return indexer.chunk_articles(settings, batch)

    created: list = []
    interval = sys.getswitchinterval()
    with pytest.raises(ValueError, match="the third article cannot be split"):
        streaming.embed_into(
            open_store(settings),
            embed_model_id(settings),
            0,
            articles,
            chunk,
            lambda nodes, report: indexer.embed_chunks(embed_model, nodes, report),
            streaming.LayerFiles(),
            on_created=created.append,
        )
    assert chunked == [a.doc_id for a in articles[:2]]
    (layer,) = created  # the caller drops it (indexer._build_generation)
    written = {m["doc_id"] for m in layer.get(include=["metadatas"])["metadatas"]}
    assert articles[0].doc_id in written and written <= set(chunked)
    assert not [t for t in threading.enumerate() if t.name.startswith("index-writer")]
    assert sys.getswitchinterval() == interval


def test_a_write_refused_by_chroma_stops_the_run_with_chromas_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes run on the helper thread: Chroma refusing the second batch (vectors of
    another length than the layer's) stops the run with Chroma's own error, and
    the layer holds only the batch before it."""
    monkeypatch.setattr(streaming, "ARTICLES_PER_BATCH", 1)
    settings = make_settings(write_corpus(tmp_path / "corpus"), tmp_path / "store")
    articles = load_corpus(settings.corpus_dir)
    embed_model = build_embed_model(settings)
    embedded: list[str] = []

    def embed(nodes, report):
        indexer.embed_chunks(embed_model, nodes, report)
        embedded.append(nodes[0].metadata["doc_id"])
        if len(embedded) == 2:
            for node in nodes:
                node.embedding = node.get_embedding()[:100]

    created: list = []
    with pytest.raises(chromadb.errors.InvalidArgumentError, match="dimension"):
        streaming.embed_into(
            open_store(settings),
            embed_model_id(settings),
            0,
            articles,
            lambda batch: indexer.chunk_articles(settings, batch),
            embed,
            streaming.LayerFiles(),
            on_created=created.append,
        )
    assert embedded[:2] == [a.doc_id for a in articles[:2]]
    (layer,) = created
    written = {m["doc_id"] for m in layer.get(include=["metadatas"])["metadatas"]}
    assert written == {articles[0].doc_id}
    assert not [t for t in threading.enumerate() if t.name.startswith("index-writer")]
