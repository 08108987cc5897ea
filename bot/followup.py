"""Follow-up questions without an LLM: borrow the subject of the previous turn.

"When did that happen?" after "Which groups were proscribed?" is searched as
"Which groups were proscribed? When did that happen?": the earlier question
brings the subject, the new one the kind of answer wanted.
"""

from __future__ import annotations

import re

from bot.memory import Turn
from bot.questions import content_terms

_REFERS_BACK = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|theirs|that|this|those|these|"
    r"there|then|the same)\b",
    re.IGNORECASE,
)
# A question with this few content words rarely stands on its own.
_MIN_STANDALONE_TERMS = 2


def is_followup(question: str) -> bool:
    """Whether a question leans on what was said before."""
    return (
        bool(_REFERS_BACK.search(question)) or len(content_terms(question)) < _MIN_STANDALONE_TERMS
    )


def resolve_followup(question: str, history: list[Turn]) -> str:
    """The text to search for `question`, given the conversation so far."""
    if not history or not is_followup(question):
        return question
    return f"{history[-1].standalone} {question}"
