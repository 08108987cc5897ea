"""LLM answers: an OpenAI-compatible model writes, the citation check keeps it honest.

The answerer never answers extractively itself: when the model fails (timeout,
rate limit, server error, bad key) or writes something the sources do not
support, it raises `FallBack` with a notice, and the engine decides what to
answer instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator

from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.schema import NodeWithScore
from llama_index.llms.openai_like import OpenAILike

from bot.answering.answer import Answer
from bot.answering.citation_check import check_citations
from bot.answering.followup import is_followup, resolve
from bot.answering.memory import Turn
from bot.answering.prompts import Prompts
from bot.answering.vectors import SentenceVectors
from bot.settings import BotSettings

log = logging.getLogger(__name__)

LLM_UNAVAILABLE = "The language model did not answer, so this answer is quoted from the articles."
LLM_UNSUPPORTED = (
    "The language model's answer was not supported by the articles, "
    "so this answer is quoted from them."
)

Search = Callable[[str], list[NodeWithScore]]


class FallBack(Exception):
    """The model's answer cannot be used: answer another way and tell the user `notice`."""

    def __init__(self, notice: str):
        super().__init__(notice)
        self.notice = notice


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

    def __init__(
        self, llm: LLM, search: Search, vectors: SentenceVectors, prompts: Prompts
    ) -> None:
        self.llm = llm
        self.search = search
        self.vectors = vectors
        self.prompts = prompts

    def standalone_question(self, question: str, history: list[Turn]) -> str:
        """The follow-up rewritten to stand alone (the offline rule if the model fails)."""
        if not history or not is_followup(question):
            return question
        transcript = "\n".join(f"User: {t.question}\nAssistant: {t.answer}" for t in history[-3:])
        condense = self.prompts.template("condense")
        try:
            text = self.llm.complete(condense.format(history=transcript, question=question))
        except Exception as error:  # any model failure: fall back to the offline rule
            log.warning("condensing the follow-up failed: %s", type(error).__name__)
            return resolve(question, history).standalone
        first_line = text.text.strip().splitlines()[0].strip() if text.text.strip() else ""
        return first_line or resolve(question, history).standalone

    def stream(self, standalone: str) -> Generator[str, None, Answer]:
        """Yield the answer text as it grows; return the checked `Answer`, or raise FallBack."""
        chunks = self.search(standalone)
        sources = "\n\n".join(
            f"[{n}] {hit.node.metadata.get('title', '')}\n{hit.node.get_content().strip()}"
            for n, hit in enumerate(chunks, 1)
        )
        refusal = self.prompts.refusal
        messages = [
            ChatMessage(
                role=MessageRole.SYSTEM,
                content=self.prompts.template("system").format(refusal=refusal),
            ),
            ChatMessage(
                role=MessageRole.USER,
                content=self.prompts.template("answer").format(
                    sources=sources, question=standalone, refusal=refusal
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
            raise FallBack(LLM_UNAVAILABLE) from error
        if text.strip() == refusal or (refusal.rstrip(".") in text and "[" not in text):
            return Answer(
                answer=refusal,
                abstained=True,
                mode="llm",
                check="passed",
                standalone_question=standalone,
            )
        checked = check_citations(text, chunks, self.vectors)
        if checked.outcome == "fallback":
            raise FallBack(LLM_UNSUPPORTED)
        return Answer(
            answer=checked.text,
            abstained=False,
            mode="llm",
            citations=tuple(checked.citations),
            check=checked.outcome,
            standalone_question=standalone,
        )
