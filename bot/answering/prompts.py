"""Prompt templates, kept as files in `prompts/` so they can be read and changed without code."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from llama_index.core.prompts import PromptTemplate

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@cache
def prompt(name: str) -> PromptTemplate:
    """The template `prompts/NAME.txt`."""
    return PromptTemplate((PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8").strip())


@cache
def refusal() -> str:
    """What the bot says when the articles do not answer (both answer modes)."""
    return (PROMPTS_DIR / "refusal.txt").read_text(encoding="utf-8").strip()
