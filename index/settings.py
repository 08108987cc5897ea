"""Configuration of the searchable story, read from the environment and `.env`.

Every setting is documented in `.env.example`; the environment variable names
are the ones listed there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.namespaces import NAMESPACE_PATTERN


class IndexSettings(BaseSettings):
    """Where the corpus and the store live, and which embedding model builds the store."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    corpus_dir: Path = Field(Path("corpus"), validation_alias="STORYBOT_CORPUS")
    store_dir: Path = Field(Path("data/chroma"), validation_alias="STORYBOT_STORE")

    embed_backend: Literal["local", "openai"] = Field(
        "local", validation_alias="STORYBOT_EMBED_BACKEND"
    )
    # Runs of the local ONNX model at once, one thread each (bench/index_speed.py).
    embed_threads: int = Field(2, ge=1, validation_alias="STORYBOT_EMBED_THREADS")
    # Where the local model, prepared for int8 arithmetic on first use, is cached.
    model_cache_dir: Path | None = Field(None, validation_alias="STORYBOT_MODEL_CACHE")
    openai_embed_model: str = Field("text-embedding-3-small", validation_alias="OPENAI_EMBED_MODEL")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")

    # Chunking, chosen by measurement (bench/retrieval_ranks.py).
    chunk_size: int = Field(128, ge=32, validation_alias="STORYBOT_CHUNK_SIZE")
    chunk_overlap: int = Field(16, ge=0, validation_alias="STORYBOT_CHUNK_OVERLAP")

    chroma_host: str | None = Field(None, validation_alias="CHROMA_HOST")
    chroma_port: int = Field(8000, validation_alias=AliasChoices("CHROMA_PORT"))
    # How long to wait for the Chroma server's reply before naming it as not answering.
    chroma_timeout: float = Field(
        30.0, gt=0, le=3600, allow_inf_nan=False, validation_alias="CHROMA_TIMEOUT"
    )

    # One story's collections (and Redis keys) on a store shared by several stories.
    namespace: str = Field(
        "default", pattern=NAMESPACE_PATTERN, validation_alias="STORYBOT_NAMESPACE"
    )
    # The shared engine for what must outlive one machine: the indexers' lock and the
    # BM25 files with CHROMA_HOST, conversation memory and feedback for the bot.
    redis_url: str | None = Field(None, validation_alias="STORYBOT_REDIS_URL")
