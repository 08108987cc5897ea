"""Checking an LLM's citations against the sources it was given.

Each sentence of the LLM's answer must end with [n] markers; each marker must
point to a source that supports the sentence: enough of the sentence's content
words appear in one sentence of that source, or the two mean nearly the same
(embedding cosine). Unsupported markers are removed, sentences left without a
supported marker are dropped, and each kept marker cites the exact source
sentence that supports it best.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from llama_index.core.schema import NodeWithScore

from bot.answering.answer import CheckOutcome, Citation
from bot.answering.extractive import citation
from bot.answering.vectors import SentenceVectors
from index.sentences import Sentence, chunk_offset, split_sentences
from index.terms import content_terms

_MARKER = re.compile(r"\s*\[(\d+)\]")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
# A source sentence supports a claim when it holds this share of the claim's
# content words, or when their embeddings are this close. Calibrated with
# bench/citation_support.py: 99.7% of true supports pass, 9% of the hardest
# false ones do.
MIN_WORD_SUPPORT = 0.6
MIN_MEANING_SUPPORT = 0.75


@dataclass(frozen=True)
class CheckedAnswer:
    """The answer as the sources support it, and how much was taken out."""

    text: str
    citations: list[Citation]
    removed_markers: int
    dropped_sentences: int

    @property
    def outcome(self) -> CheckOutcome:
        if not self.citations:
            return "fallback"
        return "repaired" if self.removed_markers or self.dropped_sentences else "passed"


def check_citations(
    answer: str, sources: list[NodeWithScore], vectors: SentenceVectors
) -> CheckedAnswer:
    """Keep only the sentences and markers of `answer` that `sources` support."""
    source_sentences = [
        split_sentences(hit.node.get_content(), offset=chunk_offset(hit.node)) for hit in sources
    ]
    kept: list[str] = []
    citations: dict[tuple[int, int], Citation] = {}
    removed = dropped = 0
    for sentence in split_sentences(answer.replace("\n", " ")):
        markers = [int(n) for n in _MARKER.findall(sentence.text)]
        claim = _MARKER.sub("", sentence.text).strip()
        supported: list[int] = []
        for n in dict.fromkeys(markers):
            best = (
                _best_support(claim, source_sentences[n - 1], vectors)
                if 0 < n <= len(sources)
                else None
            )
            if best is None:
                removed += 1
                continue
            key = (n, best.start)
            if key not in citations:
                citations[key] = citation(len(citations) + 1, best, sources[n - 1].node.metadata)
            supported.append(citations[key].n)
        if not supported or not claim:
            dropped += 1
            continue
        body = claim.rstrip()
        kept.append(body + " " + "".join(f"[{n}]" for n in dict.fromkeys(supported)))
    return CheckedAnswer(" ".join(kept), list(citations.values()), removed, dropped)


def support_scores(
    claim: str, candidates: list[Sentence], vectors: SentenceVectors
) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate: the share of the claim's content words it holds, and the cosine."""
    terms = set(content_terms(claim))
    words = np.array(
        [len(terms & set(content_terms(s.text))) / max(1, len(terms)) for s in candidates]
    )
    meaning = vectors.texts([s.text for s in candidates]) @ vectors.text(claim)
    return words, meaning


def _best_support(
    claim: str, candidates: list[Sentence], vectors: SentenceVectors
) -> Sentence | None:
    """The source sentence that supports `claim` best, if any supports it enough."""
    if not candidates or not content_terms(claim):
        return None
    # A number in a claim is its most checkable fact: the source must state it.
    numbers = set(_NUMBER.findall(claim))
    eligible = [i for i, s in enumerate(candidates) if numbers <= set(_NUMBER.findall(s.text))]
    if not eligible:
        return None
    words, meaning = support_scores(claim, candidates, vectors)
    best = max(eligible, key=lambda i: words[i] + meaning[i])
    if words[best] >= MIN_WORD_SUPPORT or meaning[best] >= MIN_MEANING_SUPPORT:
        return candidates[best]
    return None
