"""What the engine returns: an answer with numbered citations of exact quotes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal


@dataclass(frozen=True)
class Citation:
    """Source [n]: the exact sentence(s) quoted from one article."""

    n: int
    title: str
    source: str  # the article's url, or its id in the corpus
    quote: str
    published: str = ""
    url: str = ""
    doc_id: str = ""
    start: int = 0  # character offsets of the quote in the cleaned article text
    end: int = 0


AnswerMode = Literal["extractive", "llm"]
# What the citation check did to an LLM answer; "fallback": the extractive answer replaced it.
CheckOutcome = Literal["passed", "repaired", "fallback"]


@dataclass(frozen=True, kw_only=True)
class Answer:
    """One reply. `answer` carries [n] markers that refer to `citations`."""

    answer: str
    abstained: bool
    mode: AnswerMode
    citations: tuple[Citation, ...] = ()
    check: CheckOutcome | None = None
    # A short note for the user, e.g. that the LLM was unavailable.
    notice: str | None = None
    # The question as it was searched (a follow-up resolved against the conversation).
    standalone_question: str = ""
    # The reader's estimate that the answer is right (extractive mode), 0..1.
    confidence: float | None = None

    def to_json(self) -> dict:
        """The `--json` object of the CLI contract (plus a few extra keys)."""
        data = asdict(self)
        data["citations"] = [
            {
                "n": c.n,
                "title": c.title,
                "source": c.source,
                "quote": c.quote,
                "published": c.published,
                "url": c.url,
            }
            for c in self.citations
        ]
        return data
