"""Names in a question or an answer, and which of them may be people's.

Told by their words only, with no list of any story's names: capitalised runs,
less a sentence's first function word; a person's name has no word of
organisations, places or dates and does not follow "of", "in", "at"...
"""

from __future__ import annotations

import re

from llama_index.core.utils import globals_helper

# "O'Neill", "Jean-Luc", "DALL-E", "Su-57", "F-35".
_WORD = (
    r"(?:(?:[A-Z][a-z]+|[A-Z]{2,}|[A-Z](?=['’][A-Z]))(?:['’\-][A-Za-z0-9]+)*"
    r"|[A-Z](?:-[A-Za-z0-9]+)+|[A-Z]\.)"
)
_RUN = re.compile(rf"{_WORD}(?:\s+{_WORD})*")
# A name with one of these words names an organisation, a place or a date. (Months
# that are also first names, such as May and June, are left out.)
_NOT_A_PERSON = frozenset(
    re.findall(
        r"\w+",
        """
        party committee council network group union government ministry department office
        agency association society foundation trust institute university college school
        club league federation bank company corporation court church army police service
        commission board authority movement campaign front alliance coalition hospital
        news times post mail monday tuesday wednesday thursday friday saturday sunday
        january february march july september october november december house street road
        city county state states kingdom republic parliament senate congress assembly
        centre center station airport bridge park river sea ocean island
        """,
    )
)
# Words that join the parts of a capitalised title: "Friends Of the Earth".
_TITLE_JOINERS = frozenset(
    re.findall(r"\w+", "a an the and or of in on at to for from by with against without under")
)
_TITLES = frozenset(re.findall(r"\w+", "mr mrs ms miss dr sir dame lord lady prof professor"))
# Offices written before a name: "Carmel Mayor Jim Brainard" is Mayor Jim Brainard of Carmel.
_OFFICES = frozenset(
    re.findall(
        r"\w+",
        """
        mayor governor gov senator sen president rev reverend father pastor bishop
        archbishop cardinal judge minister chancellor secretary chairman chairwoman
        councillor councilman councilwoman commissioner sheriff coach
        """,
    )
)
_TITLES_AND_OFFICES = _TITLES | _OFFICES
# Words for someone known by their tie to a person: "the Hobbs ally" is not Hobbs.
_TIED_TO = frozenset(
    re.findall(
        r"\w+",
        """
        ally allies aide aides adviser advisers advisor advisors supporter supporters
        loyalist loyalists critic critics rival rivals spokesman spokeswoman spokesperson
        camp backer backers associate associates
        """,
    )
)
# "member of X", "in X", "on X": a place, a body or a date more often than a person.
_PLACE_BEFORE = re.compile(
    r"\b(?:of|in|at|on|from|near|into|across|outside|inside|throughout|since|until)\s+"
    r"(?:the\s+)?$",
    re.IGNORECASE,
)

_WHICH_BEFORE = re.compile(r"\bwhich\s+$", re.IGNORECASE)
_WORD_AFTER = re.compile(r"\s+[a-z]")
_LOWER_WORD_AFTER = re.compile(r"\s+([a-z]+)\b")


def names(text: str, single_words: bool = True) -> list[str]:
    """Names in `text`, in order: runs of capitalised words ("Ken Loach", "Kelbridge Council").

    A sentence's first function word is not part of one ("Was Loach" -> "Loach").
    One-word names count only with `single_words`, and never a sentence's first word.
    """
    return list(dict.fromkeys(name for name, _ in _name_spans(text, single_words)))


def person_names(text: str, single_words: bool = True) -> list[str]:
    """Names in `text` that may be people's, in order: "Ken Loach", "Sir Keir", "Loach".

    One-word names count only with `single_words`: in a question "Loach" is a name;
    in an article's sentence a lone capital is as often a party or a place.
    """
    people = []
    for whole, start in _name_spans(text, single_words):
        words = whole.split()
        offices = [i for i, w in enumerate(words[1:-1], 1) if w.lower().strip(".") in _OFFICES]
        if offices:
            words = words[offices[-1] :]
            start = text.index(words[0], start)
        name = " ".join(words)
        lowered = {w.lower().strip(".") for w in words}
        # "M." of "Jason M. Allen" is an initial, not an acronym.
        if any(len(w.strip(".")) > 1 and w.isupper() for w in words) or lowered & _NOT_A_PERSON:
            continue  # an acronym, a body, a place or a date
        if not lowered - _TITLES or _PLACE_BEFORE.search(text[:start]):
            continue
        # "Which Labour figure...?": a name between "which" and a noun says what kind.
        if _WHICH_BEFORE.search(text[:start]) and _WORD_AFTER.match(text, start + len(name)):
            continue
        # "the Black Lives Matter movement", "the Carmel church": a name before a word
        # for a body says which body; "the Hobbs ally", before a word for someone tied
        # to a person, says whose ally, who is someone else.
        after = _LOWER_WORD_AFTER.match(text, start + len(name))
        if after and after.group(1) in _NOT_A_PERSON | _TIED_TO:
            continue
        # "Labour Against the Witchhunt": a run ending on a capitalised preposition or
        # article is the start of a longer title, a body's or a work's, not a person's
        # name (one ending on other short words is: "Jack Ma", "Ann Will").
        if words[-1].lower() in _TITLE_JOINERS:
            continue
        people.append(name)
    return list(dict.fromkeys(people))


def identifying_words(name: str) -> list[str]:
    """The words of `name` that tell who it is: "Mayor Ann Hobbs" -> ["Ann", "Hobbs"]."""
    return [w for w in name.split() if w.lower().strip(".") not in _TITLES_AND_OFFICES]


def _name_spans(text: str, single_words: bool) -> list[tuple[str, int]]:
    spans = []
    for match in _RUN.finditer(text):
        words = [re.sub(r"['’]s$", "", w) for w in match.group().split()]
        start, opening = match.start(), _sentence_start(text, match.start())
        while words and words[0].lower() in globals_helper.stopwords:
            start = text.index(words[1], start + 1) if len(words) > 1 else start
            words, opening = words[1:], False
        if not words or (len(words) == 1 and (not single_words or opening)):
            continue
        spans.append((" ".join(words), start))
    return spans


def _sentence_start(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    return not before or before[-1] in ".?!:;‘“\"'"
