"""Configuration of the answer engine and front ends (see `.env.example`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from index.settings import IndexSettings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class LogSettings(BaseSettings):
    """How much storybot logs; read on its own so a bad other setting cannot hide it."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    log_level: LogLevel = Field("WARNING", validation_alias="STORYBOT_LOG_LEVEL")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class BotSettings(IndexSettings):
    """Index settings plus conversations, answering and the optional LLM."""

    memory_path: Path = Field(Path("data/memory.sqlite3"), validation_alias="STORYBOT_MEMORY")
    memory_turns: int = Field(6, ge=1, validation_alias="STORYBOT_MEMORY_TURNS")
    memory_ttl_hours: float = Field(24.0, gt=0, validation_alias="STORYBOT_MEMORY_TTL_HOURS")
    top_k: int = Field(5, ge=1, le=20, validation_alias="STORYBOT_TOP_K")
    # A maintainer's own copy of prompts/ (templates, refusal, example questions).
    prompts_dir: Path | None = Field(None, validation_alias="STORYBOT_PROMPTS_DIR")

    openai_model: str = Field("gpt-4o-mini", validation_alias="OPENAI_MODEL")
    llm_timeout: float = Field(30.0, gt=0, validation_alias="STORYBOT_LLM_TIMEOUT")

    # Telegram front end.
    telegram_bot_token: SecretStr | None = Field(None, validation_alias="TELEGRAM_BOT_TOKEN")
    telegram_base_url: str = Field("https://api.telegram.org", validation_alias="TELEGRAM_BASE_URL")
    webhook_url: str | None = Field(None, validation_alias="TELEGRAM_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(None, validation_alias="TELEGRAM_WEBHOOK_SECRET")
    webhook_listen: str = Field("127.0.0.1", validation_alias="TELEGRAM_WEBHOOK_LISTEN")
    webhook_port: int = Field(8443, validation_alias="TELEGRAM_WEBHOOK_PORT")
    allowed_chat_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), validation_alias="ALLOWED_CHAT_IDS"
    )
    allowed_user_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), validation_alias="ALLOWED_USER_IDS"
    )
    questions_per_minute: int = Field(10, ge=1, validation_alias="STORYBOT_QUESTIONS_PER_MINUTE")
    max_question_chars: int = Field(1000, ge=10, validation_alias="STORYBOT_MAX_QUESTION_CHARS")
    # Telegram's flood limit for a bot's messages overall (0 = none, for a local Bot API server).
    telegram_messages_per_second: float = Field(
        30, ge=0, validation_alias="STORYBOT_TELEGRAM_MESSAGES_PER_SECOND"
    )
    feedback_path: Path = Field(Path("data/feedback.sqlite3"), validation_alias="STORYBOT_FEEDBACK")

    @field_validator("allowed_chat_ids", "allowed_user_ids", mode="before")
    @classmethod
    def _id_list(cls, value: object) -> object:
        """Comma- or space-separated ids in the environment; empty means everyone."""
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(",", " ").split())
        return value

    @property
    def llm_enabled(self) -> bool:
        """LLM answers when an API key is configured; extractive answers otherwise."""
        return self.openai_api_key is not None
