"""A store wholly on a real `chroma run` server with a real Redis beside it.

Every setting that two machines share is the servers' addresses; each "machine"
here has its own working folder (`server_settings("machine-b")`), so nothing
reaches a reader through the local disk.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from conftest import make_settings, write_corpus
from constants import ALLOTMENT_URL, LIGHTHOUSE_ID, STORY_ID

from bot.errors import ConfigurationError, IndexBusyError, ServerUnavailable, StoreDamagedError
from index.articles import load_corpus
from index.indexer import run_index
from index.namespaces import Namespace, survey
from index.retrieval import StoryIndex
from index.settings import IndexSettings
from index.shared import LeaseLock, RedisBm25Shelf
from index.store import connect, open_store
from index.streaming import ARTICLES_PER_BATCH
from index.terms import TERM_STATS_FILE, TermStats


def index(settings, **options):
    return run_index(settings, load_corpus(settings.corpus_dir), **options)


def docs_of(hits) -> set[str]:
    return {hit.node.metadata["doc_id"] for hit in hits}


def test_a_reader_elsewhere_gets_hybrid_search_with_the_same_keyword_results(
    server_settings, corpus: Path, tmp_path: Path, embed_model
) -> None:
    indexer = server_settings("machine-a")
    report = index(indexer)
    assert report.generation is not None

    reader = StoryIndex(server_settings("machine-b"), embed_model=embed_model)
    loaded = reader._load()
    assert loaded.has_bm25, "the reader fell back to vector search only"
    assert not (tmp_path / "machine-a" / "store" / "bm25").exists()  # nothing on local disk
    hits = reader.search("lighthouse keeper kayakers Godrevy", top_k=2)
    assert docs_of(hits) >= {LIGHTHOUSE_ID}

    # The same corpus embedded: BM25 ranks the same chunk texts the same way.
    embedded = make_settings(corpus, tmp_path / "embedded")
    index(embedded)
    local = StoryIndex(embedded, embed_model=embed_model)._load().layers[0].bm25
    remote = loaded.layers[0].bm25
    assert local is not None and remote is not None
    for query in ("tomato blight allotment", "proscribed groups Labour", "coastguard"):
        remote_texts = [h.node.get_content() for h in remote.retrieve(query)]
        local_texts = [h.node.get_content() for h in local.retrieve(query)]
        assert remote_texts == local_texts, query


def test_a_running_reader_follows_a_reindex_and_old_files_are_dropped(
    server_settings, corpus: Path, embed_model
) -> None:
    (corpus / LIGHTHOUSE_ID).unlink()
    indexer = server_settings("machine-a")
    first = index(indexer).generation
    reader = StoryIndex(server_settings("machine-b"), embed_model=embed_model)
    assert LIGHTHOUSE_ID not in docs_of(reader.search("lighthouse keeper Godrevy", top_k=3))

    write_corpus(corpus)  # the lighthouse article comes back
    second = index(indexer).generation  # a layer over the first
    assert LIGHTHOUSE_ID in docs_of(reader.search("lighthouse keeper Godrevy", top_k=3))
    assert reader.generation().layer_names == [first, second]
    third = index(indexer, rebuild=True).generation
    fourth = index(indexer, rebuild=True).generation

    assert reader.generation().name == fourth
    assert LIGHTHOUSE_ID in docs_of(reader.search("lighthouse keeper Godrevy", top_k=3))
    # The layers of the live and previous generations keep their files in Redis.
    shelf = open_store(indexer).bm25_shelf
    assert shelf is not None
    assert shelf.names() == {third, fourth}


def test_a_redis_that_lost_its_data_is_named_and_removed_articles_stay_removed(
    server_settings, corpus: Path, embed_model
) -> None:
    indexer = server_settings("machine-a")
    index(indexer)
    (corpus / LIGHTHOUSE_ID).unlink()
    assert index(indexer).plan.removed == [LIGHTHOUSE_ID]  # a layer over the base
    shelf = open_store(indexer).bm25_shelf
    assert shelf is not None
    for name in shelf.names():  # Redis restarted without its data
        shelf.drop(name)

    reader = StoryIndex(server_settings("machine-b"), embed_model=embed_model)
    with pytest.raises(StoreDamagedError, match=r"Redis server at redis://.*lost its data"):
        reader.search("lighthouse keeper Godrevy", top_k=3)
    with pytest.raises(StoreDamagedError, match="storybot index --rebuild"):
        index(server_settings("machine-c"))

    index(server_settings("machine-c"), rebuild=True)
    assert LIGHTHOUSE_ID not in docs_of(reader.search("lighthouse keeper Godrevy", top_k=3))


def test_a_reader_elsewhere_loads_each_layers_term_stats_from_redis(
    server_settings, corpus: Path, tmp_path: Path
) -> None:
    indexer = server_settings("machine-a")
    index(indexer)
    (corpus / "bridge.txt").write_text(
        "Bridge news\n\nCouncillors voted to repaint the iron bridge.\n", encoding="utf-8"
    )
    index(indexer)  # a second layer

    reader = open_store(server_settings("machine-b"))
    generation = reader.live()
    assert generation is not None and len(generation.layers) == 2
    for layer in generation.layers:
        # Machine-b's folder holds only what it fetched from Redis.
        folder = reader.local_bm25(layer.name)
        assert folder == tmp_path / "machine-b" / "store" / "bm25-cache" / layer.name
        assert (folder / TERM_STATS_FILE).is_file()
        stored = TermStats.read(folder)
        reference = TermStats(layer.get(include=["documents"])["documents"])
        assert stored is not None and (stored.n, stored.df) == (reference.n, reference.df)


def test_an_index_run_saves_missing_term_stats_where_every_reader_finds_them(
    server_settings, tmp_path: Path
) -> None:
    indexer = server_settings("machine-a")
    index(indexer)
    store = open_store(indexer)
    shelf = store.bm25_shelf
    assert shelf is not None
    layer = store.live().layers[0]  # type: ignore[union-attr]
    # A store indexed before term statistics were kept: neither Redis nor the caches have them.
    shelf.client.hdel(shelf._manifest(layer.name), TERM_STATS_FILE)
    for machine in (store, open_store(server_settings("machine-b"))):
        folder = machine.local_bm25(layer.name)  # machine-b copies the layer now
        assert folder is not None
        (folder / TERM_STATS_FILE).unlink(missing_ok=True)

    assert index(indexer).plan.has_work is False  # nothing changed in the corpus

    reference = TermStats(layer.get(include=["documents"])["documents"])
    for machine in ("machine-b", "machine-c"):  # a copy from before, and a fresh one
        reader = open_store(server_settings(machine))
        stats = reader.term_stats(layer)
        assert (stats.n, stats.df) == (reference.n, reference.df)
        cached = TermStats.read(tmp_path / machine / "store" / "bm25-cache" / layer.name)
        assert cached is not None, f"{machine} counted the chunks instead of fetching them"


def test_namespaces_keep_two_stories_apart_on_one_server(
    server_settings, tmp_path: Path, embed_model
) -> None:
    story_only = tmp_path / "story-corpus"
    write_corpus(story_only)
    (story_only / "allotment.md").unlink()
    (story_only / LIGHTHOUSE_ID).unlink()
    garden = tmp_path / "garden-corpus"
    write_corpus(garden)
    (garden / STORY_ID).unlink()

    alpha = server_settings(corpus_dir=story_only, namespace="alpha-story")
    beta = server_settings(corpus_dir=garden, namespace="beta-garden")
    index(alpha)
    index(beta)
    index(alpha, rebuild=True)  # alpha's switches never drop beta's generations

    alpha_docs = {a["doc_id"] for a in StoryIndex(alpha, embed_model=embed_model).articles()}
    beta_index = StoryIndex(beta, embed_model=embed_model)
    assert alpha_docs == {STORY_ID}
    assert {a["doc_id"] for a in beta_index.articles()} == {ALLOTMENT_URL, LIGHTHOUSE_ID}
    assert docs_of(beta_index.search("Ken Loach Labour expelled", top_k=5)) <= {
        ALLOTMENT_URL,
        LIGHTHOUSE_ID,
    }

    listed = {s.name: s for s in survey(connect(alpha))}
    assert {"alpha-story", "beta-garden"} <= set(listed)
    assert [g.role for g in listed["alpha-story"].generations] == ["live", "previous"]
    assert [g.role for g in listed["beta-garden"].generations] == ["live"]
    assert listed["beta-garden"].generations[0].chunks > 0


def test_a_second_indexer_is_refused_while_another_machine_holds_the_lease(
    server_settings,
) -> None:
    settings = server_settings()
    client = redis.Redis.from_url(settings.redis_url)
    elsewhere = LeaseLock(client, settings.redis_url, Namespace(settings.namespace))
    elsewhere.acquire()
    try:
        with pytest.raises(IndexBusyError) as refused:
            index(settings)
        assert "pid" in str(refused.value)  # names the holder
        assert settings.namespace in str(refused.value)
    finally:
        elsewhere.release()
    assert index(settings).generation is not None


def test_a_crashed_indexers_lease_runs_out(server_settings) -> None:
    settings = server_settings()
    client = redis.Redis.from_url(settings.redis_url)
    # What a killed indexer leaves: a held lock that nobody renews.
    crashed = LeaseLock(client, settings.redis_url, Namespace(settings.namespace), lease=1.5)
    crashed._lock.acquire(token="crashed-host pid 1")
    with pytest.raises(IndexBusyError, match="crashed-host pid 1"):
        index(settings)
    time.sleep(1.6)
    assert index(settings).generation is not None


def test_an_indexer_that_loses_its_lease_switches_nothing(server_settings) -> None:
    settings = server_settings()
    client = redis.Redis.from_url(settings.redis_url)
    lock = LeaseLock(client, settings.redis_url, Namespace(settings.namespace))
    lock.acquire()
    client.delete(lock.key)  # the lease ran out while the process was paused
    with pytest.raises(IndexBusyError, match="lost its lock"):
        lock.check_held()
    lock.release()


def test_a_chroma_host_without_redis_is_a_clear_error(server_settings) -> None:
    settings = server_settings(redis_url=None)
    with pytest.raises(ConfigurationError, match="STORYBOT_REDIS_URL"):
        index(settings)
    with pytest.raises(ConfigurationError, match="STORYBOT_REDIS_URL"):
        StoryIndex(settings)


def test_servers_that_do_not_answer_are_named(server_settings) -> None:
    from conftest import closed_port

    no_chroma = server_settings(chroma_port=closed_port())
    with pytest.raises(ServerUnavailable, match="CHROMA_HOST"):
        index(no_chroma)
    no_redis = server_settings(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    with pytest.raises(ServerUnavailable, match="STORYBOT_REDIS_URL"):
        index(no_redis)


def test_a_chroma_that_never_answers_is_named_in_time(server_settings, silent_port: int) -> None:
    hung = server_settings(chroma_port=silent_port, chroma_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ServerUnavailable, match=r"CHROMA_HOST.*within CHROMA_TIMEOUT=0.5 s"):
        index(hung)
    with pytest.raises(ServerUnavailable, match="CHROMA_HOST"):
        StoryIndex(hung)
    assert time.monotonic() - started < 10


@pytest.fixture
def own_chroma(redis_server, corpus: Path, tmp_path: Path, namespace: str):
    """A `chroma run` of this test's own, to stop or freeze, and settings for it."""
    from servers import chroma_server

    chroma = chroma_server(tmp_path / "chroma-data").start()

    def settings(**overrides) -> IndexSettings:
        return make_settings(
            corpus,
            tmp_path / "store",
            chroma_host="127.0.0.1",
            chroma_port=chroma.port,
            redis_url=f"redis://127.0.0.1:{redis_server.port}/0",
            namespace=namespace,
            **overrides,
        )

    try:
        yield chroma, settings
    finally:
        chroma.stop()


