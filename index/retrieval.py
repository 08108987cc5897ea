"""Retrieval over the live index generation: vector search, BM25, and both fused."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
from chromadb.errors import NotFoundError
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.retrievers import BaseRetriever, QueryFusionRetriever
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES
from llama_index.core.schema import BaseNode, NodeWithScore
from llama_index.retrievers.bm25 import BM25Retriever
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.embeddings import build_embed_model, embed_model_id
from index.errors import IndexNotBuiltError
from index.settings import IndexSettings
from index.store import Generation, chroma_unavailable, open_store

log = logging.getLogger(__name__)

# bm25s sets its own logger to DEBUG on import; its chatter is not ours to show.
logging.getLogger("bm25s").setLevel(logging.WARNING)

# Candidates each retriever contributes before fusion; measured with
# bench/retrieval_ranks.py (more adds noise, fewer loses facts).
CANDIDATES_PER_RETRIEVER = 8


def build_bm25(nodes: list[BaseNode]) -> BM25Retriever:
    """A BM25 index over chunks (English stemming), built by `storybot index`."""
    return BM25Retriever.from_defaults(
        nodes=nodes, similarity_top_k=min(CANDIDATES_PER_RETRIEVER, max(1, len(nodes)))
    )


@dataclass
class _LoadedGeneration:
    name: str
    vector_index: VectorStoreIndex
    bm25: BM25Retriever | None
    # Retrievers keep no state between queries; building one per query cost more
    # than the BM25 search (LlamaIndex tries optional imports each time).
    retrievers: dict[tuple[int, bool], BaseRetriever] = field(default_factory=dict)


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
            vector_store = ChromaVectorStore(chroma_collection=generation.collection)
            vector_index = VectorStoreIndex.from_vector_store(
                vector_store, embed_model=self.embed_model
            )
            bm25_dir = self.store.local_bm25(generation.name)
            # Memory-mapped: the chunk records and scores stay in the page cache, so a
            # bot's memory does not grow with the corpus (same results, bench/index_scale.py).
            bm25 = (
                BM25Retriever.from_persist_dir(str(bm25_dir), show_progress=False, mmap=True)
                if bm25_dir is not None
                else None
            )
            # Said once per generation, so a bot that lost its keyword index is not silent.
            if bm25 is None:
                log.warning("generation %s has no BM25 index: vector search only", generation.name)
            else:
                log.info("generation %s loaded: hybrid search (vectors + BM25)", generation.name)
            self._loaded = _LoadedGeneration(generation.name, vector_index, bm25)
        return self._loaded

    def retriever(self, top_k: int = 5, hybrid: bool = True) -> BaseRetriever:
        """Vector search fused with BM25 by reciprocal rank (vector only without BM25 files)."""
        return self._build_retriever(self._load(), top_k, hybrid)

    @staticmethod
    def _build_retriever(loaded: _LoadedGeneration, top_k: int, hybrid: bool) -> BaseRetriever:
        if not hybrid or loaded.bm25 is None:
            return loaded.vector_index.as_retriever(similarity_top_k=top_k)
        vector = loaded.vector_index.as_retriever(
            similarity_top_k=max(top_k, CANDIDATES_PER_RETRIEVER)
        )
        return QueryFusionRetriever(
            [vector, loaded.bm25],
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
        rows = self.generation().collection.get(include=["metadatas"])
        seen: dict[str, dict[str, str]] = {}
        for meta in rows["metadatas"] or []:
            seen.setdefault(
                str(meta["doc_id"]),
                {
                    k: str(meta.get(k) or "")
                    for k in ("doc_id", "title", "published", "url", "outlet")
                },
            )
        return sorted(seen.values(), key=lambda a: (a["published"], a["title"]))
