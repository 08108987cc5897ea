"""Calibrating the citation check's support thresholds on claims made from real articles.

A claim that restates part of a source sentence in other words must count as
supported by it; the same claim must not count as supported by the
best-matching sentence of another paragraph. Claims are made from every
sentence of at least ten words, as an LLM would write them: two thirds of the
sentence (its start, or its end) with two words of its own added (taken from
elsewhere in the article). For each threshold pair the script prints how
many true supports pass and how many false ones do.

    .venv/bin/python bench/citation_support.py [--realtimeqa 40]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

from bot.answering.citation_check import MIN_MEANING_SUPPORT, MIN_WORD_SUPPORT, support_scores
from bot.answering.vectors import SentenceVectors
from index.articles import load_corpus
from index.cleaning import clean_text
from index.embeddings import LocalMiniLMEmbedding
from index.sentences import split_sentences

ROOT = Path(__file__).resolve().parents[1]
REALTIMEQA = ROOT.parent / "shared" / "corpora" / "realtimeqa-2024" / "articles.jsonl.gz"


def article_texts(extra: int) -> list[str]:
    texts = [a.text for a in load_corpus(ROOT / "corpus")]
    if extra and REALTIMEQA.exists():
        with gzip.open(REALTIMEQA, "rt", encoding="utf-8") as lines:
            for line in lines:
                text = json.loads(line).get("text") or ""
                if len(text) > 1500:
                    texts.append(clean_text(text[:6000]))
                if len(texts) > extra:
                    break
    return texts


def pairs(texts: list[str], vectors: SentenceVectors) -> tuple[np.ndarray, np.ndarray]:
    """(words, meaning) for true supports and for the hardest false ones."""
    true, false = [], []
    for text in texts:
        paragraphs = [split_sentences(p) for p in text.split("\n") if p.strip()]
        for p_index, paragraph in enumerate(paragraphs):
            others = [s for j, p in enumerate(paragraphs) if j != p_index for s in p]
            for sentence in paragraph:
                words = sentence.text.split()
                if len(words) < 10 or not others:
                    continue
                cut = len(words) // 3
                foreign = [w for s in others[:: max(1, len(others) // 2)] for w in s.text.split()][
                    :2
                ]
                parts = (words[: len(words) - cut], words[cut:])
                for claim in (" ".join(part + foreign) for part in parts):
                    w, m = support_scores(claim, [sentence], vectors)
                    true.append((w[0], m[0]))
                    w, m = support_scores(claim, others, vectors)
                    hardest = int(np.argmax(w + m))
                    false.append((w[hardest], m[hardest]))
    return np.array(true), np.array(false)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realtimeqa", type=int, default=15, help="extra real articles")
    args = parser.parse_args()
    vectors = SentenceVectors(LocalMiniLMEmbedding())
    true, false = pairs(article_texts(args.realtimeqa), vectors)
    print(f"{len(true)} true supports, {len(false)} hardest false ones\n")
    print("words  meaning  true passed  false passed")
    in_use = (MIN_WORD_SUPPORT, MIN_MEANING_SUPPORT)
    for min_words in (0.5, 0.6, 0.7):
        for min_meaning in (0.65, 0.7, 0.75, 0.8):
            passed_true = passes(true, min_words, min_meaning)
            passed_false = passes(false, min_words, min_meaning)
            mark = "  <- in use" if (min_words, min_meaning) == in_use else ""
            print(
                f"{min_words:5.2f}  {min_meaning:7.2f}  {passed_true:11.1%}  "
                f"{passed_false:12.1%}{mark}"
            )


def passes(scores: np.ndarray, min_words: float, min_meaning: float) -> float:
    """Share of (words, meaning) pairs the check would accept."""
    return float(((scores[:, 0] >= min_words) | (scores[:, 1] >= min_meaning)).mean())


if __name__ == "__main__":
    main()
