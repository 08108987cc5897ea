"""Configuration of the searchable story, read from the environment and `.env`.

Every setting is documented in `.env.example`; the environment variable names
are the ones listed there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # Threads and batch size of the local ONNX model: measured best on 2 cores
    # (bench/index_speed.py); padding is to the longest input of each batch.
    embed_threads: int = Field(2, ge=1, validation_alias="STORYBOT_EMBED_THREADS")
    embed_batch_size: int = Field(8, ge=1, validation_alias="STORYBOT_EMBED_BATCH_SIZE")
    openai_embed_model: str = Field("text-embedding-3-small", validation_alias="OPENAI_EMBED_MODEL")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")

    # Chunking, chosen by measurement (bench/chunking_sweep.py).
    chunk_size: int = Field(128, ge=32, validation_alias="STORYBOT_CHUNK_SIZE")
    chunk_overlap: int = Field(16, ge=0, validation_alias="STORYBOT_CHUNK_OVERLAP")

    chroma_host: str | None = Field(None, validation_alias="CHROMA_HOST")
    chroma_port: int = Field(8000, validation_alias=AliasChoices("CHROMA_PORT"))
