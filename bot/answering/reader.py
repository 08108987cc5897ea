"""The fitted reader: features of candidate sentences, their scores, and the answer's confidence.

Three small logistic models, fitted by `scripts/train_reader.py` and shipped as
`reader_weights.json`:
- the shortlist ranks every candidate sentence from its words alone
  (`SHORTLIST_FEATURES`), so that only the best `MEANING_CANDIDATES` are embedded;
- the sentence model scores each shortlisted sentence from the features in
  `SENTENCE_FEATURES` (meaning, exact and soft word coverage, the kind of answer
  asked, the question's entities, retrieval rank, neighbours, position...), its
  weights held to the direction their evidence points (`SENTENCE_SIGNS`);
- the confidence model turns the best sentence's score, what the composed
  answer offers, and question-level evidence (is the asked attribute in any
  candidate at all?) into the probability that the answer is right, each weight
  held to the direction its evidence points (`CONFIDENCE_SIGNS`). The bot answers
  above a cut chosen on dev data for a stated cost of errors.

Everything here is about English questions and news text in general; nothing
knows a particular story.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from bot.answering.questions import (
    AnswerKind,
    Question,
    asked_acronym,
    kind_match,
    kind_spans,
)
from bot.answering.vectors import SentenceVectors
from index.embeddings import LocalMiniLMEmbedding
from index.terms import content_terms, term_words

SENTENCE_FEATURES = (
    "meaning",  # cosine of sentence and question embeddings
    "meaning_gap",  # meaning minus the best candidate's meaning
    # meaning minus that of the question's words the sentence holds: whether the rest of
    # the question, the words it lacks or says otherwise, fits the sentence or leads away
    "lift",
    "exact",  # IDF-weighted share of the question's terms the sentence contains
    "soft",  # the same, a missing term counting as its nearest sentence word's similarity
    "soft_gap",  # soft minus the best candidate's soft
    "exact_gap",  # exact minus the best candidate's exact
    "own_soft",  # soft over the words of the question as asked (a follow-up without its subject)
    "worst_missing",  # 1 - similarity of the least matched missing term (0 if none missing)
    "kind_hit",  # offers the kind of answer asked for (a date for "when"...)
    "kind_miss",  # a kind was asked for and the sentence does not offer it
    "kind_near",  # how close what it offers of that kind is to the question's words in it
    "entities",  # share of the names and numbers of the question the sentence holds
    "asked_share",  # share of the question's other terms (what it asks of them) it holds
    "novelty",  # share of the sentence's terms the question does not use
    "chunk_rank",  # 1 / rank of its chunk in retrieval
    "neighbour",  # best exact share of the sentences before and after it
    "title",  # meaning of its article's title
    "lead",  # how early in its article it is
    "length",  # log of its length
)
CONFIDENCE_FEATURES = (
    "top_logit",  # the best sentence's score
    "margin",  # how far ahead of the runner-up it is
    # answer_*: the best value among the sentences the answer is made of
    "answer_soft",
    "answer_exact",
    "answer_meaning",
    "answer_worst_missing",  # how far the answer's least matched question word is
    "answer_kind_hit",
    "answer_kind_near",
    "answer_entities",
    "answer_asked_share",
    "answer_lift",
    "articles",  # log of how many articles the candidates come from: distractors
    "unseen",  # IDF share of the question's terms the corpus never uses
    "unseen_unmatched",  # of those, how far the nearest candidate word is in meaning
    "term_absent",  # the least covered question term, over all candidates
    "kind_absent",  # a kind was asked for and no shortlisted candidate offers it
    "kind_other",  # the question asks for no particular kind
    "yes_no",
)
# Sentence features the sentence model gives no weight: the confidence model reads them
# of the answer's sentences. Whether the rest of the question fits a sentence says
# whether it answers; between candidates it would favour those sharing fewest words.
CONFIDENCE_ONLY = ("lift",)
# The direction in which each feature must move a sentence's score (the others are
# free): more of the question in it, in words, in meaning or in the kind of answer
# asked for, never counts against it.
SENTENCE_SIGNS = {
    "meaning": 1,
    "meaning_gap": 1,
    "exact": 1,
    "soft": 1,
    "soft_gap": 1,
    "exact_gap": 1,
    "own_soft": 1,
    "worst_missing": -1,
    "kind_hit": 1,
    "kind_miss": -1,
    "kind_near": 1,
    "entities": 1,
    "asked_share": 1,
    "chunk_rank": 1,
    "neighbour": 1,
    "title": 1,
}
# The direction in which each piece of evidence must move the confidence. Fitted
# freely, some weights take the other sign because a feature stands in for the data
# set it came from (questions about one article use words it lacks and are often
# answerable; quiz questions about hundreds of articles use their words and often
# are not), which would not hold on other questions.
CONFIDENCE_SIGNS = {
    "top_logit": 1,
    "margin": 1,
    "answer_soft": 1,
    "answer_exact": 1,
    "answer_meaning": 1,
    "answer_worst_missing": -1,
    "answer_kind_hit": 1,
    "answer_kind_near": 1,
    "answer_entities": 1,
    "answer_asked_share": 1,
    "answer_lift": 1,
    "articles": -1,
    "unseen": -1,
    "unseen_unmatched": -1,
    "term_absent": -1,
    "kind_absent": -1,
}
# The first stage scores every candidate from its words alone; only the best
# MEANING_CANDIDATES are embedded and scored on SENTENCE_FEATURES. Sentence
# embeddings are most of the cost of a question, and with hundreds of articles
# the chunks handed to the reader hold a hundred sentences.
SHORTLIST_FEATURES = (
    "exact",
    "exact_gap",
    "kind_hit",
    "kind_miss",
    "kind_near",
    "entities",
    "asked_share",
    "novelty",
    "chunk_rank",
    "neighbour",
    "title_exact",  # exact share of its article's title
    "lead",
    "length",
)
MEANING_CANDIDATES = 10
WEIGHTS_FILE = "reader_weights.json"
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")  # words and numbers
_ENTITY = re.compile(r"\b(?:[A-Z][A-Za-z'’\-]+|[A-Z]{2,}|\d[\d,.]*)\b")


@dataclass(frozen=True)
class Candidate:
    """A sentence that might answer, with what retrieval knew about it."""

    text: str
    chunk_rank: int  # 1-based rank of the best chunk holding it
    start: int  # offset in its article
    before: str | None  # the sentences around it in its chunk
    after: str | None
    title: str = ""  # its article's title


class WordVectors:
    """Embeddings of single words by the sentence model, cached across questions."""

    def __init__(self, embed_model: BaseEmbedding, cache_size: int = 50_000):
        self.embed_model = embed_model
        # The local model looks most words up instead of running them.
        embed_words = (
            embed_model.embed_words if isinstance(embed_model, LocalMiniLMEmbedding) else None
        )
        self._cache = SentenceVectors(embed_model, cache_size, embed_words)

    def get(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        """Each distinct word's vector."""
        distinct = list(dict.fromkeys(words))
        if not distinct:
            return {}
        return dict(zip(distinct, self._cache.texts(distinct), strict=True))

    def prepare(self) -> None:
        """Have the local model ready its table of word vectors, in the background."""
        if isinstance(self.embed_model, LocalMiniLMEmbedding):
            self.embed_model.prepare_word_table()


