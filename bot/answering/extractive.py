"""Extractive answers: the sentence or two of the articles that answer the question.

Every retrieved chunk is split into sentences (with their offsets in the
article), and each sentence is scored on three things:
- meaning: cosine similarity of its embedding to the question's;
- words: the share of the question's content words it contains, each weighted
  by how rare it is in the corpus (IDF), so names and topic words count most;
- kind: whether it offers the kind of answer asked for (a date for "when",
  a number for "how many", a name for "who", ...).
The best sentence answers; a close second joins it when there is room. The
answer is only words of the articles, with [n] markers.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from llama_index.core.schema import NodeWithScore

from bot.answering.answer import Answer, AnswerMode, Citation
from bot.answering.questions import AnswerKind, Question, content_terms, kind_match
from bot.answering.vectors import SentenceVectors
from index.sentences import Sentence, chunk_offset, split_sentences

# Weights of meaning, words and kind in a sentence's score, and the score
# below which the bot abstains: calibrated on the dev set's in-scope and
# out-of-scope questions (`storybot eval` prints both rates).
W_MEANING, W_WORDS, W_KIND = 0.45, 0.40, 0.15
ABSTAIN_BELOW = 0.43
# A second sentence joins the first when it is among the next few, scores
# this close and fits; the kind of answer asked for decides between them.
SECOND_SENTENCE_RATIO = 0.75
SECOND_SENTENCE_POOL = 6
# ...or, when it offers the kind of answer asked for and the best does not
# (a date where the best has only "late July"), from further behind.
KIND_RUNNER_UP_RATIO = 0.6
MAX_ANSWER_CHARS = 340


class TermStats:
    """Document frequencies of content terms over the chunks of one index generation."""

    def __init__(self, texts: Iterable[str]):
        self.df: Counter[str] = Counter()
        self.n = 0
        for text in texts:
            self.n += 1
            self.df.update(set(content_terms(text)))

    def idf(self, term: str) -> float:
        # A term the corpus never uses gets the highest weight: asking about
        # it is asking about something the articles do not cover.
        return math.log((self.n + 1) / (self.df.get(term, 0) + 0.5))


@dataclass
class ScoredSentence:
    sentence: Sentence
    meta: dict
    score: float
    meaning: float
    words: float
    kind: float


class ExtractiveAnswerer:
    """Chooses answer sentences from retrieved chunks."""

    def __init__(self, vectors: SentenceVectors, refusal: str):
        self.vectors = vectors
        self.refusal = refusal

    def score(
        self, question: Question, chunks: list[NodeWithScore], stats: TermStats
    ) -> list[ScoredSentence]:
        """Every distinct sentence of the chunks, best first."""
        candidates: dict[str, tuple[Sentence, dict]] = {}
        for hit in chunks:
            node = hit.node
            for sentence in _chunk_sentences(node.get_content(), chunk_offset(node)):
                # A question in the article (a sub-heading, say) never answers one.
                if not sentence.text.endswith("?"):
                    candidates.setdefault(sentence.text, (sentence, node.metadata))
        if not candidates:
            return []
        texts = list(candidates)
        meanings = self.vectors.texts(texts) @ self.vectors.query(question.search_text)
        weights = {t: stats.idf(t) for t in question.terms}
        total = sum(weights.values()) or 1.0
        scored = []
        for text, meaning in zip(texts, meanings, strict=True):
            present = _sentence_terms(text)
            words = sum(w for t, w in weights.items() if t in present) / total
            if question.kind is AnswerKind.OTHER:
                kind = 0.0
                score = (W_MEANING * meaning + W_WORDS * words) / (W_MEANING + W_WORDS)
            else:
                kind = kind_match(question.kind, text, question.text)
                score = W_MEANING * meaning + W_WORDS * words + W_KIND * kind
            sentence, meta = candidates[text]
            scored.append(ScoredSentence(sentence, meta, float(score), float(meaning), words, kind))
        scored.sort(key=lambda s: s.score, reverse=True)
        return scored

    def answer(self, question: Question, chunks: list[NodeWithScore], stats: TermStats) -> Answer:
        """The best sentence(s) as an answer with citations, or an abstention."""
        scored = self.score(question, chunks, stats)
        if not scored or scored[0].score < ABSTAIN_BELOW:
            return abstention(question, "extractive", self.refusal)
        chosen = [scored[0]]
        second = self._second_sentence(scored)
        if second is not None:
            chosen.append(second)
        citations = [citation(i, s.sentence, s.meta) for i, s in enumerate(chosen, 1)]
        text = " ".join(
            f"{s.sentence.text} [{c.n}]" for s, c in zip(chosen, citations, strict=True)
        )
        return Answer(
            answer=text,
            abstained=False,
            mode="extractive",
            citations=tuple(citations),
            standalone_question=question.search_text,
        )

    @staticmethod
    def _second_sentence(scored: list[ScoredSentence]) -> ScoredSentence | None:
        """A close runner-up that fits beside the best, preferring the kind of answer asked."""
        best = scored[0]
        room = MAX_ANSWER_CHARS - len(best.sentence.text)
        runners_up = [
            s
            for s in scored[1:SECOND_SENTENCE_POOL]
            if s.score
            >= (KIND_RUNNER_UP_RATIO if s.kind > best.kind else SECOND_SENTENCE_RATIO) * best.score
            and len(s.sentence.text) <= room
            and not _near_duplicate(s.sentence.text, best.sentence.text)
        ]
        return max(runners_up, key=lambda s: (s.kind, s.score), default=None)


def citation(n: int, sentence: Sentence, meta: dict) -> Citation:
    """Source [n] quoting `sentence` of the article described by chunk metadata `meta`."""
    return Citation(
        n=n,
        title=str(meta.get("title", "")),
        source=str(meta.get("url") or meta.get("doc_id", "")),
        quote=sentence.text,
        published=str(meta.get("published") or ""),
        url=str(meta.get("url") or ""),
        doc_id=str(meta.get("doc_id", "")),
        start=sentence.start,
        end=sentence.end,
    )


def abstention(question: Question, mode: AnswerMode, refusal: str) -> Answer:
    """The refusal: the articles do not answer `question`."""
    return Answer(
        answer=refusal, abstained=True, mode=mode, standalone_question=question.search_text
    )


# Chunks and their sentences come back question after question; splitting and
# stemming them again was a fifth of the cost of an answer.
@functools.lru_cache(maxsize=4096)
def _chunk_sentences(text: str, offset: int) -> tuple[Sentence, ...]:
    return tuple(split_sentences(text, offset=offset))


@functools.lru_cache(maxsize=20_000)
def _sentence_terms(text: str) -> frozenset[str]:
    return frozenset(content_terms(text))


def _near_duplicate(a: str, b: str) -> bool:
    ta, tb = _sentence_terms(a), _sentence_terms(b)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.6
