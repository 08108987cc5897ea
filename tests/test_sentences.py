"""Sentences of an article: where they end, and offsets a citation can quote exactly."""

from __future__ import annotations

from index.sentences import split_sentences

NEWS = (
    "Sen. Ann Hobbs met the Rev. Tom Pascoe of St. Mary's on Jan. 5 at 3 p.m. The U.S. "
    "embassy said so. Jason M. Allen, 39, agreed.\nHeadline without a full stop\nMr. Ortiz left."
)


def test_news_abbreviations_and_initials_end_no_sentence() -> None:
    assert [s.text for s in split_sentences(NEWS)] == [
        "Sen. Ann Hobbs met the Rev. Tom Pascoe of St. Mary's on Jan. 5 at 3 p.m.",
        "The U.S. embassy said so.",
        "Jason M. Allen, 39, agreed.",
        "Headline without a full stop",
        "Mr. Ortiz left.",
    ]


def test_offsets_quote_the_article_exactly() -> None:
    for sentence in split_sentences(NEWS[20:], offset=20):
        assert NEWS[sentence.start : sentence.end] == sentence.text
