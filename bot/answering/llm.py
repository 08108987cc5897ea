"""LLM answers: an OpenAI-compatible model writes, the citation check keeps it honest.

Any failure of the model (timeout, rate limit, server error, bad key, output
that cannot be used) falls back to the extractive answer with a short notice.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import TYPE_CHECKING

from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.llms.openai_like import OpenAILike

from bot.answering.answer import Answer
from bot.answering.citation_check import check_citations
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.followup import is_followup, resolve_followup
from bot.answering.memory import Turn
from bot.answering.prompts import prompt, refusal
from bot.settings import BotSettings

if TYPE_CHECKING:
    from bot.answering.engine import AnswerEngine

log = logging.getLogger(__name__)

LLM_UNAVAILABLE = "The language model did not answer, so this answer is quoted from the articles."
LLM_UNSUPPORTED = (
    "The language model's answer was not supported by the articles, "
    "so this answer is quoted from them."
)


def build_llm(settings: BotSettings) -> OpenAILike:
    """The configured OpenAI-compatible chat model (OpenAI itself when no base URL is set)."""
    return OpenAILike(
        model=settings.openai_model,
        api_base=settings.openai_base_url or "https://api.openai.com/v1",
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else "",
        is_chat_model=True,
        context_window=16_000,
        timeout=settings.llm_timeout,
        max_retries=1,
        temperature=0.0,
    )


class LlmAnswerer:
    """Condense the follow-up, retrieve, ask the model with numbered sources, check citations."""

    def __init__(self, settings: BotSettings, extractive: ExtractiveAnswerer):
        self.settings = settings
        self.extractive = extractive
        self.llm = build_llm(settings)

    def standalone_question(self, question: str, history: list[Turn]) -> str:
        """The follow-up rewritten to stand alone (the offline rule if the model fails)."""
        if not history or not is_followup(question):
            return question
        transcript = "\n".join(f"User: {t.question}\nAssistant: {t.answer}" for t in history[-3:])
        try:
            text = self.llm.complete(
                prompt("condense").format(history=transcript, question=question)
            ).text.strip()
        except Exception as error:  # any model failure: fall back to the offline rule
            log.warning("condensing the follow-up failed: %s", type(error).__name__)
            return resolve_followup(question, history)
        return text.splitlines()[0].strip() if text else resolve_followup(question, history)

    def stream(
        self, question: str, history: list[Turn], engine: AnswerEngine
    ) -> Generator[str, None, Answer]:
        """Yield the answer text as it grows; return the checked `Answer`."""
        standalone = self.standalone_question(question, history)
        chunks = engine.index.search(standalone, top_k=self.settings.top_k)
        sources = "\n\n".join(
            f"[{n}] {hit.node.metadata.get('title', '')}\n{hit.node.get_content().strip()}"
            for n, hit in enumerate(chunks, 1)
        )
        messages = [
            ChatMessage(
                role=MessageRole.SYSTEM, content=prompt("system").format(refusal=refusal())
            ),
            ChatMessage(
                role=MessageRole.USER,
                content=prompt("answer").format(
                    sources=sources, question=standalone, refusal=refusal()
                ),
            ),
        ]
        text = ""
        try:
            for delta in self.llm.stream_chat(messages):
                grown = delta.message.content or ""
                if len(grown) > len(text):  # the closing chunk repeats the text: skip it
                    text = grown
                    yield text
        except Exception as error:  # timeout, 429, 5xx, bad key, malformed output
            log.warning("the LLM failed (%s); answering extractively", type(error).__name__)
            return self._fallback(engine, question, standalone, LLM_UNAVAILABLE)
        if text.strip() == refusal() or (refusal().rstrip(".") in text and "[" not in text):
            return Answer(refusal(), True, "llm", [], "passed", None, standalone)
        checked = check_citations(text, chunks, self.extractive)
        if checked.outcome == "fallback":
            return self._fallback(engine, question, standalone, LLM_UNSUPPORTED)
        return Answer(
            answer=checked.text,
            abstained=False,
            mode="llm",
            citations=checked.citations,
            check=checked.outcome,
            standalone_question=standalone,
        )

    @staticmethod
    def _fallback(engine: AnswerEngine, question: str, standalone: str, notice: str) -> Answer:
        answer = engine.answer_extractively(question, standalone)
        answer.check = "fallback"
        answer.notice = notice
        return answer