def test_a_chroma_that_hangs_while_serving_is_named_and_answers_again_when_it_wakes(
    own_chroma,
) -> None:
    chroma, settings_for = own_chroma
    settings = settings_for(chroma_timeout=1.0)
    index(settings)
    story = StoryIndex(settings)
    assert story.search("allotment", top_k=2)
    # Stopped, not killed: its connections stay open and nothing replies, as on a
    # machine that hangs.
    assert chroma.process is not None
    # In a thread, so that a search that would wait forever fails the test, not hangs it.
    pool = ThreadPoolExecutor(1)
    chroma.process.send_signal(signal.SIGSTOP)
    try:
        asked = pool.submit(story.search, "allotment", top_k=2)
        with pytest.raises(ServerUnavailable, match="CHROMA_HOST"):
            asked.result(timeout=15)
    finally:
        chroma.process.send_signal(signal.SIGCONT)
        pool.shutdown()
    assert story.search("allotment", top_k=2)


def test_a_chroma_host_given_as_a_url_is_reached(server_settings, chroma) -> None:
    as_url = server_settings(chroma_host=f"http://127.0.0.1:{chroma.port}")
    index(as_url)
    assert StoryIndex(as_url).search("allotment", top_k=1)


def test_a_redis_that_never_answers_stops_the_indexer_by_name(
    server_settings, silent_port: int
) -> None:
    hung = server_settings(redis_url=f"redis://127.0.0.1:{silent_port}/0?socket_timeout=0.5")
    with pytest.raises(ServerUnavailable, match=r"STORYBOT_REDIS_URL.*Timeout"):
        index(hung)


