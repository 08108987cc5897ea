"""Sentence embeddings shared by the extractive reader and the citation check, cached.

The same sentences come back question after question (a corpus of a few
articles has a few hundred), so each is embedded once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding


class SentenceVectors:
    """Embeddings of texts by one model, with the most recent `cache_size` kept.

    `embed_batch` embeds the texts not kept, by default the model's own batch call.
    """

    def __init__(
        self,
        embed_model: BaseEmbedding,
        cache_size: int = 20_000,
        embed_batch: Callable[[list[str]], Sequence[Sequence[float]] | np.ndarray] | None = None,
    ):
        self.embed_model = embed_model
        self._embed_batch = embed_batch or embed_model.get_text_embedding_batch
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the Telegram bot answers from several threads

    def texts(self, texts: list[str]) -> np.ndarray:
        """One row per text, in order; unseen texts are embedded in one batch."""
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            vectors = self._embed_batch(missing)
            fresh = {
                t: np.asarray(v, dtype=np.float32) for t, v in zip(missing, vectors, strict=True)
            }
            known.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self._cache_size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def query(self, text: str) -> np.ndarray:
        """The embedding of a question (the model's query side)."""
        return np.asarray(self.embed_model.get_query_embedding(text), dtype=np.float32)

    def text(self, text: str) -> np.ndarray:
        """The embedding of one text, not cached (a claim of an LLM answer, say)."""
        return np.asarray(self.embed_model.get_text_embedding(text), dtype=np.float32)
