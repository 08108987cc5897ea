"""Sentences with their character offsets, so a citation can quote exactly."""

from __future__ import annotations

from dataclasses import dataclass

from llama_index.core.schema import BaseNode, TextNode
from llama_index.core.utils import globals_helper


@dataclass(frozen=True)
class Sentence:
    """One sentence of an article: `text == article_text[start:end]`."""

    text: str
    start: int
    end: int


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Punkt sentences (LlamaIndex's bundled model), never crossing a line break.

    Articles keep one paragraph a line, and headlines and captions often lack
    a final full stop, so a line break always ends a sentence. `offset` is
    where `text` starts in its article.
    """
    tokenizer = globals_helper.punkt_tokenizer
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


def chunk_offset(node: BaseNode) -> int:
    """Where a chunk starts in its article (0 for a node that does not say)."""
    return (node.start_char_idx if isinstance(node, TextNode) else None) or 0
