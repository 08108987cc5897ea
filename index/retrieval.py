"""Retrieval over the live index generation: vector search, BM25, and both fused."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import bm25s.selection
import httpx
import numpy as np
from chromadb.api.models.Collection import Collection
from chromadb.errors import NotFoundError
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.retrievers.bm25 import BM25Retriever
from llama_index.retrievers.bm25.base import DEFAULT_PERSIST_FILENAME as BM25_RETRIEVER_FILE
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.embeddings import build_embed_model, embed_model_id
from index.errors import IndexNotBuiltError
from index.layers import ARTICLE_FIELDS, Catalog
from index.settings import IndexSettings
from index.store import Generation, chroma_unavailable, open_store, written_with_files

log = logging.getLogger(__name__)

# bm25s sets its own logger to DEBUG on import; its chatter is not ours to show.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Candidates each retriever contributes before fusion; measured with
# bench/retrieval_ranks.py (more adds noise, fewer loses facts).
CANDIDATES_PER_RETRIEVER = 8
# Candidates asked of each layer when there are several, so that dead chunks
# (older versions of updated articles) do not crowd out live ones.
LAYER_CANDIDATES = 2 * CANDIDATES_PER_RETRIEVER


def build_bm25(nodes: list[BaseNode]) -> BM25Retriever:
    """A BM25 index over chunks (English stemming), built by `storybot index`."""
    return BM25Retriever.from_defaults(
        nodes=nodes, similarity_top_k=min(CANDIDATES_PER_RETRIEVER, max(1, len(nodes)))
    )


class MatchingTopK(bm25s.BM25):
    """bm25s's BM25, its top k picked among the chunks that hold a query term.

    Every other chunk scores 0, and numpy's argpartition is slow on that many equal
    values (measured in the commit that added this class). The top k is the same
    whenever k chunks match; otherwise bm25s picks as before.
    """

    def _get_top_k_results(
        self,
        query_tokens_single: list[str],
        k: int = 1000,
        backend: str = "auto",
        sorted: bool = False,  # bm25s calls it so
        weight_mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if query_tokens_single and not backend.startswith("numba"):
            scores = self.get_scores(query_tokens_single, weight_mask=weight_mask)
            matching = np.flatnonzero(scores)
            if len(matching) >= k:
                # numpy: jax, if it were installed, would compile anew for each length.
                top_scores, top = bm25s.selection.topk(
                    scores[matching], k=k, sorted=sorted, backend="numpy"
                )
                return top_scores, matching[top]
        return super()._get_top_k_results(
            query_tokens_single, k=k, backend=backend, sorted=sorted, weight_mask=weight_mask
        )


def load_bm25(folder: Path) -> BM25Retriever:
    """A layer's BM25 files as a retriever, memory-mapped: the chunk records and scores
    stay in the page cache, so a bot's memory does not grow with the corpus."""
    index = MatchingTopK.load(str(folder), load_corpus=True, show_progress=False, mmap=True)
    arguments = json.loads((folder / BM25_RETRIEVER_FILE).read_text(encoding="utf-8"))
    return BM25Retriever(existing_bm25=index, **arguments)


@dataclass
class _LoadedLayer:
    name: str
    chunks: int
    vector_index: VectorStoreIndex
    bm25: BM25Retriever | None


@dataclass
class _LoadedGeneration:
    name: str
    layers: list[_LoadedLayer]
    # Which layer holds each live article; None for one layer, whose chunks are all live.
    catalog: Catalog | None
    # Retrievers keep no state between queries; building one per query cost more
    # than the BM25 search (LlamaIndex tries optional imports each time).
    retrievers: dict[tuple[int, bool], BaseRetriever] = field(default_factory=dict)
    # The article listing (`/sources`), made on first request.
    articles: list[dict[str, str]] | None = None

    @property
    def has_bm25(self) -> bool:
        return any(layer.bm25 is not None for layer in self.layers)


class LayeredRetriever(BaseRetriever):
    """One search over every layer of a generation: the layers' live hits, best score first.

    Vector scores are comparable across layers; BM25 scores nearly so (each
    layer has its own term statistics, and layers above the base are kept small).
    """

    def __init__(self, layers: list[tuple[int, BaseRetriever]], catalog: Catalog, top_k: int):
        super().__init__()
        self.layers = layers
        self.catalog = catalog
        self.top_k = top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = [
            hit
            for position, retriever in self.layers
            for hit in retriever.retrieve(query_bundle)
            if self.catalog.is_live(hit.node.metadata.get("doc_id"), position)
        ]
        hits.sort(key=lambda hit: hit.score or 0.0, reverse=True)
        return hits[: self.top_k]


