"""Follow-up questions without an LLM: borrow the subject of the previous turn.

"When did that happen?" after "Which groups were proscribed?" is searched as
"Which groups were proscribed? When did that happen?": the earlier question
brings the subject, the new one the kind of answer wanted. A question about a
person ("how old is he?") also borrows the names the previous answer gave, since
"Who was expelled?" names its subject only in the answer.
"""

from __future__ import annotations

import re

from bot.answering.memory import Turn
from bot.answering.questions import unwrap
from index.terms import content_terms

_REFERS_BACK = re.compile(
    r"\b(he|she|it|they|him|her|them|his|hers|its|their|theirs|that|this|those|these|"
    r"there|then|the same)\b",
    re.IGNORECASE,
)
# A question with this few content words rarely stands on its own.
_MIN_STANDALONE_TERMS = 2
_POSSESSIVES = {"their", "its", "his", "her"}
# ...and a question with a possessive and this many content words stands on its own.
_SELF_CONTAINED_TERMS = 3
_PERSON = re.compile(r"\b(he|she|him|her|his|hers)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")
_MARKER = re.compile(r"\[\d+\]")
# Names borrowed from the previous answer: the first are the ones it is about.
_BORROWED_NAMES = 2


def is_followup(question: str) -> bool:
    """Whether a question leans on what was said before.

    A possessive alone does not make one when the question names enough of its
    own: in "How many members could lose their membership?" "their" points at
    "members", and the question starts a new topic.
    """
    question = unwrap(question)  # "no, I meant which groups were banned" asks afresh
    terms = len(content_terms(question))
    if terms < _MIN_STANDALONE_TERMS:
        return True
    refs = {m.group().lower() for m in _REFERS_BACK.finditer(question)}
    if refs and refs <= _POSSESSIVES and terms >= _SELF_CONTAINED_TERMS:
        return False
    return bool(refs)


def resolve_followup(question: str, history: list[Turn]) -> str:
    """The text to search for `question`, given the conversation so far.

    The subject comes from the question that opened the current thread (the
    latest one that stood on its own), so a chain of follow-ups does not
    pile up every earlier question.
    """
    if not history or not is_followup(question):
        return question
    subject = next(
        (turn.question for turn in reversed(history) if not is_followup(turn.question)),
        history[-1].standalone,
    )
    if _PERSON.search(question):
        names = [
            n
            for n in dict.fromkeys(_NAME.findall(_MARKER.sub(" ", history[-1].answer)))
            if n not in subject
        ]
        if names:
            return f"{subject} {' '.join(names[:_BORROWED_NAMES])} {unwrap(question)}"
    return f"{subject} {unwrap(question)}"
