"""Repairs to article text before it is chunked.

News feeds often lose the separators between bullet lines, leaving sentences
glued together ("…Corbyn groupsIn a series of tweets…"). Such a glue point is a
lowercase letter followed directly by a capitalised word. Real words look the
same ("McDonald", "YouTube", "iPhone"), so a glue point is only split when the
text itself shows both halves as words of their own elsewhere: "groups" and
"In" both occur alone in the article, "Mc" and "Donald" do not.

Control characters are removed on the way in: they carry no text, and an
escape sequence in an article (ESC ] 0 ; … BEL retitles a terminal) would
otherwise reach every terminal and chat that shows a quote from it.
"""

from __future__ import annotations

import re
import unicodedata

# Both halves are bounded so that a long run of letters costs linear time, not quadratic.
_GLUE = re.compile(r"\b([A-Za-z]{0,60}[a-z])([A-Z][a-z]{1,60})\b")
_WORD = re.compile(r"[A-Za-z]+")
_SPACES = re.compile(r"[ \t\u00a0]+")
_MIN_LEFT_LETTERS = 3

# Characters other than \n that Python's str.splitlines() treats as line breaks.
_LINE_BREAKS = re.compile(r"[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# Whole terminal escape sequences: CSI (ESC [ … final byte) and OSC (ESC ] … BEL or ESC \,
# or the end of the line), so that no half of one is left as text.
_ESCAPE_SEQUENCES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?")
# Every C0/C1 control character except tab and newline, DEL, the bidirectional
# overrides and isolates (they reorder what a reader sees), and stray byte-order marks.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")


def strip_control_characters(text: str) -> str:
    """`text` without escape sequences or control characters; tabs and newlines stay."""
    return CONTROL_CHARACTERS.sub("", _ESCAPE_SEQUENCES.sub("", text))


def escape_control_characters(text: str) -> str:
    """`text` with each control character shown as an escape (\\x1b), tabs and newlines kept.

    For messages about untrusted text (a file name, a parser's complaint) where
    the reader should see that something odd is there, not have it removed.
    """
    return CONTROL_CHARACTERS.sub(lambda m: repr(m.group())[1:-1], text)


def normalise(text: str) -> str:
    """NFC, unified line endings, no control characters, single spaces, no trailing blanks."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = strip_control_characters(_LINE_BREAKS.sub("\n", text))
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


def clean_line(text: str) -> str:
    """`clean_text` on one line: a title or name, with any line breaks folded to spaces."""
    return " ".join(clean_text(text).split())