class StoryIndex:
    """The read side of the store: follows the live generation across re-indexing."""

    def __init__(self, settings: IndexSettings, embed_model: BaseEmbedding | None = None):
        self.settings = settings
        if not settings.chroma_host and not settings.store_dir.is_dir():
            # Checked before connecting, which would create an empty store folder.
            raise IndexNotBuiltError(
                f"no index at {settings.store_dir}: run `storybot index` first"
            )
        self.store = open_store(settings, read_only=True)
        self.model_id = embed_model_id(settings)
        self.embed_model = embed_model or build_embed_model(settings)
        self._loaded: _LoadedGeneration | None = None

    def generation(self) -> Generation:
        """The live generation, checked against the configured embedding model."""
        with self._server_errors():
            return self.store.live_for(self.model_id)

    @contextlib.contextmanager
    def _server_errors(self) -> Iterator[None]:
        """A Chroma server that stopped answering becomes an error naming it; the client
        reconnects by itself, so the next call works once the server is back."""
        try:
            yield
        except httpx.TransportError as error:
            if not self.settings.chroma_host:
                raise
            raise chroma_unavailable(self.settings, error) from None

    def _load(self, generation: Generation | None = None) -> _LoadedGeneration:
        generation = generation or self.generation()
        if self._loaded is None or self._loaded.name != generation.name:
            # Layers never change: those of the previous generation are reused as loaded.
            known = {layer.name: layer for layer in self._loaded.layers} if self._loaded else {}
            layers = [known.get(c.name) or self._load_layer(c) for c in generation.layers]
            catalog = None
            if len(layers) > 1:
                catalog = self.store.catalog(generation)
                for layer in layers:  # dead chunks may take some of each layer's places
                    if layer.bm25 is not None:
                        layer.bm25.similarity_top_k = min(LAYER_CANDIDATES, layer.chunks)
            self.store.prune_cache(generation)
            loaded = _LoadedGeneration(generation.name, layers, catalog)
            # Said once per generation, so a bot that lost its keyword index is not silent.
            if not loaded.has_bm25:
                log.warning("generation %s has no BM25 index: vector search only", generation.name)
            else:
                log.info(
                    "generation %s loaded (%d layers): hybrid search (vectors + BM25)",
                    generation.name,
                    len(layers),
                )
            self._loaded = loaded
        return self._loaded

    def _load_layer(self, collection: Collection) -> _LoadedLayer:
        vector_store = ChromaVectorStore(chroma_collection=collection)
        vector_index = VectorStoreIndex.from_vector_store(
            vector_store, embed_model=self.embed_model
        )
        folder = self.store.local_bm25(collection.name)
        bm25 = None
        # A layer with no chunks has a manifest but no BM25 files.
        if folder is not None and (folder / "params.index.json").is_file():
            bm25 = load_bm25(folder)
        elif folder is None and written_with_files(collection):
            # Alone, the layer still answers by its vectors; under others, the catalog
            # refuses it, since what was removed above it would come back.
            log.error(
                "%s; until then it is searched by vectors only", self.store.damaged(collection.name)
            )
        return _LoadedLayer(collection.name, collection.count(), vector_index, bm25)

    def retriever(self, top_k: int = 5, hybrid: bool = True) -> BaseRetriever:
        """Vector search fused with BM25 by reciprocal rank (vector only without BM25 files)."""
        return self._build_retriever(self._load(), top_k, hybrid)

    @staticmethod
    def _build_retriever(loaded: _LoadedGeneration, top_k: int, hybrid: bool) -> BaseRetriever:
        vector = _vector_retriever(
            loaded,
            top_k if not hybrid or not loaded.has_bm25 else max(top_k, CANDIDATES_PER_RETRIEVER),
        )
        if not hybrid or not loaded.has_bm25:
            return vector
        return QueryFusionRetriever(
            [vector, _keyword_retriever(loaded)],
            mode=FUSION_MODES.RECIPROCAL_RANK,
            similarity_top_k=top_k,
            num_queries=1,  # no query rewriting: that needs an LLM
            use_async=False,
            llm=MockLLM(),  # never called with num_queries=1; avoids resolving a default LLM
        )

    def search(
        self,
        query: str,
        top_k: int = 5,
        hybrid: bool = True,
        generation: Generation | None = None,
    ) -> list[NodeWithScore]:
        """The `top_k` chunks for `query`, best first, from `generation` (default: the live one)."""
        with self._server_errors():
            try:
                return self._retriever_for(self._load(generation), top_k, hybrid).retrieve(query)
            except (NotFoundError, FileNotFoundError):
                # A re-index dropped the generation between resolving and querying.
                self._loaded = None
                return self._retriever_for(self._load(), top_k, hybrid).retrieve(query)

    def _retriever_for(self, loaded: _LoadedGeneration, top_k: int, hybrid: bool) -> BaseRetriever:
        key = (top_k, hybrid)
        retriever = loaded.retrievers.get(key)
        if retriever is None:
            retriever = loaded.retrievers[key] = self._build_retriever(loaded, top_k, hybrid)
        return retriever

    def articles(self) -> list[dict[str, str]]:
        """One entry per indexed article: doc_id, title, published, url, outlet."""
        with self._server_errors():
            generation = self.generation()
            loaded = self._load(generation)
            if loaded.articles is None:
                catalog = loaded.catalog or self.store.catalog(generation)
                listed = [
                    {"doc_id": doc_id} | {key: str(entry.get(key) or "") for key in ARTICLE_FIELDS}
                    for doc_id, entry in catalog.entries.items()
                ]
                loaded.articles = sorted(listed, key=lambda a: (a["published"], a["title"]))
        return list(loaded.articles)


def _vector_retriever(loaded: _LoadedGeneration, top_k: int) -> BaseRetriever:
    layers = [layer for layer in loaded.layers if layer.chunks]
    if loaded.catalog is None:
        return loaded.layers[0].vector_index.as_retriever(similarity_top_k=top_k)
    depth = max(top_k, LAYER_CANDIDATES)
    return LayeredRetriever(
        [
            (loaded.layers.index(layer), layer.vector_index.as_retriever(similarity_top_k=depth))
            for layer in layers
        ],
        loaded.catalog,
        top_k,
    )


def _keyword_retriever(loaded: _LoadedGeneration) -> BaseRetriever:
    with_bm25 = [(n, layer.bm25) for n, layer in enumerate(loaded.layers) if layer.bm25]
    if loaded.catalog is None:
        return with_bm25[0][1]
    return LayeredRetriever(list(with_bm25), loaded.catalog, CANDIDATES_PER_RETRIEVER)
