"""Extractive answers: the sentence or two of the articles that answer the question.

Every retrieved chunk is split into sentences (with their offsets in the
article); the fitted reader (`bot.answering.reader`) shortlists them by their
words, then scores the shortlist on meaning, the question's words each holds
or near-synonyms of them, whether it offers the kind of answer asked for,
retrieval rank and position. The best sentence answers, and a close second
joins it when there is room. The reader also estimates the probability that
the answer is right; below the cut chosen on dev data the bot says "The
articles don't say." The answer is only words of the articles, with [n]
markers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from llama_index.core.schema import NodeWithScore

from bot.answering.answer import Answer, AnswerMode, Citation
from bot.answering.questions import AnswerKind, Question
from bot.answering.reader import (
    MEANING_CANDIDATES,
    SENTENCE_FEATURES,
    Candidate,
    ReaderWeights,
    WordEvidence,
    WordVectors,
    confidence_features,
    held_words,
    sentence_features,
    sentence_terms,
    shortlist_features,
    sigmoid,
    surface_terms,
    word_evidence,
)
from bot.answering.vectors import SentenceVectors
from index.sentences import Sentence, chunk_offset, split_sentences
from index.terms import TermStats

# A second sentence joins the first when it is among the next few, its
# probability is at least this share of the best's and it fits; a list question
# takes one more readily, its items often being spread over two. 0.3 answered
# the most training questions right (0.2-0.4 alike; 0.8, the old rule's spirit, 8% fewer).
SECOND_SENTENCE_RATIO = 0.3
LIST_SECOND_SENTENCE_RATIO = 0.15
# ...or when it offers the kind of answer asked for better than the best does.
KIND_RUNNER_UP_RATIO = 0.15
SECOND_SENTENCE_POOL = 6
MAX_ANSWER_CHARS = 340
# Chunks handed to the reader: more than retrieval's top_k, since the fitted
# scorer picks the fact out of more distractors than the old weights could.
READER_CHUNKS = 8


@dataclass
class ScoredSentence:
    sentence: Sentence
    meta: dict
    score: float  # the reader's probability that it holds the answer
    logit: float


@dataclass
class Reading:
    """The candidates of one question, their features and scores, best first."""

    question: Question
    sentences: list[ScoredSentence]
    features: np.ndarray  # rows in the order of `sentences`
    evidence: dict[str, float]
    confidence: float  # probability that the composed answer is right
    chosen: list[int]  # positions in `sentences` of the answer's sentences, best first


class ExtractiveAnswerer:
    """Chooses answer sentences from retrieved chunks with the fitted reader."""

    def __init__(
        self, vectors: SentenceVectors, refusal: str, weights: ReaderWeights | None = None
    ):
        self.vectors = vectors
        self.refusal = refusal
        self.weights = weights or ReaderWeights.load()
        self.words = WordVectors(vectors.embed_model)

    def prefill_words(self, texts: Iterable[str]) -> None:
        """Embed the content words of `texts` ahead of the questions that need them."""
        self.words.prepare()
        self.words.get([w for text in texts for _, w in surface_terms(text)])

    def read(
        self,
        question: Question,
        chunks: list[NodeWithScore],
        stats: TermStats,
        withhold: Callable[[str], bool] | None = None,
        every_lift: bool = False,
    ) -> Reading:
        """The shortlisted sentences of the chunks with their features and scores, best first.

        Sentences for which `withhold` is true are read as if the articles did not have
        them (training shows the reader questions whose answer is not stated). The
        "lift" of a sentence is measured for the answer's sentences only, or for every
        one with `every_lift` (training, where other models choose the answer).
        """
        found = self.candidates(chunks, withhold)
        if not found:
            return Reading(question, [], np.zeros((0, 0)), {}, 0.0, [])
        everything = [c for _, _, c in found.values()]
        idf, words, ranked = self._words(question, everything, stats)
        first = self.weights.shortlist.logits(ranked)
        keep = list(np.argsort(-first, kind="stable")[:MEANING_CANDIDATES])
        shortlisted = [everything[i] for i in keep]
        texts = [c.text for c in shortlisted]
        titles = [c.title for c in shortlisted]
        kept = words.rows(keep)
        embedded = list(dict.fromkeys(texts + [t for t in titles if t]))
        query_vector = self.vectors.query(question.search_text)
        meaning_of = dict(
            zip(embedded, (self.vectors.texts(embedded) @ query_vector).tolist(), strict=True)
        )
        meanings = np.array([meaning_of[t] for t in texts])
        features, evidence = sentence_features(
            question,
            shortlisted,
            kept,
            meanings,
            np.array([meaning_of[t] if t else 0.0 for t in titles]),
            idf,
            self.words,
            frozenset(t for t in question.terms if not stats.df.get(t)),
        )
        doc_ids = {str(meta.get("doc_id", "")) for _, meta, _ in found.values()}
        evidence["articles"] = math.log1p(len(doc_ids))
        logits = self.weights.sentence.logits(features)
        order = np.argsort(-logits, kind="stable")
        scored = [
            ScoredSentence(
                found[texts[i]][0],
                found[texts[i]][1],
                float(sigmoid(logits[i])),
                float(logits[i]),
            )
            for i in order
        ]
        kinds = features[order, SENTENCE_FEATURES.index("kind_hit")]
        chosen = compose(scored, question.kind, [float(k) for k in kinds])
        answer_rows = [int(order[i]) for i in chosen]
        # Only the confidence reads it, of the answer's sentences: the others are left at 0.
        lifted = list(range(len(texts))) if every_lift else answer_rows
        features[lifted, SENTENCE_FEATURES.index("lift")] = self._lifts(
            question,
            [texts[i] for i in lifted],
            [kept.present[i] for i in lifted],
            meanings[lifted],
        )
        confidence = float(
            sigmoid(
                self.weights.confidence.logits(
                    confidence_features(logits, features, evidence, answer_rows)
                )
            )
        )
        return Reading(question, scored, features[order], evidence, confidence, chosen)

    def _lifts(
        self,
        question: Question,
        texts: list[str],
        present: list[frozenset[str]],
        meanings: np.ndarray,
    ) -> np.ndarray:
        """Each sentence's meaning minus its cosine to the question words it holds."""
        held = [held_words(question, terms) for terms in present]
        wanted = list(dict.fromkeys(texts + [h for h in held if h]))
        vectors = dict(zip(wanted, self.vectors.texts(wanted), strict=True))
        near = [
            float(vectors[h] @ vectors[t]) if h else 0.0 for t, h in zip(texts, held, strict=True)
        ]
        return meanings - np.array(near)

    def first_stage(
        self,
        question: Question,
        chunks: list[NodeWithScore],
        stats: TermStats,
        withhold: Callable[[str], bool] | None = None,
    ) -> tuple[list[str], np.ndarray]:
        """Every candidate sentence and its SHORTLIST_FEATURES (what the shortlist is fitted on)."""
        everything = [c for _, _, c in self.candidates(chunks, withhold).values()]
        return [c.text for c in everything], self._words(question, everything, stats)[2]

    @staticmethod
    def _words(
        question: Question, candidates: list[Candidate], stats: TermStats
    ) -> tuple[dict[str, float], WordEvidence, np.ndarray]:
        """The question terms' IDF, the candidates' word evidence and SHORTLIST_FEATURES."""
        idf = {t: stats.idf(t) for t in question.terms}
        words = word_evidence(question, candidates, idf)
        return idf, words, shortlist_features(question, candidates, words)

    @staticmethod
    def candidates(
        chunks: list[NodeWithScore], withhold: Callable[[str], bool] | None = None
    ) -> dict[str, tuple[Sentence, dict, Candidate]]:
        """Each distinct sentence of the chunks that could answer, by its text."""
        candidates: dict[str, tuple[Sentence, dict, Candidate]] = {}
        for rank, hit in enumerate(chunks, 1):
            node = hit.node
            sentences = _chunk_sentences(node.get_content(), chunk_offset(node))
            if withhold is not None:
                sentences = tuple(s for s in sentences if not withhold(s.text))
            title = str(node.metadata.get("title") or "")
            for i, sentence in enumerate(sentences):
                # A question in the article (a sub-heading, say) never answers one.
                if sentence.text.endswith("?") or sentence.text in candidates:
                    continue
                before = sentences[i - 1].text if i > 0 else None
                after = sentences[i + 1].text if i + 1 < len(sentences) else None
                found = Candidate(sentence.text, rank, sentence.start, before, after, title)
                candidates[sentence.text] = (sentence, node.metadata, found)
        return candidates

    def answer(self, question: Question, chunks: list[NodeWithScore], stats: TermStats) -> Answer:
        """The best sentence(s) as an answer with citations, or an abstention."""
        reading = self.read(question, chunks, stats)
        if not reading.sentences or reading.confidence < self.weights.answer_above:
            return abstention(question, "extractive", self.refusal, reading.confidence)
        chosen = [reading.sentences[i] for i in reading.chosen]
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
            confidence=reading.confidence,
        )


