"""Answers as Telegram HTML messages: escaped, never over 4096 characters, quotes kept whole."""

from __future__ import annotations

import html
import re

from bot.answering.answer import Answer

MAX_MESSAGE_CHARS = 4096
# Quotes longer than this are shown folded (Telegram's expandable blockquote).
EXPANDABLE_FROM = 300
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def answer_messages(answer: Answer, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """The answer, then one block per source, packed into as few messages as fit."""
    blocks = [_answer_block(answer)] + [_source_block(c) for c in answer.citations]
    return pack(blocks, limit)


def _answer_block(answer: Answer) -> str:
    text = html.escape(answer.answer)
    if answer.notice:
        text += f"\n\n<i>{html.escape(answer.notice)}</i>"
    return text


def _source_block(citation) -> str:
    heading = f"<b>[{citation.n}]</b> {html.escape(citation.title)}"
    if citation.published:
        heading += f" ({html.escape(citation.published)})"
    expandable = " expandable" if len(citation.quote) > EXPANDABLE_FROM else ""
    block = f"{heading}\n<blockquote{expandable}>{html.escape(citation.quote)}</blockquote>"
    if citation.url:
        block += f'\n<a href="{html.escape(citation.url, quote=True)}">Read the article</a>'
    return block


def pack(blocks: list[str], limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Join blocks with blank lines into messages of at most `limit` characters.

    A block is never cut unless it alone is too long; then it is cut at
    paragraph or sentence boundaries, with any HTML tag it opens closed and
    reopened across the cut.
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(block, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def _fit(block: str, limit: int) -> list[str]:
    if len(block) <= limit:
        return [block]
    opening = re.match(r"^(.*?)(<blockquote[^>]*>)(.*)(</blockquote>)(.*)$", block, re.S)
    if opening:
        # A long quote: cut it into several quotes, whole sentences each.
        before, tag, quote, close, after = opening.groups()
        room = limit - len(tag) - len(close)
        parts = [f"{tag}{piece}{close}" for piece in _cut(quote, room)]
        return _fit_plain(before.rstrip("\n"), limit) + parts + _fit_plain(after.strip("\n"), limit)
    return _fit_plain(block, limit)


def _fit_plain(text: str, limit: int) -> list[str]:
    return [piece for piece in _cut(text, limit) if piece]


def _cut(text: str, limit: int) -> list[str]:
    """Split escaped text at paragraphs, then sentences, then spaces, to pieces <= limit."""
    if len(text) <= limit:
        return [text] if text else []
    for separator in ("\n\n", "\n", None):
        units = _SENTENCE_END.split(text) if separator is None else text.split(separator)
        joiner = " " if separator is None else separator
        if len(units) > 1:
            pieces, current = [], ""
            for unit in units:
                candidate = f"{current}{joiner}{unit}" if current else unit
                if len(candidate) <= limit:
                    current = candidate
                else:
                    if current:
                        pieces.append(current)
                    current = unit
            if current:
                pieces.append(current)
            return [p for piece in pieces for p in _cut(piece, limit)]
    # One unbroken run longer than a message: cut between words (or hard, as a last resort).
    cut = text.rfind(" ", 0, limit)
    cut = cut if cut > 0 else _safe_cut(text, limit)
    return [text[:cut], *_cut(text[cut:].lstrip(), limit)]


def _safe_cut(text: str, limit: int) -> int:
    """A cut point <= limit that does not fall inside an HTML entity like &amp;."""
    amp = text.rfind("&", max(0, limit - 8), limit)
    return amp if amp > 0 and ";" not in text[amp:limit] else limit
