"""Prompt templates and fixed texts, read from the `prompts` package or a maintainer's folder.

The files are package data, so an installed storybot finds them wherever it
runs; `STORYBOT_PROMPTS_DIR` replaces the whole folder with another copy.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from llama_index.core.prompts import PromptTemplate

from bot.errors import PromptsError


class Prompts:
    """The `NAME.txt` files: LLM templates, the refusal, the example questions."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory

    @cache  # noqa: B019  (a handful of small files, read once per Prompts)
    def text(self, name: str) -> str:
        """The file's text, stripped; PromptsError naming the file if it cannot be read."""
        source = self.directory or resources.files("prompts")
        path = source / f"{name}.txt"
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise PromptsError(f"{path}: cannot read the prompt file ({error})") from None

    def template(self, name: str) -> PromptTemplate:
        """The LLM prompt template `NAME.txt`."""
        return PromptTemplate(self.text(name))

    @property
    def refusal(self) -> str:
        """What the bot says when the articles do not answer (both answer modes)."""
        return self.text("refusal")

    @property
    def examples(self) -> list[str]:
        """Example questions about the story, one a line, for /start and usage hints."""
        return [line.strip() for line in self.text("examples").splitlines() if line.strip()]
