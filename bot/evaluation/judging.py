"""Judging an answer: does it state the expected facts, and do its quotes prove them?

Only string checks, no judge model: case-insensitive whole words, curly and
straight quotes alike, quotes and full stops around a fact ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.evaluation.dataset import Dialogue, Mode

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
_AROUND_FACT = " \"'.,"


def normalise(text: str) -> str:
    """Text as facts are looked for in it: curly quotes straightened, spacing collapsed."""
    return " ".join(text.translate(_QUOTES).split())


def fact_pattern(fact: str) -> re.Pattern[str]:
    """A fact as whole words, case-insensitive; quotes and spacing unified.

    '85' is found in 'Loach, 85, said' but not in '1985'; quotes and full stops
    around the fact ('"Resist".') are not part of it.
    """
    core = normalise(fact).strip(_AROUND_FACT) or normalise(fact)
    return re.compile(rf"(?<!\w){re.escape(core)}(?!\w)", re.IGNORECASE)


def fact_in(text: str, fact: str) -> bool:
    """Whether `text` states `fact` (see `fact_pattern`)."""
    return fact_pattern(fact).search(normalise(text)) is not None


def facts_found(text: str, facts: Sequence[str], mode: Mode) -> bool:
    """All (mode 'all') or any (mode 'any') of `facts` in `text`; never true without facts."""
    if not facts:
        return False
    test = all if mode == "all" else any
    return test(fact_in(text, fact) for fact in facts)


def facts_cited(quotes: Sequence[str], facts: Sequence[str], mode: Mode) -> bool:
    """Every fact (all) or some fact (any) in at least one quote, each on its own."""
    if not facts:
        return False
    test = all if mode == "all" else any
    return test(any(fact_in(quote, fact) for quote in quotes) for fact in facts)


def retrieval_rank(chunks: Iterable[str], facts: Sequence[str], mode: Mode) -> int | None:
    """1-based rank of the first chunk that holds the facts (as `facts_found`), else None."""
    for rank, text in enumerate(chunks, 1):
        if facts_found(text, facts, mode):
            return rank
    return None


@dataclass(frozen=True)
class DialogueResult:
    """One dialogue as asked: its last answer, the quotes cited, retrieval, timings."""

    dialogue: Dialogue
    answer: str
    abstained: bool
    quotes: tuple[str, ...] = ()
    # Rank of the first of the top-k chunks retrieved for the last (resolved) question
    # that holds the facts; None when none does, or when retrieval was not measured.
    rank: int | None = None
    ranked: bool = True  # False: retrieval was not measured; hit@k and MRR leave it out
    latencies_ms: tuple[float, ...] = ()  # one per turn
    standalone: str = ""  # the last question as searched (a follow-up resolved)
    confidence: float | None = None  # the reader's estimate that the last answer is right

    @property
    def correct(self) -> bool:
        """In scope: answered and the answer holds the facts. Out of scope: abstained."""
        if not self.dialogue.in_scope:
            return self.abstained
        return not self.abstained and facts_found(
            self.answer, self.dialogue.facts, self.dialogue.mode
        )

    @property
    def cited(self) -> bool:
        """In scope, answered, and the facts are in the cited quotes (not only the answer)."""
        return (
            self.dialogue.in_scope
            and not self.abstained
            and facts_cited(self.quotes, self.dialogue.facts, self.dialogue.mode)
        )

    def problem(self, cites: bool = True) -> str | None:
        """Why this result counts against the system, or None when it does not."""
        if not self.dialogue.in_scope:
            return None if self.abstained else "answered where it should have abstained"
        if self.abstained:
            return "abstained"
        if not self.correct:
            return "wrong answer"
        if cites and not self.cited:
            return "right answer, but the facts are not in a cited quote"
        return None
