"""The indexer, store and retriever through their Python API, on real Chroma and the real model."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openai
import pytest
from conftest import (
    chunk_ids_by_doc,
    closed_port,
    generation_names,
    live_chunks,
    live_generation,
    make_settings,
    pointer_metadata,
    write_corpus,
)
from constants import ALLOTMENT_URL, DEMO_QUESTION, LIGHTHOUSE_ID, STORY_ID
from filelock import FileLock

from index.articles import load_corpus
from index.embeddings import LOCAL_MODEL_NAME
from index.indexer import (
    MAX_LAYERS,
    IndexBusyError,
    IndexReport,
    plan_changes,
    preview,
    run_index,
)
from index.layers import layer_names
from index.local_model import RECIPE_VERSION
from index.retrieval import StoryIndex
from index.settings import IndexSettings
from index.store import (
    GENERATION_PREFIX,
    StoreMismatchError,
    StoryStore,
    connect,
    lock_path,
    open_store,
)

ALL_IDS = {STORY_ID, ALLOTMENT_URL, LIGHTHOUSE_ID}
LOCAL_ID = f"local:{LOCAL_MODEL_NAME}:int8-{RECIPE_VERSION}"

NEW_LIGHTHOUSE = """\
Lighthouse keeper rescues stranded kayakers off the Cornish coast

The two kayakers were pulled from the water by a trained grey seal called Nelson.