def held_words(question: Question, present: frozenset[str]) -> str:
    """The words of the question (as searched) whose terms a sentence holds, in order.

    A sentence that answers the question is closer in meaning to the whole question than
    to these words alone; one that only shares its names is not ("Where was Ann Hobbs
    born?" beside a sentence about Ann Hobbs's job).
    """
    return " ".join(word for stem, word in term_words(question.search_text) if stem in present)


@lru_cache(maxsize=20_000)
def surface_terms(text: str) -> tuple[tuple[str, str], ...]:
    """(stem, lower-case word) for each content word, first spelling of each stem kept."""
    seen: dict[str, str] = {}
    for stem, lower in term_words(text):
        # Words only: a number has no vector worth comparing.
        if len(lower) >= 2 and not any(ch.isdigit() for ch in lower):
            seen.setdefault(stem, lower)
    return tuple(seen.items())


def question_entities(question: Question) -> set[str]:
    """Lower-cased names, acronyms and numbers of the question (not its first word)."""
    text = question.search_text
    found = set()
    for match in _ENTITY.finditer(text):
        # A capital at the start of a sentence is grammar, not a name.
        before = text[: match.start()].rstrip()
        at_start = not before or before[-1] in ".?!"
        if at_start and match.group()[0].isupper() and not match.group().isupper():
            continue
        # "Marsh's job": the name is Marsh.
        found.add(re.sub(r"['’]s$", "", match.group().lower()))
    return found


