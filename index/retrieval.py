"""Retrieval over the live index generation."""

from __future__ import annotations

from chromadb.errors import NotFoundError
from llama_index.core import VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.embeddings import build_embed_model, embed_model_id
from index.settings import IndexSettings
from index.store import Generation, StoryStore, connect


class StoryIndex:
    """The read side of the store: follows the live generation across re-indexing."""

    def __init__(self, settings: IndexSettings, embed_model: BaseEmbedding | None = None):
        self.settings = settings
        self.store = StoryStore(connect(settings))
        self.model_id = embed_model_id(settings)
        self.embed_model = embed_model or build_embed_model(settings)
        self._cached: tuple[str, VectorStoreIndex] | None = None

    def generation(self) -> Generation:
        """The live generation, checked against the configured embedding model."""
        return self.store.live_for(self.model_id)

    def vector_index(self) -> VectorStoreIndex:
        """A LlamaIndex index over the live generation (re-resolved on every call)."""
        generation = self.generation()
        if self._cached is None or self._cached[0] != generation.name:
            vector_store = ChromaVectorStore(chroma_collection=generation.collection)
            index = VectorStoreIndex.from_vector_store(vector_store, embed_model=self.embed_model)
            self._cached = (generation.name, index)
        return self._cached[1]

    def search(self, query: str, top_k: int = 5) -> list[NodeWithScore]:
        """The `top_k` chunks closest to `query`, best first."""
        try:
            return self.vector_index().as_retriever(similarity_top_k=top_k).retrieve(query)
        except NotFoundError:
            # A re-index dropped the generation between resolving and querying.
            self._cached = None
            return self.vector_index().as_retriever(similarity_top_k=top_k).retrieve(query)
