"""What in a question points back at the conversation: pronouns, "that", "there", "else".

General English, no story: a word counts only where it needs something said
before. "that" in "the groups that were banned" joins a clause, "it" in "is it
true" and "there" in "were there any protests" point at nothing, and "his" in
"What did the mayor say about his budget?" finds its person in the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llama_index.core.utils import globals_helper

_AUX = (
    r"(?:is|are|was|were|be|been|am|do|does|did|has|have|had|can|could|will|would|"
    r"shall|should|may|might|must|'s|’s)"
)
_PREPOSITIONS = (
    r"(?:about|after|before|of|for|with|by|from|since|like|than|to|at|on|in|into|over|"
    r"under|behind|despite|during|against|without|besides)"
)
_WH = r"(?:what|which|who|whom|whose|why|when|where|how)"
_TIME_WORDS = (
    r"(?:morning|afternoon|evening|week|weekend|month|year|season|summer|winter|spring|"
    r"autumn|time|day)"
)
# "that"/"this" is the pronoun or the determiner of the conversation ("when did that
# happen?", "after this", "that meeting") when it opens the question or follows a
# question word, an auxiliary or a preposition, or ends it; after a noun or a verb it
# joins a clause ("the groups that were banned", "said that").
_DEMONSTRATIVE = re.compile(
    rf"(?:^|[,;:]\s*|\b(?:{_WH}|{_AUX}|{_PREPOSITIONS}|and|but)\s+)"
    rf"(?:that|this|these|those)\b(?!\s+{_TIME_WORDS}s?\b)"
    r"|\b(?:that|this|these|those)\s*(?:[?.!,;]|$)",
    re.IGNORECASE,
)
# "Is it true that...", "it was reported": an "it" that points at nothing.
_EXPLETIVE_IT = re.compile(
    r"\bit\b(?=\s+(?:(?:is|was|'s|’s)\s+)?(?:true|possible|likely|clear|known|said|reported|"
    r"expected|believed|thought|the\s+case)\b)",
    re.IGNORECASE,
)
# "Were there any...", "there was": existential, no place meant. ("how many were
# there?" ends on "there", which then is a place.)
_EXISTENTIAL_THERE = re.compile(
    rf"\bthere\b(?=\s+{_AUX}\b)"
    r"|(?:(?<=\bis\s)|(?<=\bare\s)|(?<=\bwas\s)|(?<=\bwere\s))there\b(?!\s*[?.!]?\s*$)",
    re.IGNORECASE,
)
_PLACE_TIME = re.compile(r"\b(?:there|then|meanwhile|since\s+then)\b", re.IGNORECASE)
# "who else", "which other groups", "another one", "the same": relative to what was said.
_CONTRAST = re.compile(r"\b(?:else|other|others|another|the\s+same)\b", re.IGNORECASE)

_PERSON_PRONOUN = re.compile(r"\b(?:he|she|him|his|hers|her|himself|herself)\b", re.IGNORECASE)
_THING_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|theirs)\b", re.IGNORECASE)
# "her budget", not "about her" or "her?".
# What follows "her" as an object: the end, a preposition, "and", "or".
_AFTER_OBJECT = rf"\s*(?:[?.!,;]|$|{_PREPOSITIONS}\b|and\b|or\b)"
_POSSESSIVE_HER = rf"\bher\b(?!{_AFTER_OBJECT})"
_POSSESSIVE = re.compile(rf"\b(?:his|hers)\b|{_POSSESSIVE_HER}", re.IGNORECASE)
# Pronouns a question may itself give a person or thing for, if one comes before
# them: possessives ("the mayor ... her budget") and subjects ("said it would").
_SELF_BOUND = re.compile(
    rf"\b(?:his|its|their|he|she|they)\b|{_POSSESSIVE_HER}|\bit\s+{_AUX}\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class References:
    """What a question leans on: a person, a thing, or what was said (place, time, event)."""

    person: bool  # he, she, his... a person named earlier
    thing: bool  # it, they, their... a thing or group named earlier
    context: bool  # that, there, then, else, other: the earlier question's subject

    def __bool__(self) -> bool:
        return self.person or self.thing or self.context


def references(question: str, own_terms: int) -> References:
    """The references in `question` that need an earlier turn.

    `own_terms` is how many content words the question has: with three or more, a
    possessive or subject pronoun that follows them may find its antecedent there.
    """
    stripped = _EXPLETIVE_IT.sub("", _EXISTENTIAL_THERE.sub("", question))
    person = _needs_antecedent(stripped, _PERSON_PRONOUN, own_terms)
    thing = _needs_antecedent(stripped, _THING_PRONOUN, own_terms)
    context = bool(
        _DEMONSTRATIVE.search(stripped)
        or _PLACE_TIME.search(stripped)
        or _CONTRAST.search(stripped)
    )
    return References(person, thing, context)


# With this many content words a question can hold the antecedent of its own pronouns.
_SELF_CONTAINED_TERMS = 3


def _needs_antecedent(question: str, pronouns: re.Pattern[str], own_terms: int) -> bool:
    found = list(pronouns.finditer(question))
    if not found:
        return False
    if own_terms < _SELF_CONTAINED_TERMS:
        return True
    # Each pronoun must be one that can point back inside the sentence and have
    # words before it to point at ("What did Loach say about him?": "him" cannot be
    # Loach, so it needs an earlier turn).
    bound = {m.start() for m in _SELF_BOUND.finditer(question)}
    return any(m.start() not in bound or not _has_words_before(question, m.start()) for m in found)


def _has_words_before(question: str, position: int) -> bool:
    words = re.findall(r"[A-Za-z]+", question[:position])
    return any(w.lower() not in globals_helper.stopwords for w in words)


# "it" as the subject of an event ("when did it happen?", "how long did it last?") is
# what happened, not a thing an answer named.
_EVENT_IT = re.compile(
    r"\bit\s+(?:happen|occur|take\s+place|took\s+place|start|begin|began|end|last)",
    re.IGNORECASE,
)
_IT = re.compile(r"\b(?:it|its)\b", re.IGNORECASE)


def name_the_thing(question: str, name: str) -> str:
    """`question` with "it"/"its" replaced by `name` ("when was it founded?" -> "when was
    the Rowing Club founded?"), unchanged when its "it" points at nothing or at an event."""
    if _EVENT_IT.search(question):
        return question
    expletive = {m.start() for m in _EXPLETIVE_IT.finditer(question)}
    return _IT.sub(
        lambda m: (
            m.group()
            if m.start() in expletive
            else f"{name}'s"
            if m.group().lower() == "its"
            else name
        ),
        question,
    )


# "he" and "him" in one question are two people ("What did he call him?"): one would
# be "himself". The subject pronoun and the possessives go together ("What did he say
# about his party?"), the object pronoun names the other.
_SUBJECT = re.compile(r"\b(?:he|she)\b", re.IGNORECASE)
_OBJECT = re.compile(rf"\bhim\b|\bher\b(?={_AFTER_OBJECT})", re.IGNORECASE)


def two_people(question: str) -> bool:
    """Whether `question` has a subject pronoun and an object pronoun: two people."""
    return bool(_SUBJECT.search(question) and _OBJECT.search(question))


def name_the_people(question: str, subject: str | None, other: str | None) -> str:
    """`question` with "he"/"she" and the possessives replaced by `subject`, "him"/"her" by
    `other` ("What did she call him?" -> "What did Ann Hobbs call Tom Pascoe?"); a pronoun whose
    person is None is left for the conversation to settle."""
    objects = {m.start() for m in _OBJECT.finditer(question)}
    possessives = {m.start() for m in _POSSESSIVE.finditer(question)}

    def named(m: re.Match[str]) -> str:
        name = other if m.start() in objects else subject
        if name is None:
            return m.group()
        return f"{name}'s" if m.start() in possessives else name

    return _PERSON_PRONOUN.sub(named, question)


def name_the_person(question: str, name: str) -> str:
    """`question` with its person pronouns replaced by `name` ("his job" -> "Pascoe's job")."""
    possessives = {m.start() for m in _POSSESSIVE.finditer(question)}
    return _PERSON_PRONOUN.sub(
        lambda m: f"{name}'s" if m.start() in possessives else name, question
    )