@dataclass(frozen=True)
class WordEvidence:
    """What the words alone say about each candidate: cheap, so known for all of them."""

    # Each candidate's content terms, and the asked acronym where it spells it out.
    present: list[frozenset[str]]
    exact: np.ndarray  # IDF-weighted share of the question's terms it holds
    kinds: np.ndarray  # how well it offers the kind of answer asked for
    near: np.ndarray
    entities: np.ndarray
    asked_share: np.ndarray
    novelty: np.ndarray
    neighbour: np.ndarray
    title: np.ndarray
    held: frozenset[str]  # the question's terms some candidate holds

    def rows(self, keep: Sequence[int]) -> WordEvidence:
        """The evidence of the candidates at positions `keep`, in that order (`held` kept)."""
        at = list(keep)
        return WordEvidence(
            [self.present[i] for i in at],
            self.exact[at],
            self.kinds[at],
            self.near[at],
            self.entities[at],
            self.asked_share[at],
            self.novelty[at],
            self.neighbour[at],
            self.title[at],
            self.held,
        )


def word_evidence(
    question: Question, candidates: Sequence[Candidate], idf: dict[str, float]
) -> WordEvidence:
    """The word-level evidence of every candidate; `idf` weighs the question's terms."""
    terms = list(question.terms)
    total = sum(idf.get(t, 0.0) for t in terms) or 1.0

    def exact_share(text: str | None) -> float:
        return share(sentence_terms(text) if text else frozenset())

    def share(held: frozenset[str]) -> float:
        return sum(idf.get(t, 0.0) for t in terms if t in held) / total

    asked = question.kind not in (AnswerKind.OTHER, AnswerKind.YES_NO)
    kinds = np.array(
        [kind_match(question.kind, c.text, question.text) if asked else 0.0 for c in candidates]
    )
    # A sentence that spells the asked acronym out holds it, though not in its letters.
    # Two initials are spelled out by chance too often ("BP": "But Parliament").
    acronym = asked_acronym(question.text) if question.kind is AnswerKind.EXPANSION else None
    spelled = frozenset(content_terms(acronym)) if acronym and len(acronym) >= 3 else frozenset()
    present = [
        sentence_terms(c.text) | (spelled if k > 0 else frozenset())
        for c, k in zip(candidates, kinds, strict=True)
    ]
    entities = question_entities(question)
    # Unweighted: a word the corpus never uses weighs as much as any other here, so
    # "married" missing counts as one missing word, not as the question's rarest one.
    entity_terms = {t for e in entities for t in content_terms(e)}
    asked_terms = [t for t in terms if t not in entity_terms]
    query_terms = set(terms)
    return WordEvidence(
        present=present,
        exact=np.array([share(p) for p in present], dtype=np.float64),
        kinds=kinds,
        near=np.array(
            [
                kind_nearness(question, c.text) if asked and k > 0 else 0.0
                for c, k in zip(candidates, kinds, strict=True)
            ]
        ),
        entities=np.array(
            [
                sum(e in c.text.lower() for e in entities) / len(entities) if entities else 0.0
                for c in candidates
            ]
        ),
        asked_share=np.array(
            [
                sum(t in p or (t in _REPORTING and reports(c.text, p)) for t in asked_terms)
                / len(asked_terms)
                if asked_terms
                else 1.0
                for c, p in zip(candidates, present, strict=True)
            ]
        ),
        novelty=np.array([len(p - query_terms) / len(p) if p else 0.0 for p in present]),
        neighbour=np.array(
            [max(exact_share(c.before), exact_share(c.after)) for c in candidates],
            dtype=np.float64,
        ),
        title=np.array([exact_share(c.title) for c in candidates], dtype=np.float64),
        held=frozenset(t for t in terms if any(t in p for p in present)),
    )


