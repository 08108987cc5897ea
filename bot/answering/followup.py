"""Follow-up questions without an LLM: resolve them against the conversation so far.

- A person pronoun takes the name it stands for: "how old is he?" after "Who is
  Tom Pascoe?" is searched as "how old is Tom Pascoe?"; after "Who rescued the
  kayakers?" the name comes from the answer.
- "she" and "him" in one question are two people: "What did she call him?" after
  "Who did Ann Hobbs attack?" is Ann Hobbs and the person the answer names.
- Ellipsis and other references ("and the date?", "when did that happen?", "what
  else was said there?") are searched together with the question that opened the
  thread (the latest one that stood on its own): it brings the subject, the new
  one the kind of answer wanted. A bare ellipsis ("And when?") takes the previous
  question as it was searched instead, which holds the opening's subject and what
  was asked since. Words that only name that kind ("the date") or only lean on the
  conversation ("else", "actually") are left out of the search.
- "it" after a question asking which body or name takes the one the answer gave:
  "when was it founded?" after "Which club did he row for?" asks about that club.
- "what about X?" asks the opening question again about X.
- A question that stands on its own starts a new topic and borrows nothing; so does
  one that announces it ("Different question: which other groups…?").

The thread is bounded: one opening question, one name, from the last few turns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.answering.memory import Turn
from bot.answering.names import identifying_words, names, person_names
from bot.answering.questions import (
    CORRECTION_LEAD,
    LEAD_IN,
    TOPIC_CHANGE,
    AnswerKind,
    answer_kind,
    kind_spans,
    spell_out,
    topic_terms,
    unwrap,
)
from bot.answering.references import (
    name_the_people,
    name_the_person,
    name_the_thing,
    references,
    two_people,
)
from index.terms import content_terms

# A question naming less than this of its own (`own_terms`) cannot stand on its own:
# "When?", "and the date?", "how old is he?".
_MIN_STANDALONE_TERMS = 2
# Turns looked back at for the question that opened the thread (as many as the
# memory keeps by default): a longer chain of follow-ups is searched with its oldest.
MAX_THREAD_TURNS = 6

# Words that only say what kind of answer is wanted ("and the date?"): the kind is
# read from the question itself; searched for, they would be matched as if topics.
_ATTRIBUTE = re.compile(
    r"\b(?:date|day|year|month|time|place|location|venue|number|amount|total|name|"
    r"reason|age)s?\b",
    re.IGNORECASE,
)
# Words that lean on the conversation or hedge without naming anything.
_FILLER = re.compile(
    r"\b(?:actually|exactly|really|precisely|tho|though|anyway|again|else|meanwhile|"
    r"another|instead)\b",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(r"^\s*(?:(?:and|so|but|ok|okay|then)[,\s]+)*", re.IGNORECASE)
# "what about the other group?", "and Piers?", "how about in 2019?"
_WHAT_ABOUT = re.compile(
    r"^\s*(?:and\s+|so\s+|but\s+)?(?:what|how)\s+about\s+(?P<what>.+?)\s*[?.!]*\s*$"
    r"|^\s*and\s+(?P<and>(?!(?:what|which|who|whom|whose|why|when|where|how)\b).+?)\s*[?.!]*\s*$",
    re.IGNORECASE,
)
_ANNOUNCED = re.compile(rf"^\s*{LEAD_IN}{TOPIC_CHANGE}\b", re.IGNORECASE)
_CORRECTION = re.compile(
    rf"^\s*(?:{CORRECTION_LEAD}[,.!:;\s—–-]+)*i\s+meant?\b",
    re.IGNORECASE,
)
# A question word or a verb: the words after "I meant" are a question, not just a name.
_ASKS = re.compile(
    r"\b(?:what|which|who|whom|whose|why|when|where|how|is|are|was|were|do|does|did|has|"
    r"have|had|can|could|will|would|should)\b",
    re.IGNORECASE,
)
_DETERMINER = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
# "and about the ferry?", "what about in 2019?": the phrase replaces one of the question's.
_PREPOSITIONS = r"about|for|in|on|at|with|from|by|during|after|before|since"
_PREPOSITION_PHRASE = re.compile(rf"^({_PREPOSITIONS})\s+(\S.*)$", re.IGNORECASE)
# A phrase of a question led by one of them, up to the next preposition, a clause or the end.
_PHRASE_END = (
    rf"{_PREPOSITIONS}|to|into|within|until|till|than|and|or|that|who|which|when|where|while"
)
_PHRASE = re.compile(
    rf"\b({_PREPOSITIONS})\s+((?:(?!\b(?:{_PHRASE_END})\b)[^?.!,;])+)", re.IGNORECASE
)
_MARKER = re.compile(r"\s*\[\d+\]")
_ANSWER_WORD = re.compile(r"[\w'’\-]+")
# How much of an answer identifies it in the message that showed it.
_ANSWER_PREFIX = 200
# "Who did Ann Hobbs attack?": the person after the auxiliary did it, the answer was done to.
_AUXILIARY = r"(?:did|does|do|has|have|had|will|would|can|could)"
# "Who is Tom Pascoe?" asks about the person it names; "Who is the bishop?" or "Who is
# Carmel's mayor?" asks for a person by role, whom the answer names.
_WHO_IS_NAMED = re.compile(
    r"^\s*(?:who|whom)(?:\s+(?:is|was|are|were)\b|['’]s\b)"
    r"(?!\s+(?:the|a|an|this|that|his|her|their|its|our)\b|\s+[\w\-]+['’]s\s)",
    re.IGNORECASE,
)
# "Which Labour figure did Hobbs attack?" asks for a person as "Who…?" does.
_WHICH_PERSON = re.compile(
    r"^\s*(?:which|what)\s+(?:[\w'’\-]+\s+){0,2}?"
    r"(?:person|people|man|men|woman|women|figure|politician|leader|official|minister|mp|"
    r"candidate|member|player|actor|actress|artist|director|judge|spokes(?:man|woman|person)|"
    r"journalist|reporter|writer|author|singer|rapper|musician|priest|pastor|bishop|officer|"
    r"executive|boss|chief|founder|employee|staffer|worker|president|senator|governor|mayor|"
    r"lawyer|doctor|teacher|student|ally|rival|critic)s?\b",
    re.IGNORECASE,
)
# Words for a person that say whether "she" or "he" stands for them: "what else did she
# say?" after "What did the Labour spokeswoman say?" asks about the spokeswoman.
_ROLE_WORDS = {
    "she": r"(?:spokes|chair|business|congress|council|police)?woman|actress|mother|wife|"
    r"daughter|sister|girl|girlfriend|grandmother|queen|princess|duchess|lady|widow|nun",
    "he": r"(?:spokes|chair|business|congress|council|police)?man|father|husband|son|"
    r"brother|boy|boyfriend|grandfather|king|prince|duke|widower|monk",
}
_ROLE = re.compile(r"the\s", re.IGNORECASE)  # a referent by role, not by name
_PRONOUN_GENDER = (
    (re.compile(r"\b(?:she|her|hers|herself)\b", re.IGNORECASE), "she"),
    (re.compile(r"\b(?:he|him|his|himself)\b", re.IGNORECASE), "he"),
)
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_MARK = re.compile(r"\s+([?.!,;:])")


@dataclass(frozen=True)
class Resolution:
    """A question resolved against the conversation.

    `question` is what says which kind of answer is wanted (the question as asked,
    or for "what about X?" the opening question about X); `search_text` is what is
    searched and read for its topic; `standalone` is the question as a person (or
    an LLM) would read it alone, every word of the follow-up kept ("Which groups
    were banned? and the date?" where the search has only "Which groups were banned?").
    """

    question: str
    search_text: str
    standalone: str


def is_followup(question: str) -> bool:
    """Whether a question leans on what was said before.

    A pronoun does not make one when the question names enough of its own for
    the pronoun to point inside it: in "How many members could lose their
    membership?" "their" points at "members", and the question starts a new topic.
    """
    asked = _asked(question)
    if _asked_about_instead(question) is not None:
        return True
    terms = own_terms(_clean(asked))
    return terms < _MIN_STANDALONE_TERMS or bool(references(asked, terms))


def own_terms(question: str) -> int:
    """How much a question names of its own: its topic's words, and one more for a name.

    "how old is he?" names nothing, "How old is Loach?" enough to stand alone.
    """
    return len(topic_terms(question)) + bool(names(question))


def resolve_followup(question: str, history: list[Turn]) -> str:
    """The text to search for `question`, given the conversation so far."""
    return resolve(question, history).search_text


def resolve(question: str, history: list[Turn]) -> Resolution:
    """`question` made to stand on its own with what the conversation said."""
    if not history or not is_followup(question):
        return Resolution(question, question, question)
    asked = _asked(question)
    own = _clean(asked)
    terms = own_terms(own)
    refs = references(asked, terms)
    if _ANNOUNCED.match(spell_out(question)):
        # "Different question: …" borrows nothing of the thread but the person a
        # pronoun names.
        person = person_referent(own, history) if refs.person else None
        own = name_the_person(own, person) if person else own
        return Resolution(question, own, own)
    opening = _clean(_asked(thread_opening(history)))
    what = _asked_about_instead(question)
    if what is not None:
        return _asked_about(what, opening)
    person = None
    if refs.person and two_people(own):
        subject, other = people_referents(own, history)
        own = name_the_people(own, subject, other)
        # Both must be named for the question to stand alone.
        person = subject if other else None
    elif refs.person:
        person = person_referent(own, history)
        if person:
            own = name_the_person(own, person)
        # "the spokeswoman" says who, but not enough to search alone: the thread comes along.
        if person and _ROLE.match(person):
            person = None
    thing = thing_referent(history) if refs.thing else None
    if thing and (named := name_the_thing(own, thing)) != own:
        own = named
    else:
        thing = None
    elliptical = terms < _MIN_STANDALONE_TERMS
    unresolved = (refs.thing and not thing) or (refs.person and not person)
    if not (elliptical or unresolved or refs.context):
        return Resolution(question, own, own)
    if elliptical and not topic_terms(_ATTRIBUTE.sub(" ", own)):
        # "and the date?", "When?": its words name the kind of answer, and the topic is
        # the previous question's as it was searched (the opening's, or "Who banned
        # it?" after it: "And when?" asks when that was).
        subject = _clean(history[-1].standalone) or opening
        return Resolution(question, subject, _joined(subject, own))
    standalone = _joined(opening, own)
    return Resolution(question, _joined(_ATTRIBUTE.sub(" ", opening), own), standalone)


def thread_opening(history: list[Turn]) -> str:
    """The question that opened the current thread: the latest that stood on its own.

    "what about X?" reopens it about X. Only the last MAX_THREAD_TURNS turns are
    looked at; if none of them stood on its own, the oldest of them opens the
    thread, so a long chain of follow-ups never piles up what was asked before it.
    """
    recent = history[-MAX_THREAD_TURNS:]
    opening = recent[0].question
    for turn in recent:
        if not is_followup(turn.question):
            opening = turn.question
        elif (what := _asked_about_instead(turn.question)) is not None:
            opening = _asked_about(what, _clean(_asked(opening))).question
    return opening


def thread_replied_to(history: list[Turn], replied: str) -> list[Turn]:
    """The turns up to the one whose answer the message `replied` to shows.

    In a group a reply to an older answer continues that answer's thread, not
    whatever was asked since. A message that shows no remembered answer (a
    greeting, an answer's later part, a forgotten turn) leaves `history` whole.
    """
    shown = _tidy(replied)
    for position in range(len(history) - 1, -1, -1):
        answer = _tidy(history[position].answer)
        if answer and shown.startswith(answer[:_ANSWER_PREFIX]):
            return history[: position + 1]
    return history


def person_referent(question: str, history: list[Turn]) -> str | None:
    """The name a person pronoun of `question` stands for, from the previous turn.

    After "Who rescued the kayakers?" the person is the one the answer names; after
    "Who is Tom Pascoe?" or "Was Tom Pascoe paid?" the one the question names. A
    name the follow-up itself uses is someone else ("what did Pascoe say about him?").
    """
    asked, answered, asks_for_person = _previous_people(history)
    if not asks_for_person and not asked and (role := _role_referent(question, history)):
        return role
    candidates = answered + asked if asks_for_person else asked + answered
    for name in candidates + person_names(thread_opening(history)):
        if not _mentions(question, name):
            return name
    return None


def people_referents(question: str, history: list[Turn]) -> tuple[str | None, str | None]:
    """The names "he" and "him" of `question` stand for: two people from the previous turn.

    After "Which rival did Ann Hobbs attack?" she is Ann Hobbs and him the one the answer
    names; after "Who attacked Ann Hobbs?" the other way round. Otherwise the previous question's
    names in order, then the answer's. None for a person no turn named.
    """
    asked, answered, asks_for_person = _previous_people(history)
    asked = [n for n in asked if not _mentions(question, n)]
    answered = [n for n in answered if not _mentions(question, n)]
    if asks_for_person:
        named = asked[0] if asked else None
        answer = answered[0] if answered else None
        did_it = named is not None and re.search(
            rf"\b{_AUXILIARY}\s+{re.escape(named)}", history[-1].standalone, re.IGNORECASE
        )
        return (named, answer) if did_it else (answer, named)
    people: list[str | None] = [*asked, *answered, None, None]
    return people[0], people[1]


def _role_referent(question: str, history: list[Turn]) -> str | None:
    """For "she", "the Labour spokeswoman" when the previous question named no one but a
    person by a word that says she is a woman ("he" and "spokesman" alike), else None."""
    genders = {gender for pronoun, gender in _PRONOUN_GENDER if pronoun.search(question)}
    if len(genders) != 1:
        return None
    words = _ROLE_WORDS[genders.pop()]
    role = re.search(
        rf"\b(?:the|a|an|this|that)\s+((?:[\w'’\-]+\s+){{0,2}}?(?:{words}))\b",
        history[-1].standalone,
        re.IGNORECASE,
    )
    return f"the {role.group(1)}" if role else None


def _previous_people(history: list[Turn]) -> tuple[list[str], list[str], bool]:
    """The people the previous question named, the others its answer named, and whether
    it asked for a person ("Who rescued them?", not "Who is Tom Pascoe?")."""
    previous = history[-1]
    answered = person_names(_MARKER.sub("", previous.answer), single_words=False)
    # A name typed in lower case ("who's keir starmer?") is the one the answer spells.
    asked = list(
        dict.fromkeys(
            person_names(previous.standalone)
            + [n for n in answered if _mentions(previous.standalone, n)]
        )
    )
    answered = [n for n in answered if n not in asked]
    asked_as = _asked(previous.question)
    asks_for_person = bool(_WHICH_PERSON.match(asked_as)) or (
        answer_kind(previous.question) is AnswerKind.WHO
        and not _WHO_IS_NAMED.match(spell_out(previous.question))
    )
    return asked, answered, asks_for_person


def thing_referent(history: list[Turn]) -> str | None:
    """The thing the previous answer named, when the previous question asked for one.

    After "Which club did Tom Pascoe row for?" answered "Pascoe had rowed for the
    Kelbridge Rowing Club since 1990, the Harbour Trust said", "when was it founded?"
    asks about the Kelbridge Rowing Club: of the names of the kind asked that the
    question did not use, and that are not people's, the one nearest the question's
    words in the answer. None when no one name is nearest: the thread's question is
    searched instead.
    """
    previous = history[-1]
    kind = answer_kind(previous.question)
    if kind not in (AnswerKind.ORG, AnswerKind.NAME):
        return None
    answer = _MARKER.sub("", previous.answer)
    used = {word.lower() for name in names(previous.standalone) for word in name.split()}
    # "it" is never a person, whatever kind of name was asked for.
    people = set(person_names(answer))
    offered = [
        span
        for span, _ in kind_spans(kind, answer, previous.standalone)
        if not {word.lower() for word in span.group().split()} & used
        and span.group().strip() not in people
    ]
    asked = set(content_terms(previous.standalone))
    words = list(_ANSWER_WORD.finditer(answer))
    held = [i for i, word in enumerate(words) if set(content_terms(word.group())) & asked]
    if not offered or not held:
        return None

    def distance(span: re.Match[str]) -> int:
        inside = [
            i for i, w in enumerate(words) if span.start() < w.end() and w.start() < span.end()
        ]
        return min((abs(i - j) for i in held for j in inside), default=len(words))

    ranked = sorted((distance(span), _DETERMINER.sub("", span.group().strip())) for span in offered)
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0] and ranked[0][1] != ranked[1][1]:
        return None
    return ranked[0][1]


def _asked_about_instead(question: str) -> str | None:
    """X when `question` asks the thread's question about X: "what about X?", "and X?",
    or a correction naming only X ("no, I meant Ann Hobbs").

    Not when X leans on the conversation itself ("what about his job?") or names only
    a kind of answer ("and the date?"): those are resolved like other follow-ups.
    """
    spelled = spell_out(question)
    about = _WHAT_ABOUT.match(_clean(spelled))
    if about:
        what = _bare(about.group("what") or about.group("and"))
    elif _CORRECTION.match(spelled) and not _ASKS.search(unwrap(spelled)):
        what = _bare(unwrap(spelled))
    else:
        return None
    pointing = references(what, 0)
    if not what or pointing.person or pointing.thing or _ATTRIBUTE.fullmatch(what):
        return None
    return what


def _asked_about(what: str, opening: str) -> Resolution:
    """The opening question asked again about X, for "what about X?".

    A phrase led by a preposition takes the place of the opening's last phrase led by
    the same one ("What did she say about the bridge?", "and about the ferry?"); a
    person takes a person's place, another name the last name; without a name to swap
    ("what about the other boat?") X joins the opening question.
    """
    swapped_phrase = _swap_phrase(what, opening)
    if swapped_phrase is not None:
        return Resolution(swapped_phrase, swapped_phrase, swapped_phrase)
    if what[:1].isupper() and not _ASKS.search(what):
        swapped = (person_names(opening) if person_names(what) else []) or names(opening)[-1:]
        if swapped:
            asked = opening.replace(swapped[0], what, 1)
            return Resolution(asked, asked, asked)
    return Resolution(
        opening,
        _joined(_ATTRIBUTE.sub(" ", opening), what),
        _joined(opening, f"What about {what}?"),
    )


def _swap_phrase(what: str, opening: str) -> str | None:
    """The opening question with X in place of its last phrase led by the same word and
    holding the same kind of thing (a year for a year, a name for a name), or None.

    "What did she say about the bridge?" + "and about the ferry?" -> "What did she say
    about the ferry?"; "... in York in 2018?" + "what about in 2019?" -> "... in York in
    2019?". An X that asks something itself ("and in what year?") is no phrase to swap.
    """
    led = _PREPOSITION_PHRASE.match(what)
    if not led or _ASKS.search(what):
        return None
    shape = _shape(led.group(2))
    same_word = [
        phrase
        for phrase in _PHRASE.finditer(opening)
        if phrase.group(1).lower() == led.group(1).lower()
    ]
    # A phrase holding the same kind of thing; else any but a number for a word or
    # a word for a number ("about Starmer" for "about the purge", not "in 2019" for "in York").
    candidates = [p for p in same_word if _shape(p.group(2)) == shape] or [
        p for p in same_word if (_shape(p.group(2)) == "number") == (shape == "number")
    ]
    if not candidates:
        return None
    last = candidates[-1]
    return _tidy(f"{opening[: last.start()]}{what} {opening[last.end() :]}")


def _shape(words: str) -> str:
    """What kind of thing a phrase holds: a number, a name, or something else."""
    head = _DETERMINER.sub("", words.strip())
    return "number" if head[:1].isdigit() else "name" if head[:1].isupper() else "other"


def _mentions(question: str, name: str) -> bool:
    """Whether `question` uses a word of `name` ("Pascoe" of "Tom Pascoe"; not "mayor")."""
    words = {w.lower() for w in re.findall(r"[\w'’\-]+", question)}
    return any(part.lower() in words for part in identifying_words(name) if len(part) > 2)


def _asked(question: str) -> str:
    """The question as asked: shorthand written out, no wrapper ("no, I meant ...")."""
    return unwrap(spell_out(question))


def _clean(question: str) -> str:
    return _tidy(_FILLER.sub(" ", question))


def _bare(fragment: str) -> str:
    """The fragment without its lead-in, end mark or article: "and the date?" -> "date"."""
    return _DETERMINER.sub("", _LEAD_IN.sub("", fragment).strip(" ?.!"))


def _joined(subject: str, question: str) -> str:
    return _tidy(f"{subject} {_LEAD_IN.sub('', question)}")


def _tidy(text: str) -> str:
    return _SPACE_BEFORE_MARK.sub(r"\1", _SPACES.sub(" ", text)).strip()
