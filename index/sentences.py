"""Sentences with their character offsets, so a citation can quote exactly."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from llama_index.core.schema import BaseNode, TextNode
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

# The Punkt model LlamaIndex bundles has learned no abbreviations: "Sen. John Smith met
# Gov. Ann Hobbs at 3 p.m." was four sentences. These are the common ones of news
# English (titles, AP's months, times, countries). Words that also end sentences ("no",
# "sun", "mar") are left out.
_ABBREVIATIONS = (
    "mr mrs ms dr prof sr jr st rev fr msgr gen col lt sgt capt cmdr adm maj gov sen rep "
    "pres supt det insp hon atty jan feb aug sep sept oct nov dec a.m p.m u.s u.k u.n e.g "
    "i.e etc vs inc corp ltd bros ave blvd rd mt ft dept approx"
)
# After an abbreviation, a capitalised one of these starts a new sentence ("at 3 p.m.
# The council said...").
_SENTENCE_STARTERS = (
    "the a an he she it they we i you but and this that these those there his her their "
    "its in on at for after when while if as"
)


@dataclass(frozen=True)
class Sentence:
    """One sentence of an article: `text == article_text[start:end]`."""

    text: str
    start: int
    end: int


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Punkt sentences (news abbreviations known), never crossing a line break.

    Articles keep one paragraph a line, and headlines and captions often lack
    a final full stop, so a line break always ends a sentence. `offset` is
    where `text` starts in its article.
    """
    tokenizer = _tokenizer()
    sentences: list[Sentence] = []
    line_start = 0
    for line in text.split("\n"):
        for start, end in tokenizer.span_tokenize(line):
            piece = line[start:end].strip()
            if piece:
                begin = offset + line_start + start
                sentences.append(Sentence(piece, begin, begin + len(piece)))
        line_start += len(line) + 1
    return sentences


@functools.cache
def _tokenizer() -> PunktSentenceTokenizer:
    parameters = PunktParameters()
    parameters.abbrev_types = set(_ABBREVIATIONS.split())
    parameters.sent_starters = set(_SENTENCE_STARTERS.split())
    return PunktSentenceTokenizer(parameters)


def chunk_offset(node: BaseNode) -> int:
    """Where a chunk starts in its article (0 for a node that does not say)."""
    return (node.start_char_idx if isinstance(node, TextNode) else None) or 0
