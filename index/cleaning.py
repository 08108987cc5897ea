"""Repairs to article text before it is chunked.

News feeds often lose the separators between bullet lines, leaving sentences
glued together ("…Corbyn groupsIn a series of tweets…"). Such a glue point is a
lowercase letter followed directly by a capitalised word. Real words look the
same ("McDonald", "YouTube", "iPhone"), so a glue point is only split when the
text itself shows both halves as words of their own elsewhere: "groups" and
"In" both occur alone in the article, "Mc" and "Donald" do not.
"""

from __future__ import annotations

import re
import unicodedata

_GLUE = re.compile(r"\b([A-Za-z]*[a-z])([A-Z][a-z]+)\b")
_WORD = re.compile(r"[A-Za-z]+")
_SPACES = re.compile(r"[ \t\u00a0]+")
_MIN_LEFT_LETTERS = 3


def normalise(text: str) -> str:
    """Unicode NFC, unified line endings, single spaces, no trailing blanks."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(lines).strip()


def repair_glued_sentences(text: str) -> str:
    """Insert the lost sentence break wherever two sentences were run together."""
    standalone = {w for w in _WORD.findall(text)}

    def split(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2)
        if len(left) < _MIN_LEFT_LETTERS or left not in standalone or right not in standalone:
            return match.group(0)
        return f"{left}. {right}"

    return _GLUE.sub(split, text)


def clean_text(text: str) -> str:
    """The text that is chunked, embedded and quoted: normalised and repaired."""
    return repair_glued_sentences(normalise(text))