def word_columns(
    question: Question, candidates: Sequence[Candidate], words: WordEvidence
) -> dict[str, np.ndarray]:
    """The features both stages take from the words, by name (gaps to the best of `candidates`)."""
    asked = question.kind not in (AnswerKind.OTHER, AnswerKind.YES_NO)
    return {
        "exact": words.exact,
        "exact_gap": words.exact - words.exact.max(initial=0.0),
        "kind_hit": words.kinds,
        "kind_miss": (1.0 - words.kinds) * asked,
        "kind_near": words.near,
        "entities": words.entities,
        "asked_share": words.asked_share,
        "novelty": words.novelty,
        "chunk_rank": np.array([1.0 / c.chunk_rank for c in candidates]),
        "neighbour": words.neighbour,
        "title_exact": words.title,
        "lead": np.array([math.exp(-c.start / 2000) for c in candidates]),
        "length": np.array([math.log1p(len(c.text)) / 5 for c in candidates]),
    }


def shortlist_features(
    question: Question, candidates: Sequence[Candidate], words: WordEvidence
) -> np.ndarray:
    """The SHORTLIST_FEATURES of every candidate (words only, no embeddings)."""
    columns = word_columns(question, candidates, words)
    return np.column_stack([columns[name] for name in SHORTLIST_FEATURES]).astype(np.float64)


def sentence_features(
    question: Question,
    candidates: Sequence[Candidate],
    words: WordEvidence,
    meanings: np.ndarray,
    title_meanings: np.ndarray,
    idf: dict[str, float],
    vectors: WordVectors,
    unseen: frozenset[str] = frozenset(),
) -> tuple[np.ndarray, dict[str, float]]:
    """The SENTENCE_FEATURES of the shortlisted candidates, and question-level evidence.

    `words` is their word evidence (rows in the order of `candidates`), `meanings`
    their cosines to the question, `idf` weighs the question's terms, `unseen` are
    those the corpus never uses. "lift" is left at 0 for the reader to measure.
    """
    terms = list(question.terms)
    total = sum(idf.get(t, 0.0) for t in terms) or 1.0
    present, exact = words.present, words.exact
    soft = exact.copy()
    own = [t for t in dict.fromkeys(content_terms(question.text)) if t in idf]
    own_total = sum(idf[t] for t in own) or 1.0
    own_soft = np.array(
        [sum(idf[t] for t in own if t in p) / own_total for p in present], dtype=np.float64
    )
    # Unless compared in meaning below, a missing term is as far as can be (as in soft).
    worst = np.array([float(any(t not in p for t in terms)) for p in present])
    # Each term's best match over all candidates, shortlisted or not.
    term_best = {t: float(t in words.held) for t in terms}
    question_words = dict(surface_terms(" ".join(_question_words(question))))
    # Which question terms each sentence lacks, and its words: all the word vectors a
    # question needs are fetched at once. Every shortlisted sentence is compared, so
    # that "soft" means the same for each.
    lacking = {
        i: (
            [t for t in terms if t not in present[i]],
            [w for _, w in surface_terms(candidate.text)],
        )
        for i, candidate in enumerate(candidates)
    }
    lacking = {i: (missing, said) for i, (missing, said) in lacking.items() if missing and said}
    found = vectors.get(
        [question_words.get(t, t) for missing, _ in lacking.values() for t in missing]
        + [w for _, said in lacking.values() for w in said]
    )
    for i, (missing, sentence_words) in lacking.items():
        matrix = np.stack([found[w] for w in sentence_words])
        sims = {t: float(np.max(matrix @ found[question_words.get(t, t)])) for t in missing}
        soft[i] = exact[i] + sum(idf.get(t, 0.0) * max(s, 0.0) for t, s in sims.items()) / total
        own_soft[i] += sum(idf[t] * max(sims[t], 0.0) for t in own if t in sims) / own_total
        worst[i] = 1.0 - max(min(sims.values()), 0.0)
        for t, s in sims.items():
            term_best[t] = max(term_best[t], s)
    columns = word_columns(question, candidates, words) | {
        "meaning": meanings,
        "meaning_gap": meanings - meanings.max(),
        "lift": np.zeros(len(candidates)),
        "soft": soft,
        "soft_gap": soft - soft.max(),
        "own_soft": own_soft,
        "worst_missing": worst,
        "title": title_meanings,
    }
    features = np.column_stack([columns[name] for name in SENTENCE_FEATURES]).astype(np.float64)
    asked = question.kind not in (AnswerKind.OTHER, AnswerKind.YES_NO)
    weighted = [(idf.get(t, 0.0), term_best[t]) for t in terms]
    missing_everywhere = [t for t in terms if t in unseen]
    evidence = {
        "unseen": sum(idf.get(t, 0.0) for t in missing_everywhere) / total,
        "unseen_unmatched": sum(idf.get(t, 0.0) * (1.0 - term_best[t]) for t in missing_everywhere)
        / total,
        "term_absent": 1.0 - min((b for _, b in weighted), default=1.0),
        "kind_absent": float(asked and not words.kinds.max(initial=0.0) > 0),
        "kind_other": float(question.kind is AnswerKind.OTHER),
        "yes_no": float(question.kind is AnswerKind.YES_NO),
    }
    return features, evidence


