"""The answer engine that every front end shares.

A question and a conversation id go in; an `Answer` (text with [n] markers,
the quoted passages behind them) comes out. Nothing here knows about
Telegram or the terminal.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

from bot.answering.answer import Answer, AnswerMode
from bot.answering.extractive import READER_CHUNKS, ExtractiveAnswerer
from bot.answering.followup import resolve, thread_replied_to
from bot.answering.llm import FallBack, LlmAnswerer, build_llm
from bot.answering.memory import Memory
from bot.answering.prompts import Prompts
from bot.answering.questions import Question
from bot.answering.shared_memory import open_memory
from bot.answering.vectors import SentenceVectors
from bot.settings import BotSettings
from index.retrieval import StoryIndex
from index.sentences import split_sentences
from index.store import Generation
from index.terms import TermStats


class AnswerEngine:
    """Retrieval, answering and memory behind one `ask` call.

    It receives its parts: the index to search, the conversation memory, the
    extractive reader, and optionally an LLM answerer. When the LLM answerer
    gives up (`FallBack`), the engine answers extractively with its notice.
    """

    def __init__(
        self,
        index: StoryIndex,
        memory: Memory,
        extractive: ExtractiveAnswerer,
        llm: LlmAnswerer | None = None,
        top_k: int = 5,
    ) -> None:
        self.index = index
        self.memory = memory
        self.extractive = extractive
        self.llm = llm
        self.top_k = top_k
        self._stats: tuple[str, TermStats] | None = None
        self._layer_stats: dict[str, TermStats] = {}
        self._stats_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: BotSettings, story_index: StoryIndex | None = None
    ) -> AnswerEngine:
        """The engine the settings describe: extractive, or with the LLM when a key is set."""
        index = story_index or StoryIndex(settings)
        prompts = Prompts(settings.prompts_dir)
        vectors = SentenceVectors(index.embed_model)
        memory = open_memory(settings)
        llm = None
        if settings.llm_enabled:
            llm = LlmAnswerer(
                build_llm(settings),
                search=lambda text: index.search(text, top_k=settings.top_k),
                vectors=vectors,
                prompts=prompts,
            )
        return cls(index, memory, ExtractiveAnswerer(vectors, prompts.refusal), llm, settings.top_k)

    @property
    def mode(self) -> AnswerMode:
        """How this engine answers: "llm" (with extractive fallback) or "extractive"."""
        return "extractive" if self.llm is None else "llm"

    def term_stats(self, generation: Generation | None = None) -> TermStats:
        """IDF statistics of `generation` (default: the live one): its layers' counts, which
        the indexer stored beside each layer, added up; recomputed after a re-index."""
        generation = generation or self.index.generation()
        store = self.index.store
        with self._stats_lock:
            if self._stats is None or self._stats[0] != generation.name:
                # Layers never change, so a re-index loads only the layer it added.
                self._layer_stats = {
                    layer.name: self._layer_stats.get(layer.name) or store.term_stats(layer)
                    for layer in generation.layers
                }
                self._stats = (generation.name, TermStats.combined(self._layer_stats.values()))
            return self._stats[1]

    def ask(self, conversation: str, question: str) -> Answer:
        """Answer `question` within `conversation`, and remember the turn."""
        answer = None
        for event in self.stream(conversation, question):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self, conversation: str, question: str, replying_to: str | None = None
    ) -> Iterator[str | Answer]:
        """Partial answer texts as an LLM writes them, then the final, checked `Answer`.

        `replying_to` is the text of the answer the question replies to (a Telegram
        reply): the question follows up that answer, not the latest one.
        """
        history = self.memory.turns(conversation)
        if replying_to is not None:
            history = thread_replied_to(history, replying_to)
        if self.llm is None:
            resolved = resolve(question, history)
            answer = self.answer_extractively(resolved.question, resolved.search_text)
        else:
            standalone = self.llm.standalone_question(question, history)
            try:
                answer = yield from self.llm.stream(standalone)
            except FallBack as fallback:
                answer = replace(
                    self.answer_extractively(question, standalone),
                    check="fallback",
                    notice=fallback.notice,
                )
        self.memory.add(conversation, question, answer.standalone_question, answer.answer)
        yield answer

    def answer_extractively(self, question: str, search_text: str) -> Answer:
        """The offline answer: sentences quoted from the best-matching chunks."""
        parsed = Question.parse(question, search_text)
        # One look at the index pointer per question: search and statistics share it.
        generation = self.index.generation()
        top_k = max(self.top_k, READER_CHUNKS)
        chunks = self.index.search(parsed.search_text, top_k=top_k, generation=generation)
        return self.extractive.answer(parsed, chunks, self.term_stats(generation))

    def warm_up(self, prefill_sentences: int = 1000) -> None:
        """Load the live index, BM25 and statistics, and embed the first sentences of the corpus.

        A bot calls this at start-up so the first questions wait for none of
        it; for a corpus of a few articles every sentence vector is cached.
        """
        stats = self.term_stats()
        self.extractive.read(Question.parse("warm up"), self.index.search("warm up", 1), stats)
        rows = self.index.generation().layers[0].get(include=["documents"], limit=200)
        sentences = [s.text for text in rows["documents"] or [] for s in split_sentences(text)]
        self.extractive.vectors.texts(sentences[:prefill_sentences] or ["warm up"])
        self.extractive.prefill_words(sentences[:prefill_sentences])

    def reset(self, conversation: str) -> None:
        """Forget a conversation."""
        self.memory.reset(conversation)

    def sources(self) -> list[dict[str, str]]:
        """The indexed articles: title, published, url."""
        return self.index.articles()