def layer_collections(settings) -> set[str]:
    """The namespace's layer collections on the Chroma server."""
    owner = Namespace(settings.namespace)
    return {c.name for c in connect(settings).list_collections() if owner.owns(c.name)}


def test_a_chroma_server_lost_while_indexing_is_named_and_the_live_index_stays(
    own_chroma, corpus: Path, redis_server, namespace: str
) -> None:
    chroma, settings_for = own_chroma
    settings = settings_for()
    first = index(settings)
    before = layer_collections(settings)
    # More articles than one batch: the new layer exists when the second batch starts.
    for n in range(ARTICLES_PER_BATCH + 6):
        (corpus / f"late-{n}.md").write_text(
            f"---\ntitle: Late news {n}\n---\nFerry number {n} sails again on Monday.\n"
        )

    def server_stops(done: int, total: int) -> None:
        if done > ARTICLES_PER_BATCH:  # a chunk each: the first batch is in the new layer
            chroma.stop()

    with pytest.raises(ServerUnavailable, match="CHROMA_HOST"):
        index(settings, progress=server_stops)
    chroma.start()
    assert StoryIndex(settings).generation().name == first.generation
    (orphan,) = layer_collections(settings) - before  # the server was gone for its drop
    report = index(settings)  # the next run adds the articles after all
    assert len(report.plan.added) == ARTICLES_PER_BATCH + 6
    # ... and collects the layer the failed run could not drop, in Chroma and in Redis.
    live = open_store(settings).live()
    assert live is not None
    after = layer_collections(settings)
    assert orphan not in after
    assert after - before == {live.name}
    assert RedisBm25Shelf(
        redis.Redis(port=redis_server.port), "", Namespace(namespace)
    ).names() <= before | {live.name}


