"""Building a generation in batches, so that peak memory follows the batch, not the corpus.

Articles are read, chunked, embedded and written to a new layer collection a
batch at a time; articles carried over are copied a batch at a time. Each
batch written is also tokenized for the layer's BM25 index and counted for its
term statistics (LayerFiles), which keeps only each chunk's token ids and the
layer's document frequencies in memory (its node record waits on disk), never
the vectors or LlamaIndex node objects of the whole corpus, and never reads the
collection back.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import bm25s
import numpy as np
import Stemmer
from chromadb.api.models.Collection import Collection
from chromadb.base_types import InclusionExclusionOperator, Where
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
from llama_index.retrievers.bm25 import BM25Retriever
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.articles import Article
from index.layers import LayerManifest
from index.retrieval import CANDIDATES_PER_RETRIEVER
from index.store import StoryStore
from index.terms import TermStats

# About 1,500 chunks of news a batch: large enough to keep the embedding threads
# busy, small enough that a batch's vectors are a few MB (bench/index_scale.py).
ARTICLES_PER_BATCH = 64
# Unchanged articles copied per request.
COPY_ARTICLES_PER_BATCH = 256

T = TypeVar("T")
# Called with (chunks embedded so far, chunks to embed).
Progress = Callable[[int, int], None]


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_nodes(
    store: StoryStore, layer: Collection, nodes: Sequence[BaseNode], files: LayerFiles
) -> None:
    vector_store = ChromaVectorStore(chroma_collection=layer)
    step = store.client.get_max_batch_size()  # Chroma refuses larger writes
    for part in batched(nodes, step):
        vector_store.add(list(part))
    files.add_nodes(nodes, flat_metadata=vector_store.flat_metadata)


def embed_into(
    store: StoryStore,
    model_id: str,
    dimension: int,
    articles: Sequence[Article],
    chunk: Callable[[Sequence[Article]], list[BaseNode]],
    embed: Callable[[Sequence[BaseNode], Progress | None], None],
    files: LayerFiles,
    progress: Progress | None = None,
    on_created: Callable[[Collection], None] | None = None,
    on_embedded: Callable[[], None] | None = None,
) -> Collection:
    """A new layer holding `articles`' chunks, chunked, embedded and written a batch at a time.

    The stages overlap: while one batch is embedded on the model's threads, one
    helper thread writes the batch before it and chunks the batch after it, so
    the cores do not wait on that Python work between batches. At most three
    batches are in memory at once (the one written, the one embedded, the one
    chunked), a few tens of MB of vectors.

    The layer is created once the first batch tells the vectors' dimension
    (`dimension`, the live generation's, if nothing is to be embedded);
    `on_created` is told at once, so that a failure later can drop it.
    `progress` hears chunks embedded and chunks to embed; until the last batch
    is chunked the second is estimated from the chunks per article so far.
    """
    layer: Collection | None = None
    done = chunked_articles = 0
    batches = list(batched(articles, ARTICLES_PER_BATCH))
    helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer")
    try:
        with prompt_gil_handoff():
            writing: Future[None] | None = None
            chunking = helper.submit(chunk, batches[0]) if batches else None
            for number, batch in enumerate(batches):
                assert chunking is not None
                nodes = chunking.result()
                if number + 1 < len(batches):
                    # Queued before this batch's write, so it is ready when this batch is embedded.
                    chunking = helper.submit(chunk, batches[number + 1])
                if writing is not None and writing.done():
                    writing.result()  # a write that failed meanwhile stops the run before embedding
                chunked_articles += len(batch)
                report = None
                if progress is not None:
                    report = _batch_progress(progress, done, chunked_articles, len(articles))
                embed(nodes, report)
                if on_embedded is not None and layer is None:
                    on_embedded()
                done += len(nodes)
                if writing is not None:
                    writing.result()  # a failed write stops the run here
                    writing = None
                if not nodes:
                    continue
                if layer is None:
                    layer = store.new_layer(model_id, len(nodes[0].get_embedding()))
                    if on_created is not None:
                        on_created(layer)
                writing = helper.submit(write_nodes, store, layer, nodes, files)
                del nodes  # the helper holds them until written
            if writing is not None:
                writing.result()
    finally:
        stop_helper(helper)
    if layer is None:
        layer = store.new_layer(model_id, dimension)
        if on_created is not None:
            on_created(layer)
    return layer


def stop_helper(helper: ThreadPoolExecutor) -> None:
    """Cancel the helper's queued work and wait for the task under way, even through Ctrl-C.

    On a failure the caller drops the new layer next, which must not happen
    while a write into it is still running; an interrupt while waiting is
    raised once the helper has stopped.
    """
    interrupted: KeyboardInterrupt | None = None
    while True:
        try:
            helper.shutdown(wait=True, cancel_futures=True)
            break
        except KeyboardInterrupt as error:
            interrupted = error
    if interrupted is not None:
        raise interrupted


@contextlib.contextmanager
def prompt_gil_handoff(seconds: float = 0.0005) -> Iterator[None]:
    """Let threads waiting for the GIL have it within `seconds` (CPython's default is 5 ms).

    Each embedding thread needs the GIL for a moment after every model run (of
    a few ms); with the Python-bound helper thread running beside them, the
    default interval would leave their core idle for up to 5 ms a run. The
    interval is the process's: one indexing run at a time sets it.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _batch_progress(progress: Progress, done: int, seen: int, total: int) -> Progress:
    """Progress within one batch, as (chunks done, chunks to do) over the whole run.

    `done` chunks came before this batch, `seen` articles are chunked with it, of `total`.
    """

    def report(n: int, in_batch: int) -> None:
        known = done + in_batch
        rest = total - seen
        progress(done + n, known + round(known / seen * rest) if rest else known)

    return report


def copy_articles(
    store: StoryStore,
    source: Collection,
    target: Collection,
    doc_ids: Sequence[str],
    files: LayerFiles,
) -> None:
    """Carry unchanged articles' chunks, vectors included, from one layer into a new one."""
    among: InclusionExclusionOperator = "$in"
    step = store.client.get_max_batch_size()
    for group in batched(doc_ids, COPY_ARTICLES_PER_BATCH):
        where: Where = {"doc_id": {among: list[str | int | float | bool](group)}}
        batch = source.get(where=where, include=["embeddings", "documents", "metadatas"])
        embeddings, documents = batch["embeddings"], batch["documents"]
        metadatas = batch["metadatas"]
        if embeddings is None or documents is None or metadatas is None:
            raise RuntimeError("Chroma returned chunks without the fields asked for")
        for start in range(0, len(batch["ids"]), step):
            end = start + step
            target.add(
                ids=batch["ids"][start:end],
                embeddings=embeddings[start:end],
                documents=documents[start:end],
                metadatas=metadatas[start:end],
            )
        files.add_rows(batch["ids"], documents, metadatas)


class SpooledCorpus:
    """BM25's chunk records in a temporary JSON-lines file, read back when saved.

    The records are most of a BM25 index's size; `bm25s` only iterates over them
    to write them beside the index, so they need not be in memory meanwhile.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (close())
        self._count = 0

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        self._file.close()


class LayerFiles:
    """A layer's BM25 index, term statistics and manifest, collected as its chunks are written.

    Reading a collection back costs Chroma's client memory in proportion to the
    collection, so the chunks are taken as they go in: each is turned into the
    record and the tokens `BM25Retriever.from_defaults` would make of the node
    read back (its defaults: English stop words and stemmer, its token pattern),
    so the keyword results are the same. Only the token ids are held, compactly;
    the records wait on disk until `write` saves them. The chunk texts, as Chroma
    holds them, are counted for the reader's IDF (index/terms.py).
    """

    def __init__(self, removed: Sequence[str] = ()):
        self.manifest = LayerManifest(removed=list(removed))
        self.term_stats = TermStats()
        self._corpus = SpooledCorpus()
        self._vocab: dict[str, int] = {}
        self._token_ids: list[array[int]] = []
        self._stemmer = Stemmer.Stemmer("english")

    def add_rows(
        self, ids: Sequence[str], documents: Sequence[str], metadatas: Sequence[Mapping]
    ) -> None:
        """Chunks as Chroma holds them: ids, texts and metadata."""
        texts = []
        for node_id, text, meta in zip(ids, documents, metadatas, strict=True):
            node = metadata_dict_to_node(dict(meta), text=text)
            self._corpus.append(node_to_metadata_dict(node) | {"node_id": node_id})
            texts.append(node.get_content(metadata_mode=MetadataMode.EMBED))
            self.manifest.add_chunk(meta)
            self.term_stats.add(text)
        tokens = bm25s.tokenize(
            texts,
            stopwords="en",
            stemmer=self._stemmer,
            token_pattern=r"(?u)\b\w\w+\b",
            show_progress=False,
        )
        self._token_ids.extend(_to_global_ids(tokens, self._vocab))

    def add_nodes(self, nodes: Sequence[BaseNode], flat_metadata: bool = True) -> None:
        """Chunks as `ChromaVectorStore.add` writes them."""
        metadatas = []
        for node in nodes:
            meta = node_to_metadata_dict(node, remove_text=True, flat_metadata=flat_metadata)
            metadatas.append({k: "" if v is None else v for k, v in meta.items()})
        documents = [node.get_content(metadata_mode=MetadataMode.NONE) for node in nodes]
        self.add_rows([node.node_id for node in nodes], documents, metadatas)

    def bm25(self) -> BM25Retriever | None:
        """The BM25 retriever of the chunks added; None if there are none."""
        if not len(self._corpus):
            return None
        bm25 = ColumnwiseBM25()
        bm25.index((self._token_ids, self._vocab), show_progress=False)
        self._token_ids = []
        bm25.corpus = self._corpus
        return BM25Retriever(
            existing_bm25=bm25,
            similarity_top_k=min(CANDIDATES_PER_RETRIEVER, max(1, len(self._corpus))),
        )

    def write(self, folder: Path) -> None:
        """Save the BM25 index (if the layer has chunks), the term statistics and the
        manifest into `folder`."""
        try:
            bm25 = self.bm25()
            if bm25 is not None:
                bm25.persist(str(folder), show_progress=False)
            self.term_stats.write(folder)
            self.manifest.write(folder)  # last: a folder with a manifest is complete
        finally:
            self._corpus.close()


class ColumnwiseBM25(bm25s.BM25):
    """`bm25s.BM25` whose score matrix is filled in place, column by column.

    bm25s builds it from coordinate arrays that it then sorts, which holds about
    five times the finished matrix at once; at hundreds of thousands of chunks
    that was most of an index run's peak memory. This fills the finished CSC
    arrays directly (columns sized by document frequency, rows in order), with
    bm25s's own scoring functions, so the index, its files and its results are
    the same.
    """

    def build_index_from_ids(
        self,
        unique_token_ids: list[int],
        corpus_token_ids: list,
        show_progress: bool = True,
        leave_progress: bool = False,
    ) -> dict:
        if self.method in self.methods_requiring_nonoccurrence:  # not storybot's: defer
            return super().build_index_from_ids(
                unique_token_ids, corpus_token_ids, show_progress, leave_progress
            )
        self.nonoccurrence_array = None
        n_docs, n_vocab = len(corpus_token_ids), len(unique_token_ids)
        avg_doc_len = np.array([len(doc) for doc in corpus_token_ids]).mean()
        doc_freqs = np.zeros(n_vocab, dtype=np.int64)
        for doc in corpus_token_ids:
            doc_freqs[np.unique(np.asarray(doc, dtype=np.int64))] += 1
        compute_idf = bm25s.scoring._select_idf_scorer(self.idf_method)
        idf = np.zeros(n_vocab, dtype=self.dtype)
        for token_id in np.flatnonzero(doc_freqs):
            idf[token_id] = compute_idf(int(doc_freqs[token_id]), N=n_docs)
        calculate_tfc = bm25s.scoring._select_tfc_scorer(self.method)
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(doc_freqs, out=indptr[1:])
        data = np.empty(indptr[-1], dtype=self.dtype)
        indices = np.empty(indptr[-1], dtype=self.int_dtype)
        cursor = indptr[:-1].copy()
        for row, doc in enumerate(corpus_token_ids):
            terms, tf = np.unique(np.asarray(doc, dtype=np.int64), return_counts=True)
            tfc = calculate_tfc(
                tf_array=tf.astype(self.dtype),
                l_d=len(doc),
                l_avg=avg_doc_len,
                k1=self.k1,
                b=self.b,
                delta=self.delta,
            )
            at = cursor[terms]
            data[at] = idf[terms] * tfc
            indices[at] = row
            cursor[terms] += 1
        return {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}


def _to_global_ids(tokens: bm25s.tokenization.Tokenized, vocab: dict[str, int]) -> list[array]:
    """One page's token ids, renumbered into the collection-wide `vocab` (extended as needed).

    As 4-byte arrays: Python lists of ints take nine times the memory, which at
    hundreds of thousands of chunks was most of what indexing held.
    """
    renumber = np.empty(len(tokens.vocab), dtype=np.int32)
    for token, local in tokens.vocab.items():
        renumber[local] = vocab.setdefault(token, len(vocab))
    pages = []
    for doc in tokens.ids:
        ids = array("i")
        ids.frombytes(renumber[np.asarray(doc, dtype=np.int64)].tobytes())
        pages.append(ids)
    return pages
