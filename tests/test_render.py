"""Telegram HTML rendering: escaping, expandable quotes, and splitting long answers."""

from __future__ import annotations

import html
import re

from bot.answering.answer import Answer, Citation
from bot.telegram.render import MAX_MESSAGE_CHARS, answer_messages, pack


def citation(n: int, quote: str, url: str = "") -> Citation:
    return Citation(
        n=n,
        title=f"Title <{n}> & co",
        source=url or "a.md",
        quote=quote,
        published="2021-08-14",
        url=url,
    )


def visible(message: str) -> str:
    """The text a reader sees: tags removed, entities unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", "", message))


def test_everything_is_escaped_and_sources_follow_the_answer() -> None:
    answer = Answer(
        answer="Is 1 < 2 & 3 > 2? *yes* _no_ [1]",
        abstained=False,
        mode="extractive",
        citations=(citation(1, "He said <b>x</b> & left.", "https://example.org/a?x=1&y=2"),),
    )
    (message,) = answer_messages(answer)
    assert "Is 1 &lt; 2 &amp; 3 &gt; 2? *yes* _no_ [1]" in message
    assert "<b>[1]</b> Title &lt;1&gt; &amp; co (2021-08-14)" in message
    assert "<blockquote>He said &lt;b&gt;x&lt;/b&gt; &amp; left.</blockquote>" in message
    assert '<a href="https://example.org/a?x=1&amp;y=2">' in message
    assert visible(message).index("[1] Title") > visible(message).index("yes")


def test_long_quotes_are_expandable_short_ones_are_not() -> None:
    answer = Answer(
        answer="a [1] [2]",
        abstained=False,
        mode="extractive",
        citations=(citation(1, "short."), citation(2, "long sentence. " * 30)),
    )
    (message,) = answer_messages(answer)
    assert "<blockquote>short.</blockquote>" in message
    assert "<blockquote expandable>long sentence." in message


def test_long_answers_split_between_sources_never_inside_a_quote() -> None:
    quotes = [f"Quote number {i} " + "word " * 150 + "end." for i in range(1, 9)]
    answer = Answer(
        answer="Answer. " * 200,
        abstained=False,
        mode="llm",
        citations=tuple(citation(i, q) for i, q in enumerate(quotes, 1)),
    )
    messages = answer_messages(answer)
    assert len(messages) > 1
    assert all(len(m) <= MAX_MESSAGE_CHARS for m in messages)
    for quote in quotes:  # every quote whole, inside one message
        assert sum(html.escape(quote) in m for m in messages) == 1
    assert all(m.count("<blockquote") == m.count("</blockquote>") for m in messages)
    joined = " ".join(visible(m) for m in messages)
    assert joined.count("Answer.") == 200


def test_a_single_block_over_the_limit_is_cut_at_sentences() -> None:
    sentences = [f"Sentence {i} is here." for i in range(400)]
    pieces = pack([html.escape(" ".join(sentences))], limit=500)
    assert all(len(p) <= 500 for p in pieces)
    assert " ".join(pieces).split() == " ".join(sentences).split()
    assert all(p.endswith(".") for p in pieces)


def test_an_oversized_quote_is_split_into_whole_blockquotes() -> None:
    quote = " ".join(f"Part {i} & more." for i in range(600))
    messages = answer_messages(
        Answer(answer="x [1]", abstained=False, mode="extractive", citations=(citation(1, quote),))
    )
    assert all(len(m) <= MAX_MESSAGE_CHARS for m in messages)
    assert all(m.count("<blockquote") == m.count("</blockquote>") for m in messages)
    shown = " ".join(visible(m) for m in messages)
    assert all(f"Part {i} & more." in shown for i in range(600))
