"""Configuration of the answer engine and front ends (see `.env.example`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from index.settings import IndexSettings


class BotSettings(IndexSettings):
    """Index settings plus conversations, answering and the optional LLM."""

    memory_path: Path = Field(Path("data/memory.sqlite3"), validation_alias="STORYBOT_MEMORY")
    memory_turns: int = Field(6, ge=1, validation_alias="STORYBOT_MEMORY_TURNS")
    memory_ttl_hours: float = Field(24.0, gt=0, validation_alias="STORYBOT_MEMORY_TTL_HOURS")
    top_k: int = Field(5, ge=1, le=20, validation_alias="STORYBOT_TOP_K")

    openai_model: str = Field("gpt-4o-mini", validation_alias="OPENAI_MODEL")
    llm_timeout: float = Field(30.0, gt=0, validation_alias="STORYBOT_LLM_TIMEOUT")

    @property
    def llm_enabled(self) -> bool:
        """LLM answers when an API key is configured; extractive answers otherwise."""
        return self.openai_api_key is not None
