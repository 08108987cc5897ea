"""Layers: a re-index writes only what changed, readers never see dead chunks, and the
stack stays short (index/layers.py, index/indexer.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import live_chunks, live_generation, make_settings, write_corpus
from constants import ALLOTMENT_URL, LIGHTHOUSE_ID

import index.indexer as indexer
from index.articles import load_corpus
from index.indexer import MAX_LAYERS, run_index
from index.retrieval import StoryIndex
from index.store import open_store

OLD_FACT = "rowed out in a storm"
NEW_LIGHTHOUSE = (
    "Lighthouse keeper rescues stranded kayakers off the Cornish coast\n\n"
    "The two kayakers were pulled from the water by a trained grey seal called Nelson.\n"
)


def index(settings):
    return run_index(settings, load_corpus(settings.corpus_dir))


def add_article(corpus: Path, name: str, sentence: str) -> None:
    (corpus / f"{name}.txt").write_text(f"{name.title()} news\n\n{sentence}\n", encoding="utf-8")


def texts(hits) -> list[str]:
    return [hit.node.get_content() for hit in hits]


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(write_corpus(tmp_path / "corpus"), tmp_path / "store")


def test_an_added_article_is_one_small_layer_over_the_untouched_base(settings, embed_model) -> None:
    first = index(settings)
    base = live_generation(settings).layers[0]
    base_chunks = base.count()
    story = StoryIndex(settings, embed_model=embed_model)
    story.search("warm up")
    assert "bridge.txt" not in {a["doc_id"] for a in story.articles()}

    add_article(settings.corpus_dir, "bridge", "Councillors voted to repaint the iron bridge.")
    report = index(settings)

    live = live_generation(settings)
    assert [layer.name for layer in live.layers] == [first.generation, report.generation]
    assert live.layers[0].count() == base_chunks  # nothing copied, nothing rewritten
    assert live.layers[1].count() == 1
    assert report.chunks == base_chunks + 1
    manifest = open_store(settings).catalog(live).manifests[1]
    assert set(manifest.articles) == {"bridge.txt"} and manifest.removed == []
    # A running reader follows, searching both layers in hybrid mode.
    hits = story.search("Who voted to repaint the iron bridge?", top_k=3)
    assert "repaint the iron bridge" in hits[0].node.get_content()
    assert {a["doc_id"] for a in story.articles()} >= {"bridge.txt", ALLOTMENT_URL}


def test_readers_never_see_an_updated_or_removed_articles_old_chunks(settings, embed_model) -> None:
    index(settings)
    corpus = settings.corpus_dir
    (corpus / LIGHTHOUSE_ID).write_text(NEW_LIGHTHOUSE, encoding="utf-8")
    (corpus / "allotment.md").unlink()
    index(settings)

    live = live_generation(settings)
    assert len(live.layers) == 2
    # The old chunks are still in the base layer...
    base_texts = live.layers[0].get(include=["documents"])["documents"]
    assert any(OLD_FACT in text for text in base_texts)
    # ...but dead: neither search nor the live view returns them.
    story = StoryIndex(settings, embed_model=embed_model)
    for hybrid in (True, False):
        hits = story.search("lighthouse keeper rowed out in a storm", top_k=8, hybrid=hybrid)
        assert hits and not any(OLD_FACT in t for t in texts(hits))
        hits = story.search("allotment tomato ban", top_k=8, hybrid=hybrid)
        assert all(hit.node.metadata["doc_id"] != ALLOTMENT_URL for hit in hits)
    assert "grey seal called Nelson" in texts(story.search("Which seal saved the kayakers?"))[0]
    chunks = live_chunks(settings)
    assert not any(OLD_FACT in c["text"] for c in chunks)
    assert {c["meta"]["doc_id"] for c in chunks} == {LIGHTHOUSE_ID, "ken-loach-expelled.md"}
    assert {a["doc_id"] for a in story.articles()} == {LIGHTHOUSE_ID, "ken-loach-expelled.md"}


def test_upper_layers_fold_into_one_when_the_stack_is_full(settings) -> None:
    index(settings)
    base = live_generation(settings).layers[0].name
    seen_before: dict[str, dict] = {}
    for number in range(MAX_LAYERS):
        seen_before = {c["id"]: c for c in live_chunks(settings)}
        add_article(settings.corpus_dir, f"round{number}", f"Round {number} of the council vote.")
        index(settings)
        live = live_generation(settings)
        assert len(live.layers) <= MAX_LAYERS
        assert live.layers[0].name == base  # the base is never copied for a small change

    # The last re-index folded the upper layers: base + one layer with every later article.
    assert len(live.layers) == 2
    after = {c["id"]: c for c in live_chunks(settings)}
    assert set(seen_before) < set(after)
    for chunk_id, chunk in seen_before.items():  # carried over as they were
        assert after[chunk_id]["text"] == chunk["text"]
        np.testing.assert_allclose(after[chunk_id]["embedding"], chunk["embedding"], atol=1e-6)
    docs = {c["meta"]["doc_id"] for c in after.values()}
    assert {f"round{n}.txt" for n in range(MAX_LAYERS)} <= docs


def test_a_base_outgrown_by_its_layers_is_compacted_without_dead_chunks(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    index(settings)
    corpus = settings.corpus_dir
    for path in corpus.rglob("*"):
        if path.is_file() and path.name != LIGHTHOUSE_ID:
            path.unlink()
    index(settings)  # the base is now mostly dead: the story and the allotment are gone
    live = live_generation(settings)
    assert len(live.layers) == 1, "a mostly dead base is compacted at once"
    assert {m["doc_id"] for m in live.layers[0].get(include=["metadatas"])["metadatas"]} == {
        LIGHTHOUSE_ID
    }

    # Layers that outgrow their base make the next re-index write a new base.
    monkeypatch.setattr(indexer, "MAX_LAYERS", 10)
    stacks = []
    for number in range(3):
        add_article(corpus, f"long{number}", " ".join(["The council met again."] * 60))
        index(settings)
        stacks.append(len(live_generation(settings).layers))
    # long0 is a layer over the small base; with long1 the layers outweigh the base.
    assert stacks == [2, 1, 2]
    base = live_generation(settings).layers[0].get(include=["metadatas"])["metadatas"]
    assert {m["doc_id"] for m in base} == {LIGHTHOUSE_ID, "long0.txt", "long1.txt"}
    assert {c["meta"]["doc_id"] for c in live_chunks(settings)} == {
        LIGHTHOUSE_ID,
        "long0.txt",
        "long1.txt",
        "long2.txt",
    }