@lru_cache(maxsize=20_000)
def sentence_terms(text: str) -> frozenset[str]:
    """The content terms of a sentence (cached: sentences recur question after question)."""
    return frozenset(content_terms(text))


# Words between a value of the asked kind and the nearest question word at which
# nearness halves: "Marsh, 52," is a value about Marsh; a date a clause away may not be.
_NEAR_WORDS = 4.0


@lru_cache(maxsize=20_000)
def _tokens(sentence: str) -> tuple[tuple[int, int, frozenset[str]], ...]:
    """Each word or number of a sentence: its offsets and stems (cached: sentences recur)."""
    return tuple(
        (m.start(), m.end(), frozenset(content_terms(m.group()))) for m in _TOKEN.finditer(sentence)
    )


def kind_nearness(question: Question, sentence: str) -> float:
    """How near the sentence's values of the asked kind are to the question's words in it.

    1 when one is next to a question word, halving every few words between, 0 when
    the sentence offers none or holds no question word: a value far from what the
    question names may be about something else ("the year a group was set up"
    answered by the date of a meeting about it).
    """
    spans = kind_spans(question.kind, sentence, question.text)
    if not spans:
        return 0.0
    terms = set(question.terms)
    tokens = _tokens(sentence)
    words = [(a, b) for a, b, _ in tokens]
    held = [i for i, (_, _, stems) in enumerate(tokens) if stems & terms]
    if not held:
        return 0.0
    best = 0.0
    for match, strength in spans:
        inside = [i for i, (a, b) in enumerate(words) if a < match.end() and b > match.start()]
        if not inside:
            continue
        first, last = inside[0], inside[-1]
        # Question words inside the value itself ("Harbour Rowing Club") do not count.
        gaps = [
            first - i - 1 if i < first else i - last - 1 for i in held if not first <= i <= last
        ]
        if gaps:
            best = max(best, strength * 0.5 ** (min(gaps) / _NEAR_WORDS))
    return best


# Verbs of reported speech: "What did X say about Y?" is answered by a sentence in
# which X claims, tweets or writes it, or by a quotation.
_REPORTING = frozenset(
    content_terms(
        "say said tell told claim write wrote tweet insist state add describe call announce "
        "argue warn accuse deny admit suggest reply respond comment"
    )
)
_QUOTATION = re.compile('[‘“"]')


def reports(sentence: str, terms: frozenset[str]) -> bool:
    """Whether a sentence (with content `terms`) reports what someone said."""
    return bool(terms & _REPORTING) or _QUOTATION.search(sentence) is not None


def _question_words(question: Question) -> list[str]:
    return _WORD.findall(question.search_text)