def compose(scored: list[ScoredSentence], kind: AnswerKind, kinds: Sequence[float]) -> list[int]:
    """Positions in `scored` (best first) of the sentences to answer with: best, close second.

    `kinds` says how well each offers the kind of answer asked for; among the
    runners-up that qualify, the one that offers it best joins (a full date
    beside a best sentence with only "late July").
    """
    best = scored[0]
    # Both sentences, their " [n]" markers and the space between them must fit.
    room = MAX_ANSWER_CHARS - len(best.sentence.text) - 2 * len(" [1]") - 1
    ratio = LIST_SECOND_SENTENCE_RATIO if kind is AnswerKind.LIST else SECOND_SENTENCE_RATIO
    runners_up = [
        i
        for i in range(1, min(SECOND_SENTENCE_POOL, len(scored)))
        if scored[i].score >= (KIND_RUNNER_UP_RATIO if kinds[i] > kinds[0] else ratio) * best.score
        and len(scored[i].sentence.text) <= room
        and not _near_duplicate(scored[i].sentence.text, best.sentence.text)
    ]
    if not runners_up:
        return [0]
    return [0, max(runners_up, key=lambda i: (kinds[i], scored[i].score))]


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


def abstention(
    question: Question, mode: AnswerMode, refusal: str, confidence: float | None = None
) -> Answer:
    """The refusal: the articles do not answer `question`."""
    return Answer(
        answer=refusal,
        abstained=True,
        mode=mode,
        standalone_question=question.search_text,
        confidence=confidence,
    )


# Chunks and their sentences come back question after question; splitting and
# stemming them again was a fifth of the cost of an answer.
@functools.lru_cache(maxsize=4096)
def _chunk_sentences(text: str, offset: int) -> tuple[Sentence, ...]:
    return tuple(split_sentences(text, offset=offset))


def _near_duplicate(a: str, b: str) -> bool:
    ta, tb = sentence_terms(a), sentence_terms(b)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.6
