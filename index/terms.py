"""Content terms, and how many chunks of a layer use each (the statistics of IDF).

`content_terms` is the one reading of a text into terms that the extractive
reader uses everywhere (the question's terms, a sentence's, their weights).
The weights are IDF over the chunks of the live generation; since layers never
change, the indexer counts each layer's document frequencies as it writes the
layer (index/streaming.py), and a bot adds the layers' counts up at start-up
instead of reading and stemming every chunk.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import Stemmer
from llama_index.core.utils import globals_helper

# A layer's term statistics, beside its BM25 files and manifest (index/layers.py).
TERM_STATS_FILE = "term_stats.json.gz"
# The reading of texts into terms that stored counts were made with. Change it
# whenever `content_terms` changes what it returns: counts stored by the old
# reading are then ignored, and the bot counts those layers' chunks itself.
TERMS_VERSION = 2

log = logging.getLogger(__name__)

# A word: letters and digits, with inner apostrophes and hyphens.
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


# Irregular English verb forms the stemmer cannot join to their base form.
_IRREGULAR = {
    "said": "say",
    "says": "say",
    "told": "tell",
    "spoke": "speak",
    "spoken": "speak",
    "wrote": "write",
    "written": "write",
    "went": "go",
    "gone": "go",
    "made": "make",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "began": "begin",
    "begun": "begin",
    "left": "leave",
    "held": "hold",
    "met": "meet",
    "won": "win",
    "lost": "lose",
    "paid": "pay",
    "sold": "sell",
    "bought": "buy",
    "brought": "bring",
    "thought": "think",
    "found": "find",
    "knew": "know",
    "known": "know",
    "saw": "see",
    "seen": "see",
    "came": "come",
    "became": "become",
    "ran": "run",
    "led": "lead",
    "fell": "fall",
    "chose": "choose",
    "chosen": "choose",
    "kept": "keep",
    "sent": "send",
}


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    """LlamaIndex's English stop words (NLTK's), as a set: its list is searched word by word."""
    return frozenset(globals_helper.stopwords)


def content_terms(text: str) -> list[str]:
    """Stemmed, lower-cased words that carry meaning (stop words removed); see `term_words`."""
    return _stemmer().stemWords(_words(text)[0])


def term_words(text: str) -> list[tuple[str, str]]:
    """Each word of `text` that carries meaning, as (stem, the word in lower case).

    A hyphenated word is read as its parts of two letters or more, as BM25's
    tokenizer reads it: "a nine-hour meeting" answers "how many hours". A part is
    no verb form ("far-left" is not "left" as in "he left"). A typographic
    apostrophe is read as a straight one, so "Labour’s" is "Labour's" (the stemmer
    drops the "'s").
    """
    bases, words = _words(text)
    return list(zip(_stemmer().stemWords(bases), words, strict=True))


def _words(text: str) -> tuple[list[str], list[str]]:
    """What `term_words` stems (irregular verbs in their base form), and the words."""
    stopwords = _stopwords()
    bases: list[str] = []
    words: list[str] = []
    for word in WORD.findall(text.replace("’", "'").lower()):
        if "-" not in word:
            word = word.strip("'")
            if word and word not in stopwords:
                bases.append(_IRREGULAR.get(word, word))
                words.append(word)
            continue
        for part in word.split("-"):
            part = part.strip("'")
            if len(part) >= 2 and part not in stopwords:
                bases.append(part)
                words.append(part)
    return bases, words


class TermStats:
    """Document frequencies of content terms over chunks (a layer's, or a generation's)."""

    def __init__(self, texts: Iterable[str] = ()):
        self.df: Counter[str] = Counter()
        self.n = 0
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        """Count one chunk."""
        self.n += 1
        self.df.update(set(content_terms(text)))

    @classmethod
    def combined(cls, parts: Iterable[TermStats]) -> TermStats:
        """The statistics of the union of the parts' chunks (the layers of a generation)."""
        stats = cls()
        for part in parts:
            stats.df.update(part.df)
            stats.n += part.n
        return stats

    def write(self, folder: Path) -> None:
        """Save the counts into `folder`, whole or not at all (compressed JSON, a few MB
        for hundreds of thousands of chunks; the same counts give the same bytes)."""
        folder.mkdir(parents=True, exist_ok=True)
        data = {"version": TERMS_VERSION, "chunks": self.n, "df": self.df}
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        partial = folder / f"{TERM_STATS_FILE}.part"
        partial.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
        os.replace(partial, folder / TERM_STATS_FILE)

    @classmethod
    def read(cls, folder: Path | None) -> TermStats | None:
        """The counts saved in `folder`; None if there are none, they were made by another
        version of `content_terms` (a layer written before either), or the file is damaged
        (the caller then counts the layer's chunks, which a bot can always do)."""
        if folder is None:
            return None
        path = folder / TERM_STATS_FILE
        try:
            data = json.loads(gzip.decompress(path.read_bytes()))
            if data.get("version") != TERMS_VERSION:
                return None
            stats = cls()
            stats.n = int(data["chunks"])
            stats.df = Counter({str(t): int(n) for t, n in data["df"].items()})
        except FileNotFoundError:
            return None
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("ignoring the damaged term statistics %s: %s", path, error)
            return None
        return stats

    def idf(self, term: str) -> float:
        # A word the corpus never uses weighs as much as one it uses once, not
        # more: it may be a synonym the articles happen not to use.
        return math.log((self.n + 1) / (max(self.df.get(term, 0), 1) + 0.5))