The coastguard praised the seal, which had been raised at the Gweek sanctuary.
"""


def index(settings):
    return run_index(settings, load_corpus(settings.corpus_dir))


def openai_settings(settings_for, port: int = 9):
    """The OpenAI backend pointed at a closed local port: nothing can leave the machine."""
    return settings_for(
        embed_backend="openai",
        openai_api_key="sk-test-not-a-real-key",
        openai_base_url=f"http://127.0.0.1:{port}/v1",
    )


def texts_of(hits) -> list[str]:
    return [hit.node.get_content() for hit in hits]


@dataclass
class Built:
    """A corpus indexed once for the tests that only read the store (or must not change it)."""

    settings: IndexSettings
    report: IndexReport
    chunks: list[dict]

    def assert_untouched(self) -> None:
        assert live_generation(self.settings).name == self.report.generation
        assert generation_names(self.settings) == {self.report.generation}
        assert live_chunks(self.settings) == self.chunks


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("built")
    settings = make_settings(write_corpus(root / "corpus"), root / "store")
    report = index(settings)
    return Built(settings, report, live_chunks(settings))


@pytest.fixture
def built_settings_for(built: Built):
    def build(**overrides) -> IndexSettings:
        return make_settings(built.settings.corpus_dir, built.settings.store_dir, **overrides)

    return build


# ---------------------------------------------------------------- first index


def test_first_index_adds_every_article_with_offsets_and_metadata(built: Built) -> None:
    settings, report = built.settings, built.report
    articles = {a.doc_id: a for a in load_corpus(settings.corpus_dir)}
    assert set(articles) == ALL_IDS

    assert {a.doc_id for a in report.plan.added} == ALL_IDS
    assert report.plan.updated == report.plan.removed == report.plan.unchanged == []
    live = live_generation(settings)
    assert live is not None
    assert report.generation == live.name
    assert live.name.startswith(GENERATION_PREFIX)
    assert live.embed_model == LOCAL_ID
    assert live.dimension == 384
    chunks = live_chunks(settings)
    assert len(live.layers) == 1
    assert report.chunks == len(chunks) == live.layers[0].count() > len(articles)
    assert generation_names(settings) == {live.name}

    spans: dict[str, list[tuple[int, int]]] = {doc_id: [] for doc_id in articles}
    for chunk in chunks:
        meta = chunk["meta"]
        article = articles[meta["doc_id"]]
        assert meta["title"] == article.title
        assert meta["doc_hash"] == article.content_hash
        assert meta["published"] == (article.published or "")
        assert meta["url"] == (article.url or "")
        start, end = chunk["node"]["start_char_idx"], chunk["node"]["end_char_idx"]
        assert 0 <= start < end <= len(article.text)
        assert article.text[start:end] == chunk["text"]
        assert len(chunk["embedding"]) == 384
        assert np.linalg.norm(chunk["embedding"]) == pytest.approx(1.0, abs=1e-4)
        spans[article.doc_id].append((start, end))

    # Every article is chunked, and every non-blank character is in some chunk.
    for doc_id, article in articles.items():
        assert spans[doc_id], f"{doc_id} has no chunks"
        covered = np.zeros(len(article.text), dtype=bool)
        for start, end in spans[doc_id]:
            covered[start:end] = True
        missed = "".join(c for c, hit in zip(article.text, covered, strict=True) if not hit)
        assert missed.strip() == "", f"{doc_id}: text not in any chunk: {missed.strip()[:80]!r}"
    assert len(spans[STORY_ID]) > 1

    allotment = next(c["meta"] for c in chunks if c["meta"]["doc_id"] == ALLOTMENT_URL)
    assert allotment["outlet"] == "Rotherham Gazette"
    assert allotment["published"] == "2019-06-03"
    catalog = open_store(settings).catalog(live)
    assert catalog.hashes() == {a.doc_id: a.content_hash for a in articles.values()}


def test_search_returns_ranked_passages_with_offsets(built: Built, embed_model) -> None:
    articles = {a.doc_id: a for a in load_corpus(built.settings.corpus_dir)}
    story = StoryIndex(built.settings, embed_model=embed_model)

    hits = story.search("Which far-left groups did Labour proscribe?", top_k=3)
    assert len(hits) == 3
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert len({hit.node.node_id for hit in hits}) == 3
    assert all(hit.node.metadata["doc_id"] == STORY_ID for hit in hits)
    assert any("proscribed four far-left groups" in t for t in texts_of(hits))
    for hit in hits:
        article = articles[hit.node.metadata["doc_id"]]
        start, end = hit.node.start_char_idx, hit.node.end_char_idx
        assert article.text[start:end] == hit.node.get_content()

    (top,) = story.search("Why did the allotment society ban tomatoes?", top_k=1)
    assert top.node.metadata["doc_id"] == ALLOTMENT_URL
    assert "banned tomato growing" in top.node.get_content()
    built.assert_untouched()


# ---------------------------------------------------------------- re-indexing


def test_noop_reindex_changes_nothing(settings) -> None:
    first = index(settings)
    ids_before = chunk_ids_by_doc(settings)

    again = index(settings)

    plan = again.plan
    assert (len(plan.added), len(plan.updated), len(plan.removed)) == (0, 0, 0)
    assert {a.doc_id for a in plan.unchanged} == ALL_IDS
    assert again.summary().startswith("0 added, 0 updated, 0 removed, 3 unchanged; ")
    assert again.generation == first.generation == live_generation(settings).name
    assert again.chunks == first.chunks
    assert generation_names(settings) == {first.generation}
    assert chunk_ids_by_doc(settings) == ids_before


def test_changed_article_is_updated_and_search_finds_the_new_text(
    settings, corpus: Path, embed_model
) -> None:
    first = index(settings)
    story = StoryIndex(settings, embed_model=embed_model)
    assert any(
        "rowed out in a storm" in t
        for t in texts_of(story.search("lighthouse keeper rowed out in a storm"))
    )
    ids_before = chunk_ids_by_doc(settings)

    (corpus / LIGHTHOUSE_ID).write_text(NEW_LIGHTHOUSE, encoding="utf-8")
    report = index(settings)

    assert [a.doc_id for a in report.plan.updated] == [LIGHTHOUSE_ID]
    assert report.plan.added == report.plan.removed == []
    assert {a.doc_id for a in report.plan.unchanged} == ALL_IDS - {LIGHTHOUSE_ID}
    assert report.generation != first.generation

    chunks = live_chunks(settings)
    assert not any("rowed out in a storm" in c["text"] for c in chunks)
    assert any("grey seal called Nelson" in c["text"] for c in chunks)
    new_hash = next(a for a in load_corpus(corpus) if a.doc_id == LIGHTHOUSE_ID).content_hash
    assert {c["meta"]["doc_hash"] for c in chunks if c["meta"]["doc_id"] == LIGHTHOUSE_ID} == {
        new_hash
    }

    hits = StoryIndex(settings, embed_model=embed_model).search(
        "Which grey seal saved the kayakers?"
    )
    assert "grey seal called Nelson" in hits[0].node.get_content()
    assert not any("rowed out in a storm" in t for t in texts_of(hits))

    ids_after = chunk_ids_by_doc(settings)
    for doc_id in ALL_IDS - {LIGHTHOUSE_ID}:
        assert ids_after[doc_id] == ids_before[doc_id]
    assert not ids_after[LIGHTHOUSE_ID] & ids_before[LIGHTHOUSE_ID]


def test_deleted_article_and_its_chunks_are_removed(settings, corpus: Path, embed_model) -> None:
    index(settings)
    ids_before = chunk_ids_by_doc(settings)
    assert ids_before[ALLOTMENT_URL]

    (corpus / "allotment.md").unlink()
    report = index(settings)

    assert report.plan.removed == [ALLOTMENT_URL]
    assert report.plan.added == report.plan.updated == []
    assert {a.doc_id for a in report.plan.unchanged} == ALL_IDS - {ALLOTMENT_URL}
    # Its chunks stay in the layer below, dead: no reader sees them.
    live = live_generation(settings)
    assert len(live.layers) == 2 and live.layers[1].count() == 0
    ids_after = chunk_ids_by_doc(settings)
    assert set(ids_after) == ALL_IDS - {ALLOTMENT_URL}
    for doc_id in ids_after:
        assert ids_after[doc_id] == ids_before[doc_id]
    assert report.chunks == sum(len(ids) for ids in ids_after.values())

    hits = StoryIndex(settings, embed_model=embed_model).search("allotment tomato ban", top_k=5)
    assert all(hit.node.metadata["doc_id"] != ALLOTMENT_URL for hit in hits)


def test_added_article_carries_the_others_over(settings, corpus: Path) -> None:
    index(settings)
    before = {c["id"]: c for c in live_chunks(settings)}

    (corpus / "new" / "bridge.md").parent.mkdir()
    (corpus / "new" / "bridge.md").write_text(
        "---\ntitle: Town votes to repaint the iron bridge green\n---\n"
        "Councillors voted nine to two to repaint the iron bridge in its original green.\n",
        encoding="utf-8",
    )
    report = index(settings)

    assert [a.doc_id for a in report.plan.added] == ["new/bridge.md"]
    assert report.plan.updated == report.plan.removed == []
    assert {a.doc_id for a in report.plan.unchanged} == ALL_IDS
    after = {c["id"]: c for c in live_chunks(settings)}
    # The old chunks are carried over as they were: same ids, text, metadata and vectors.
    assert set(before) <= set(after)
    for chunk_id, chunk in before.items():
        assert after[chunk_id]["text"] == chunk["text"]
        assert after[chunk_id]["meta"] == chunk["meta"]
        np.testing.assert_allclose(after[chunk_id]["embedding"], chunk["embedding"], atol=1e-6)
    new = [c for c in after.values() if c["meta"]["doc_id"] == "new/bridge.md"]
    assert new and set(after) == set(before) | {c["id"] for c in new}
    assert report.chunks == len(after)


def test_plan_changes_sorts_articles(corpus: Path) -> None:
    articles = load_corpus(corpus)
    story = next(a for a in articles if a.doc_id == STORY_ID)
    indexed = {a.doc_id: a.content_hash for a in articles if a.doc_id != LIGHTHOUSE_ID}
    indexed[STORY_ID] = "stale-hash"
    indexed["gone.md"] = "whatever"

    plan = plan_changes(articles, indexed)
    assert [a.doc_id for a in plan.added] == [LIGHTHOUSE_ID]
    assert plan.updated == [story]
    assert [a.doc_id for a in plan.unchanged] == [ALLOTMENT_URL]
    assert plan.removed == ["gone.md"]
    assert plan.has_work
    assert {a.doc_id for a in plan.to_embed} == {LIGHTHOUSE_ID, STORY_ID}
    assert [a.doc_id for a in plan.to_copy] == [ALLOTMENT_URL]

    same = plan_changes(articles, {a.doc_id: a.content_hash for a in articles})
    assert not same.has_work
    rebuild = plan_changes(articles, {a.doc_id: a.content_hash for a in articles}, rebuild=True)
    assert rebuild.has_work
    assert rebuild.to_copy == []
    assert {a.doc_id for a in rebuild.to_embed} == ALL_IDS


# ---------------------------------------------------------------- dry run


def test_dry_run_on_absent_store_writes_nothing(settings, store_dir: Path) -> None:
    assert not store_dir.exists()
    plan = preview(settings, load_corpus(settings.corpus_dir), rebuild=False)
    assert {a.doc_id for a in plan.added} == ALL_IDS
    assert plan.updated == plan.removed == plan.unchanged == []
    assert not store_dir.exists()


def test_dry_run_on_existing_store_writes_nothing(built: Built, tmp_path: Path) -> None:
    # The indexed corpus, edited in a copy: one changed, one deleted, one added.
    corpus = write_corpus(tmp_path / "edited")
    settings = make_settings(corpus, built.settings.store_dir)
    (corpus / LIGHTHOUSE_ID).write_text(NEW_LIGHTHOUSE, encoding="utf-8")
    (corpus / "allotment.md").unlink()
    (corpus / "extra.txt").write_text("Extra article\nWith a body.\n", encoding="utf-8")
    articles = load_corpus(corpus)

    plan = preview(settings, articles, rebuild=False)
    assert [a.doc_id for a in plan.added] == ["extra.txt"]
    assert [a.doc_id for a in plan.updated] == [LIGHTHOUSE_ID]
    assert plan.removed == [ALLOTMENT_URL]
    assert [a.doc_id for a in plan.unchanged] == [STORY_ID]

    rebuild_plan = preview(settings, articles, rebuild=True)
    assert rebuild_plan.rebuild and len(rebuild_plan.to_embed) == 3

    built.assert_untouched()


# ---------------------------------------------------------------- rebuild


def test_rebuild_re_embeds_everything_into_a_new_generation(settings) -> None:
    first = index(settings)
    before = live_chunks(settings)

    report = run_index(settings, load_corpus(settings.corpus_dir), rebuild=True)

    assert report.plan.rebuild
    assert {a.doc_id for a in report.plan.to_embed} == ALL_IDS
    assert report.generation != first.generation
    assert live_generation(settings).name == report.generation
    after = live_chunks(settings)
    assert report.chunks == len(after) == len(before) == first.chunks
    # Re-embedded, not copied: every chunk is a new node...
    assert not {c["id"] for c in before} & {c["id"] for c in after}
    # ...with the same text, offsets and (same model) the same vector.
    key = lambda c: (c["meta"]["doc_id"], c["node"]["start_char_idx"])  # noqa: E731
    old = {key(c): c for c in before}
    for chunk in after:
        match = old[key(chunk)]
        assert chunk["text"] == match["text"]
        np.testing.assert_allclose(chunk["embedding"], match["embedding"], atol=1e-4)
    assert pointer_metadata(settings)["previous"] == first.generation


# ---------------------------------------------------------------- model mismatch


def test_model_mismatch_is_refused_with_rebuild_hint(built: Built, built_settings_for) -> None:
    other = openai_settings(built_settings_for)
    articles = load_corpus(built.settings.corpus_dir)

    with pytest.raises(StoreMismatchError, match="storybot index --rebuild") as caught:
        StoryIndex(other).search(DEMO_QUESTION)
    assert LOCAL_ID in str(caught.value)
    assert "openai:text-embedding-3-small" in str(caught.value)

    with pytest.raises(StoreMismatchError, match="storybot index --rebuild"):
        run_index(other, articles)
    with pytest.raises(StoreMismatchError, match="storybot index --rebuild"):
        preview(other, articles, rebuild=False)

    built.assert_untouched()


def test_failed_build_keeps_the_live_store(built: Built, built_settings_for, embed_model) -> None:
    settings = built.settings
    broken = openai_settings(built_settings_for, port=closed_port())

    # Nothing listens on the port: the build fails while embedding, after its retries.
    with pytest.raises(openai.APIConnectionError):
        run_index(broken, load_corpus(settings.corpus_dir), rebuild=True)

    built.assert_untouched()
    hits = StoryIndex(settings, embed_model=embed_model).search("How old is Ken Loach?")
    assert hits and any("85" in t for t in texts_of(hits))
    # The lock was released: the next index runs (and has nothing to do).
    assert index(settings).generation == built.report.generation
    built.assert_untouched()


# ---------------------------------------------------------------- generations


def test_old_generations_are_dropped_after_switching(settings, corpus: Path) -> None:
    live_names = [index(settings).generation]
    # A generation left behind by a build that died half-way.
    orphan = StoryStore(connect(settings)).new_layer(LOCAL_ID, 384).name
    assert orphan in generation_names(settings)

    for round_ in range(MAX_LAYERS + 2):
        (corpus / "round.txt").write_text(f"Round {round_}\nBody of round {round_}.\n")
        report = index(settings)
        live_names.append(report.generation)
        names = generation_names(settings)
        live = live_generation(settings)
        assert report.generation == live.name
        pointer = pointer_metadata(settings)
        assert pointer["live"] == live_names[-1] and pointer["previous"] == live_names[-2]
        # Only the layers of the live and the previous generation are kept.
        assert names == set(layer_names(pointer, "live")) | set(layer_names(pointer, "previous"))
        assert layer_names(pointer, "live") == live.layer_names
        assert 1 < len(live.layers) <= MAX_LAYERS
        assert live_names[-2] in names
        assert orphan not in names
        # BM25 files go with their generation.
        bm25_root = open_store(settings).bm25_root
        if bm25_root is not None and bm25_root.exists():
            assert {p.name for p in bm25_root.iterdir()} <= names
    assert len(set(live_names)) == len(live_names)


def test_story_index_follows_the_pointer_across_reindexing(
    settings, corpus: Path, embed_model
) -> None:
    first = index(settings)
    story = StoryIndex(settings, embed_model=embed_model)
    assert story.generation().name == first.generation
    assert any(
        "rowed out in a storm" in t
        for t in texts_of(story.search("lighthouse keeper rowed out in a storm"))
    )

    (corpus / LIGHTHOUSE_ID).write_text(NEW_LIGHTHOUSE, encoding="utf-8")
    second = index(settings)
    hits = story.search("Which grey seal saved the kayakers?")
    assert "grey seal called Nelson" in hits[0].node.get_content()
    assert story.generation().name == second.generation

    # Two more switches, to new bases: the layers the reader first used are dropped by now.
    (corpus / "extra.txt").write_text("Extra\nAn extra article about a bridge.\n")
    index(settings)
    (corpus / "extra.txt").unlink()
    run_index(settings, load_corpus(corpus), rebuild=True)
    third = run_index(settings, load_corpus(corpus), rebuild=True)
    assert first.generation not in generation_names(settings)
    hits = story.search("Which grey seal saved the kayakers?")
    assert "grey seal called Nelson" in hits[0].node.get_content()
    assert story.generation().name == third.generation
    assert all(hit.node.metadata["doc_id"] != "extra.txt" for hit in hits)


# ---------------------------------------------------------------- one writer at a time


def test_second_writer_is_refused_while_the_lock_is_held(settings) -> None:
    articles = load_corpus(settings.corpus_dir)
    lock = FileLock(lock_path(settings))
    with lock, pytest.raises(IndexBusyError, match="another `storybot index`"):
        run_index(settings, articles)
    assert live_generation(settings) is None


def test_writer_waits_for_the_lock_when_asked(settings) -> None:
    articles = load_corpus(settings.corpus_dir)
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with FileLock(lock_path(settings)):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(IndexBusyError):
            run_index(settings, articles, wait_seconds=0.2)
        timer = threading.Timer(0.5, release.set)
        timer.start()
        started = time.perf_counter()
        report = run_index(settings, articles, wait_seconds=30)
        assert time.perf_counter() - started >= 0.4
    finally:
        release.set()
        thread.join(10)
    assert {a.doc_id for a in report.plan.added} == ALL_IDS