def test_bm25_files_round_trip_through_redis(redis_server, tmp_path: Path) -> None:
    client = redis.Redis(port=redis_server.port)
    shelf = RedisBm25Shelf(client, f"redis://127.0.0.1:{redis_server.port}", Namespace("rt"))
    source = tmp_path / "src"
    source.mkdir()
    (source / "big.bin").write_bytes(bytes(range(256)) * 300_000)  # more than one part
    (source / "small.json").write_text("{}")
    shelf.put("gen1", source)

    target = tmp_path / "cache" / "gen1"
    assert shelf.get("gen1", target)
    assert (target / "big.bin").read_bytes() == (source / "big.bin").read_bytes()
    assert (target / "small.json").read_text() == "{}"
    shelf.drop("gen1")
    assert not shelf.get("gen1", tmp_path / "cache" / "again")
    assert client.keys("storybot:rt:*") == []


def test_parts_of_an_upload_that_never_finished_are_found_and_dropped(
    redis_server, tmp_path: Path
) -> None:
    client = redis.Redis(port=redis_server.port)
    shelf = RedisBm25Shelf(client, f"redis://127.0.0.1:{redis_server.port}", Namespace("up"))
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.bin").write_bytes(b"x" * 1000)
    shelf.put("whole", source)
    # An indexer killed between a file's parts and the manifest leaves parts only.
    client.set("storybot:up:bm25:killed:index.bin:0", b"x" * 1000)
    assert shelf.names() == {"whole", "killed"}
    shelf.drop("killed")
    assert shelf.names() == {"whole"}
    assert shelf.get("whole", tmp_path / "cache" / "whole")
    shelf.drop("whole")
    assert client.keys("storybot:up:*") == []


def test_a_working_indexer_keeps_its_lease_past_its_length(server_settings) -> None:
    settings = server_settings()
    client = redis.Redis.from_url(settings.redis_url)
    namespace = Namespace(settings.namespace)
    working = LeaseLock(client, settings.redis_url, namespace, lease=1.0)
    working.acquire()
    try:
        time.sleep(2.5)  # two and a half leases: only the renewals keep it
        working.check_held()
        other = LeaseLock(client, settings.redis_url, namespace)
        with pytest.raises(IndexBusyError):
            other.acquire()
    finally:
        working.release()
    assert client.get(working.key) is None  # released, not left to expire
