"""Text that people send (questions, conversation ids), checked and cleaned before use."""

from __future__ import annotations

import re

from index.cleaning import strip_control_characters

# Python keeps bytes of argv and of stdin (read with errors="surrogateescape") that are
# not UTF-8 as lone surrogates; no valid text contains one.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_question(text: str) -> str:
    """A question as the engine sees it: no control characters, spaces folded.

    A line of only control characters is therefore an empty question, not a follow-up.
    """
    return " ".join(strip_control_characters(text).split())


def not_utf8(text: str) -> int | None:
    """The position of the first character that stands for a byte that was not UTF-8, or None."""
    match = _SURROGATE.search(text)
    return match.start() if match else None