def confidence_features(
    logits: np.ndarray,
    features: np.ndarray,
    evidence: dict[str, float],
    answer: Sequence[int] | None = None,
) -> np.ndarray:
    """The CONFIDENCE_FEATURES of a question whose candidates scored `logits`.

    `answer` are the rows of the sentences the answer is made of (default: the best
    one). What the answer offers is the best of its sentences: a list question
    answered by a best sentence and the list beside it has its list.
    """
    rows = list(answer) if answer else [int(np.argmax(logits))]
    ordered = np.sort(logits)[::-1]
    margin = float(ordered[0] - ordered[1]) if len(ordered) > 1 else 3.0
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    row = features[rows].max(axis=0)
    # Less is better for this one.
    row[column["worst_missing"]] = features[rows, column["worst_missing"]].min()
    return np.array(
        [
            float(ordered[0]),
            min(margin, 3.0),
            row[column["soft"]],
            row[column["exact"]],
            row[column["meaning"]],
            row[column["worst_missing"]],
            row[column["kind_hit"]],
            row[column["kind_near"]],
            row[column["entities"]],
            row[column["asked_share"]],
            row[column["lift"]],
            evidence["articles"],
            evidence["unseen"],
            evidence["unseen_unmatched"],
            evidence["term_absent"],
            evidence["kind_absent"],
            evidence["kind_other"],
            evidence["yes_no"],
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class LinearModel:
    """A logistic model on standardised features."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.bias

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.names),
            "mean": _rounded(self.mean),
            "scale": _rounded(self.scale),
            "coef": _rounded(self.coef),
            "bias": round(float(self.bias), 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearModel:
        return cls(
            tuple(data["features"]),
            np.array(data["mean"], dtype=np.float64),
            np.array(data["scale"], dtype=np.float64),
            np.array(data["coef"], dtype=np.float64),
            float(data["bias"]),
        )


def _rounded(values: np.ndarray) -> list[float]:
    # Rounded so the file is small and the same data gives the same bytes.
    return [round(float(v), 6) for v in values]


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    sample_weight: np.ndarray | None = None,
    l2: float = 1.0,
    iterations: int = 50,
    signs: Mapping[str, int] | None = None,
    unused: Sequence[str] = (),
) -> LinearModel:
    """L2-regularised logistic regression by Newton's method: deterministic, numpy only.

    `y` may be soft (0..1). The bias is not penalised. `signs` gives features the
    direction their weight must have (+1 or -1): a feature that would take the other
    sign (a stand-in for something else in the data it was fitted on) gets weight 0
    instead, the most wrongly signed first, until every weight agrees. A weight held
    at 0 stays there (a greedy search, not the best fit under the constraints).
    Features named in `unused` have weight 0 throughout.
    """
    names = tuple(names)
    unknown = set(signs or {}) - set(names)
    if unknown:
        raise ValueError(f"signs for features the model does not have: {sorted(unknown)}")
    wanted = np.array([(signs or {}).get(name, 0) for name in names], dtype=np.float64)
    free = np.array([name not in unused for name in names], dtype=bool)
    while True:
        model = _fit_logistic(x, y, names, sample_weight, l2, iterations, free)
        wrong = wanted * model.coef < 0
        if not wrong.any():
            return model
        free[int(np.argmax(np.where(wrong, np.abs(model.coef), -1.0)))] = False


def _fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    names: tuple[str, ...],
    sample_weight: np.ndarray | None,
    l2: float,
    iterations: int,
    free: np.ndarray,
) -> LinearModel:
    """`fit_logistic` with the weights of features not `free` held at 0."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = np.average(x, axis=0, weights=w)
    scale = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    scale[scale < 1e-9] = 1.0
    z = np.column_stack([((x - mean) / scale) * free, np.ones(len(y))])
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(z @ beta)))
        gradient = z.T @ (w * (p - y)) + penalty * beta
        hessian = (
            (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(len(beta))
        )
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return LinearModel(tuple(names), mean, scale, beta[:-1], float(beta[-1]))


@dataclass(frozen=True)
class ReaderWeights:
    """The shipped models and the confidence above which the bot answers."""

    shortlist: LinearModel
    sentence: LinearModel
    confidence: LinearModel
    answer_above: float
    info: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "shortlist": self.shortlist.to_json(),
            "sentence": self.sentence.to_json(),
            "confidence": self.confidence.to_json(),
            "answer_above": round(self.answer_above, 6),
            "info": self.info,
        }

    def dump(self, path: Path) -> None:
        text = json.dumps(self.to_json(), indent=1, sort_keys=True, ensure_ascii=False)
        path.write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | None = None) -> ReaderWeights:
        """From `path`, or the weights shipped with the package."""
        if path is None:
            text = resources.files("bot.answering").joinpath(WEIGHTS_FILE).read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        return cls(
            LinearModel.from_json(data["shortlist"]),
            LinearModel.from_json(data["sentence"]),
            LinearModel.from_json(data["confidence"]),
            float(data["answer_above"]),
            data.get("info", {}),
        )


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1 / (1 + np.exp(-x))
