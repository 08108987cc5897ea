"""Term statistics: the indexer stores each layer's document frequencies as it writes the
layer, and they are the ones counted from the layer's chunks (index/terms.py); a layer
written without them is counted at start-up, as before, until the next `storybot index`
saves them."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
from conftest import live_chunks, live_generation, make_settings, write_corpus
from constants import LIGHTHOUSE_ID, STORY_ID

import index.indexer as indexer
from bot.answering.engine import AnswerEngine
from bot.settings import BotSettings
from index.articles import load_corpus
from index.indexer import run_index
from index.retrieval import StoryIndex
from index.store import open_store
from index.terms import TERM_STATS_FILE, TERMS_VERSION, TermStats


def index(settings):
    return run_index(settings, load_corpus(settings.corpus_dir))


def add_article(corpus: Path, name: str, sentence: str) -> None:
    (corpus / f"{name}.txt").write_text(f"{name.title()} news\n\n{sentence}\n", encoding="utf-8")


def texts(layer) -> list[str]:
    return layer.get(include=["documents"])["documents"]


def counted(layer) -> tuple[int, dict[str, int]]:
    """What the bot counted before the indexer stored it: every chunk text of the layer."""
    stats = TermStats(texts(layer))
    return stats.n, dict(stats.df)


def stored(settings, layer) -> tuple[int, dict[str, int]]:
    """The statistics the indexer wrote for the layer, read as the bot reads them."""
    stats = TermStats.read(open_store(settings).local_bm25(layer.name))
    assert stats is not None, f"layer {layer.name} has no term statistics"
    return stats.n, dict(stats.df)


def layer_docs(layer) -> set[str]:
    return {m["doc_id"] for m in layer.get(include=["metadatas"])["metadatas"]}


@pytest.fixture
def settings(tmp_path: Path):
    return make_settings(write_corpus(tmp_path / "corpus"), tmp_path / "store")


def test_every_new_layer_stores_the_term_stats_of_its_chunks(
    settings, embed_model, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(indexer, "MAX_LAYERS", 2)
    corpus = settings.corpus_dir
    index(settings)  # a fresh base
    add_article(corpus, "bridge", "Councillors voted to repaint the iron bridge.")
    index(settings)  # a layer over it
    live = live_generation(settings)
    assert len(live.layers) == 2
    for layer in live.layers:
        assert stored(settings, layer) == counted(layer)
    assert stored(settings, live.layers[1])[0] == 1

    add_article(corpus, "quay", "The harbour quay reopened after the storm repairs.")
    index(settings)  # the stack is full: the bridge is copied into the new layer
    live = live_generation(settings)
    assert len(live.layers) == 2 and layer_docs(live.layers[1]) == {"bridge.txt", "quay.txt"}
    assert stored(settings, live.layers[1]) == counted(live.layers[1])

    for name in ("allotment.md", STORY_ID):
        (corpus / name).unlink()
    index(settings)  # the base is mostly dead: every live chunk is copied into a new base
    live = live_generation(settings)
    assert len(live.layers) == 1
    assert layer_docs(live.layers[0]) == {LIGHTHOUSE_ID, "bridge.txt", "quay.txt"}
    n, df = stored(settings, live.layers[0])
    assert (n, df) == counted(live.layers[0])
    assert n == len(live_chunks(settings))  # no dead chunk counted

    # The engine adds its layers' statistics up, as it did counting their chunks.
    add_article(corpus, "ferry", "The ferry timetable changes in May.")
    index(settings)
    bot = make_settings(corpus, settings.store_dir, BotSettings, memory_path=Path("memory.db"))
    engine = AnswerEngine.from_settings(bot, StoryIndex(bot, embed_model=embed_model))
    with caplog.at_level(logging.INFO, logger="index.store"):
        stats = engine.term_stats()
    assert "counting its chunks" not in caplog.text  # the stored statistics were used
    every_chunk = TermStats(t for layer in live_generation(settings).layers for t in texts(layer))
    assert (stats.n, stats.df) == (every_chunk.n, every_chunk.df)
    assert stats.n == n + 1


def test_a_layer_without_stored_term_stats_is_counted_from_its_chunks(
    settings, caplog: pytest.LogCaptureFixture
) -> None:
    index(settings)
    store = open_store(settings)
    layer = live_generation(settings).layers[0]
    folder = store.local_bm25(layer.name)
    assert folder is not None
    expected = counted(layer)

    (folder / TERM_STATS_FILE).unlink()  # a layer indexed before the statistics were stored
    assert TermStats.read(folder) is None
    with caplog.at_level(logging.INFO, logger="index.store"):
        stats = store.term_stats(layer)
    assert "counting its chunks" in caplog.text
    assert (stats.n, dict(stats.df)) == expected

    # Counts made by another reading of terms are not used either.
    stale = {"version": 0, "chunks": 1, "df": {"loach": 1}}
    (folder / TERM_STATS_FILE).write_bytes(gzip.compress(json.dumps(stale).encode()))
    stats = store.term_stats(layer)
    assert (stats.n, dict(stats.df)) == expected

    # Nor a damaged file (cut short, or not the JSON it should be): named, then counted.
    whole = {"version": TERMS_VERSION, "chunks": 1, "df": {"loach": 1}}
    good = gzip.compress(json.dumps(whole).encode())
    for damaged in (good[: len(good) // 2], gzip.compress(b"[1, 2]"), b"not gzip"):
        (folder / TERM_STATS_FILE).write_bytes(damaged)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="index.terms"):
            stats = store.term_stats(layer)
        assert TERM_STATS_FILE in caplog.text
        assert (stats.n, dict(stats.df)) == expected


def test_the_next_index_run_saves_the_term_stats_a_layer_lacks(
    settings, embed_model, caplog: pytest.LogCaptureFixture
) -> None:
    index(settings)
    layer = live_generation(settings).layers[0]
    folder = open_store(settings).local_bm25(layer.name)
    assert folder is not None
    (folder / TERM_STATS_FILE).unlink()  # a store indexed before the statistics were stored

    with caplog.at_level(logging.WARNING, logger="index.store"):
        report = index(settings)  # nothing changed in the corpus
    assert f"layer {layer.name} has no stored term statistics" in caplog.text
    caplog.clear()
    assert report.plan.has_work is False
    assert live_generation(settings).name == report.generation  # the same generation
    assert stored(settings, layer) == counted(layer)

    bot = make_settings(
        settings.corpus_dir, settings.store_dir, BotSettings, memory_path=Path("memory.db")
    )
    engine = AnswerEngine.from_settings(bot, StoryIndex(bot, embed_model=embed_model))
    with caplog.at_level(logging.INFO, logger="index.store"):
        stats = engine.term_stats()
    assert "counting its chunks" not in caplog.text
    assert (stats.n, dict(stats.df)) == counted(layer)


def test_terms_read_hyphenated_words_as_parts_and_typographic_apostrophes_as_straight() -> None:
    from index.terms import content_terms

    # "how many hours" finds "a nine-hour meeting"; "Labour’s" is Labour's.
    assert content_terms("a nine-hour meeting") == content_terms("nine hour meeting")
    assert content_terms("Labour’s rules") == content_terms("Labour's rules")
    assert content_terms("Labour’s rules") == content_terms("Labour rules")
    assert content_terms("‘witch-hunt’") == ["witch", "hunt"]
    # A part is no verb form, and a single letter is no part.
    assert content_terms("far-left groups") == ["far", "left", "group"]
    assert content_terms("he left") == ["leav"]
    assert content_terms("a U-turn") == ["turn"]
