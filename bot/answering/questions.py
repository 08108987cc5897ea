"""Reading a question: its content terms and the kind of answer it asks for.

Nothing here knows any particular story: the answer kinds are English
question words, and the patterns look for dates, numbers, names and places.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from index.terms import WORD, content_terms

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|billion|dozen)"
)
# An item of a list: a name or a few words, quoted or not ("£5m", "‘Hull’").
_ITEM = r"[\w’'‘“”\"().£$%-]+(?:\s+[\w’'‘“”\"().£$%-]+){0,4}"
_PATTERNS = {
    "full_date": re.compile(
        rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b)"
    ),
    "rough_date": re.compile(
        rf"\b(?:{_MONTH}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|(?:19|20)\d\d|"
        r"yesterday|today|tonight|last (?:week|month|year)|this (?:week|month|year))\b"
    ),
    "number": re.compile(rf"\b(?:\d[\d,.]*|{_NUMBER_WORD})\b", re.IGNORECASE),
    "duration": re.compile(
        rf"\b(?:\d+|{_NUMBER_WORD}|an?)[\s-](?:second|minute|hour|day|week|month|year)s?\b",
        re.IGNORECASE,
    ),
    "name": re.compile(r"\b[A-Z][a-z]+(?:\s+(?:[A-Z][a-z]+|[A-Z]\.))+"),
    # A person named by their role: "a party spokeswoman", "the foreign minister".
    # Words that are as often adjectives or things ("official", "chief", "source") are left out.
    "role": re.compile(
        r"\b(?:a|an|the|its|his|her|their)\s+(?:[\w’'-]+\s+){0,2}?"
        r"(spokes(?:man|woman|person|men|women|people)|ministers?|secretar(?:y|ies)|"
        r"leaders?|directors?|presidents?|chair(?:man|woman|men|women)|representatives?|"
        r"advis[eo]rs?|aides?|lawyers?|attorneys?|judges?|commissioners?|senators?|governors?|"
        r"mayors?|prosecutors?|officers?|executives?|founders?|managers?|captains?|insiders?)\b",
        re.IGNORECASE,
    ),
    "reason": re.compile(
        r"\b(?:because|since|due to|owing to|as a result|after|so that|"
        r"as I|as he|as she|as they)\b",
        re.IGNORECASE,
    ),
    "place": re.compile(r"\b(?:in|at|on|outside|from|to)\s+(?:the\s+)?[A-Z][A-Za-z]+"),
    "weekday": re.compile(
        r"\b(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|yesterday|today|tonight|tomorrow)\b",
        re.IGNORECASE,
    ),
    # An organisation: a run of capitalised words, or an acronym (NEC, NATO, FBI).
    "org": re.compile(
        r"\b(?:[A-Z][a-z]+(?:\s+(?:of|for|the|and|[A-Z][a-z]+))*\s+[A-Z][a-z]+|[A-Z]{2,6})\b"
    ),
    # Three or more items of at most five words: "A, B and C", "A, B, or C". A long
    # clause between commas ("The mayor, who has led the council since May, said …")
    # is no item; a short one still is.
    "list": re.compile(rf"\b{_ITEM},\s+{_ITEM}(?:,\s+{_ITEM})*,?\s+(?:and|or)\s+{_ITEM}"),
}


_YEAR = re.compile(r"(?:19|20)\d\d")
# What comes before a year: "in 2019", "since 1998", "May 2020", "20 May, 2021".
_BEFORE_YEAR = re.compile(
    rf"(?:\b(?:in|since|by|until|till|from|before|after|during|of|year)|{_MONTH}|\d,?)\s+$",
    re.IGNORECASE,
)


class AnswerKind(Enum):
    WHEN = "when"
    NUMBER = "number"
    DURATION = "duration"
    WHO = "who"
    NAME = "name"
    WHERE = "where"
    REASON = "reason"
    ORG = "org"
    EXPANSION = "expansion"  # what an acronym stands for
    DAY = "day"
    YES_NO = "yes_no"
    LIST = "list"
    OTHER = "other"


# What leads a corrected question in: "sorry, I meant…", "nvm i meant…", "Correction: I meant…".
CORRECTION_LEAD = (
    r"(?:no|nope|sorry|oops|wait|actually|correction|nvm|never\s+mind|my\s+bad|scratch\s+that)"
)
# How a change of topic is announced: "Different question: …", "diff q -", "Anyway, …",
# "nvm. …".
TOPIC_CHANGE = (
    r"(?:(?:a\s+)?(?:different|diff|new|another|other|separate|unrelated)\s+"
    r"(?:question|q|topic|subject)"
    r"|change\s+of\s+(?:subject|topic)|chang(?:e|ing)\s+(?:the\s+)?(?:subject|topic)"
    r"|on\s+(?:a\s+)?(?:different|another|other|separate)\s+(?:note|topic|subject)"
    r"|moving\s+on|anyway"
    # "nvm. what did…": the question before is dropped ("nvm, I meant…" corrects it).
    r"|(?:nvm|never\s+mind)(?![,.!:;\s—–-]*i\s+meant?\b))"
)
# Words that open a question without asking anything: "ok, ", "sorry - ", "nvm. ".
LEAD_IN = rf"(?:(?:please|ok(?:ay)?|so|and|hey|hi|{CORRECTION_LEAD})[,.!:;\s—–-]+)*"
# How people wrap a question: "Tell me who…", "I'd like to know when…", "Can you say
# how many…". The wrapper is dropped before the question words are read.
_WRAPPER = re.compile(
    rf"^\s*{LEAD_IN}"
    r"(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:tell|show|give|remind)\s+me"
    # "Could you say who…", not "Would you say it was fair?", a yes/no question.
    r"|(?:can|could|would|will)\s+you\s+(?:please\s+)?(?:say|explain)"
    r"(?=\s+(?:who|whom|whose|what|when|where|why|how|which|whether|if)\b)"
    # "Can you list…", "could you name…": the request verb stays, it asks for a list.
    r"|(?:can|could|would|will)\s+you\s+(?:please\s+)?(?=(?:list|name|enumerate|identify|describe)\b)"
    r"|(?:please\s+)?(?:tell|show|remind)\s+me|(?:do|does)\s+(?:you|anyone)\s+know"
    r"|(?:u|you)\s+know|i(?:'d|’d|\s+would)\s+like\s+to\s+know|i\s+(?:want|need)\s+to\s+know"
    r"|i(?:'m|’m|\s+am)\s+(?:curious|wondering)(?:\s+about)?|i\s+wonder"
    r"|(?:any\s+idea|find\s+out|explain)"
    # A corrected question: "no, I meant which groups…", "sorry, I was asking who…".
    r"|i\s+meant?|i\s+was\s+asking(?:\s+about)?"
    # A change of topic announced: "Different question: …", "Changing topic — …".
    rf"|{TOPIC_CHANGE})\b[,.!:;\s—–-]*",
    re.IGNORECASE,
)
# "And when did…", "so who…": the question words come after it.
_LEADING_CONJUNCTION = re.compile(r"^\s*(?:(?:and|so|but|then|also|plus)[,\s]+)+", re.IGNORECASE)
_LIST_VERB = re.compile(r"^\s*(?:please\s+)?(?:list|name|enumerate)\b", re.IGNORECASE)
_YES_NO = re.compile(
    r"^\s*(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should|"
    r"isn't|wasn't|didn't|doesn't|hasn't|haven't)\b",
    re.IGNORECASE,
)
# A question asking for several things: "which groups", "what are the names of".
_PLURAL_ASK = re.compile(
    r"^\s*(?:which|what)\s+(?:\w+\s+)?\w+s\s+(?:were|are|have|had|did|got)\b"
    r"|\bnames\s+of\b",
    re.IGNORECASE,
)
_ORG_WORDS = (
    r"(?:organi[sz]ation|body|group|party|company|firm|agency|committee|institution|"
    r"union|council|department|ministry|government|team|club|newspaper|paper|outlet|"
    r"network|bank|court|university|charity)"
)


# How people type in a chat: shorthand and dropped apostrophes, written out so the
# question words and terms are read as in a written question ("wat age" -> "what age",
# "whats" -> "what is", "hrs" -> "hours"). General English chat spelling, nothing else.
_CHAT_WORDS = {
    "u": "you",
    "ur": "your",
    "r": "are",
    "ppl": "people",
    "pls": "please",
    "plz": "please",
    "wat": "what",
    "wut": "what",
    "wht": "what",
    "whats": "what is",
    "wats": "what is",
    "whos": "who is",
    "wheres": "where is",
    "whens": "when is",
    "hows": "how is",
    "hw": "how",
    "wen": "when",
    "abt": "about",
    "bc": "because",
    "cuz": "because",
    "coz": "because",
    "yr": "year",
    "yrs": "years",
    "hr": "hour",
    "hrs": "hours",
    "mins": "minutes",
    "govt": "government",
    "gov": "government",
    "dont": "don't",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "arent": "aren't",
    "cant": "can't",
    "wont": "won't",
    "im": "I'm",
    "b4": "before",
    "2day": "today",
    "tmrw": "tomorrow",
    "w/": "with",
}
_CHAT_WORD = re.compile(
    r"(?<![\w'’])(" + "|".join(re.escape(w) for w in _CHAT_WORDS) + r")(?![\w'’])", re.IGNORECASE
)


def spell_out(text: str) -> str:
    """`text` with chat shorthand written out ("wat age is u" -> "what age is you").

    Only lower-case shorthand, or a capitalised one opening the text: "Wat Arun" and
    "R. Kelly" inside a question are names.
    """

    def written(match: re.Match[str]) -> str:
        word = match.group()
        opening = not text[: match.start()].strip()
        if word.islower() or (opening and len(word) > 1):
            return _CHAT_WORDS[word.lower()]
        return word

    return _CHAT_WORD.sub(written, text)


def unwrap(question: str) -> str:
    """The question without a polite or indirect wrapper ("Tell me which …" -> "which …")."""
    stripped = _WRAPPER.sub("", question, count=1)
    return stripped if any(ch.isalnum() for ch in stripped) else question


_PLACE_WORDS = r"(?:city|country|state|town|village|county|region|province|island|place|venue)"
# Quiz-style questions put the question word anywhere: "...the newest landmark in which
# US city?", "...a donation in what amount?". Rules are tried in order.
# "What does RNLI stand for?", "what does rnli stand for", "What is NATO short for?"
# An acronym is in capitals, unless it is asked what it stands for ("what does rnli
# stand for"): "what did the judge mean" asks no acronym.
_ACRONYM_ASK = re.compile(
    r"\b[Ww]hat\s+(?:does|do|did|is)\s+(?:the\s+)?"
    r"(?:([A-Z]{2,6})\s+(?:mean|[Ss]tands?\s+for|[Ss]hort\s+for)"
    r"|([A-Za-z]{2,6})\s+(?:[Ss]tands?\s+for|[Ss]hort\s+for))\b"
    r"|\b([A-Za-z]{2,6})\s+stands?\s+for\s+what\b"
)
# Between the words of a name: "Society for the Protection of…".
_SMALL_WORDS = r"\s+(?:(?:of|for|and|the|on|in|to|at)\s+)*"
# "What is/was [the, X's, up to three words] <attribute>": the attribute names the kind.
_ATTRIBUTE_KINDS = {
    "date": AnswerKind.WHEN,
    "year": AnswerKind.WHEN,
    "month": AnswerKind.WHEN,
    "time": AnswerKind.WHEN,
    "day": AnswerKind.DAY,
    "age": AnswerKind.NUMBER,
    "number": AnswerKind.NUMBER,
    "price": AnswerKind.NUMBER,
    "cost": AnswerKind.NUMBER,
    "amount": AnswerKind.NUMBER,
    "total": AnswerKind.NUMBER,
    "location": AnswerKind.WHERE,
    "place": AnswerKind.WHERE,
    "venue": AnswerKind.WHERE,
    "address": AnswerKind.WHERE,
    "name": AnswerKind.NAME,
    "reason": AnswerKind.REASON,
    "cause": AnswerKind.REASON,
    "duration": AnswerKind.DURATION,
}
_ATTRIBUTE_ASK = re.compile(
    r"^\s*what(?:'s|’s|s|\s+is|\s+was|\s+are|\s+were)\s+"
    r"(?:(?:the|his|her|its|their|that|this)\s+)?(?:[\w-]+(?:'s|’s|s'|s’)?\s+){0,3}?"
    rf"(?P<attribute>{'|'.join(_ATTRIBUTE_KINDS)})s?\b",
    re.IGNORECASE,
)
_KIND_RULES = [
    (_ACRONYM_ASK, AnswerKind.EXPANSION),
    (
        re.compile(r"\bday\s+of\s+the\s+week\b|^\s*(?:what|which|on\s+what)\s+day\b", re.I),
        AnswerKind.DAY,
    ),
    (re.compile(r"^\s*how\s+long\b", re.I), AnswerKind.DURATION),
    (_ATTRIBUTE_ASK, None),  # "What was the exact date…", "what is the ally's name?"
    (re.compile(r"^\s*what\s+(?:is|was|are|were)\b.*\bcalled\s*\??\s*$", re.I), AnswerKind.NAME),
    (
        re.compile(
            r"\bhow\s+(?:many|much|old)\b|\bwhat\s+(?:age|number|percentage|amount|sum|price)\b",
            re.I,
        ),
        AnswerKind.NUMBER,
    ),
    (
        re.compile(
            r"^\s*when\b|\bwhat\s+(?:date|day|year|month|time)\b|\bwhich\s+(?:date|day|year|month)\b",
            re.I,
        ),
        AnswerKind.WHEN,
    ),
    (re.compile(r"^\s*(?:who|whom|whose)\b", re.I), AnswerKind.WHO),
    (re.compile(r"^\s*where\b", re.I), AnswerKind.WHERE),
    (
        re.compile(rf"\b(?:which|what)\s+(?:[\w.]+\s+)?{_PLACE_WORDS}\b", re.I),
        AnswerKind.WHERE,
    ),
    (re.compile(rf"\b(?:which|what)\s+(?:\w+\s+)?{_ORG_WORDS}\b", re.I), AnswerKind.ORG),
    (re.compile(r"^\s*which\b", re.I), AnswerKind.NAME),
    (
        re.compile(
            r"\bwhat(?:'s|’s|s|\s+is|\s+was)\s+(?:the\s+|his\s+|her\s+|its\s+|their\s+)?name\b",
            re.I,
        ),
        AnswerKind.NAME,
    ),
    (re.compile(r"^\s*why\b|\bwhat\s+(?:reason|caused)\b", re.I), AnswerKind.REASON),
    (re.compile(r"\b(?:by|to|from|with|for|of)\s+whom\b|\bwho\s*\?\s*$", re.I), AnswerKind.WHO),
    (re.compile(r"\bwhich\s+\w+", re.I), AnswerKind.NAME),
]


# An elliptical follow-up names only what it wants: "And the date?", "what about the place?"
# Each such attribute asks for the kind it does in a full question, except that "and the
# day?" asks for the date ("what day of the week" asks for a weekday).
_ELLIPSIS_WORDS = "date year month time place location venue number amount total name reason"
_ELLIPSIS_KINDS = {word: _ATTRIBUTE_KINDS[word] for word in _ELLIPSIS_WORDS.split()} | {
    "day": AnswerKind.WHEN
}
_ELLIPSIS = re.compile(
    r"^\s*(?:and|so|what\s+about|how\s+about)?\s*(?:the\s+|its\s+|their\s+|his\s+|her\s+)?"
    rf"({'|'.join(_ELLIPSIS_KINDS)})\s*\??\s*$",
    re.IGNORECASE,
)


def answer_kind(question: str) -> AnswerKind:
    """The kind of answer a question asks for, from its question words."""
    ellipsis = _ELLIPSIS.match(question) or _ELLIPSIS.match(unwrap(question))
    if ellipsis:
        return _ELLIPSIS_KINDS[ellipsis.group(1).lower()]
    question = _LEADING_CONJUNCTION.sub("", unwrap(question))
    if _LIST_VERB.search(question):
        return AnswerKind.LIST
    if _PLURAL_ASK.search(question):
        return AnswerKind.LIST
    for pattern, kind in _KIND_RULES:
        if found := pattern.search(question):
            return kind or _ATTRIBUTE_KINDS[found.group("attribute").lower()]
    if _YES_NO.search(question):
        return AnswerKind.YES_NO
    return AnswerKind.OTHER


def kind_match(kind: AnswerKind, sentence: str, question: str) -> float:
    """How well a sentence offers the kind of answer asked for, 0..1."""
    return max((strength for _, strength in kind_spans(kind, sentence, question)), default=0.0)


_A_NUMBER_WORD = re.compile(_NUMBER_WORD, re.IGNORECASE)


def _names_anew(name: re.Match[str], asked: set[str]) -> bool:
    """Whether a run of capitalised words names something the question does not.

    A capitalised function or number word that starts a sentence or quote is no part
    of a name: "One Sir Keir ally said" names no one but Sir Keir, "Under Corbyn" Corbyn.
    """
    return any(
        word not in asked and content_terms(word) and not _A_NUMBER_WORD.fullmatch(word)
        for word in (w.lower() for w in name.group().split())
    )


# A number that does not count what "how many X" asks about, or is no one's age for
# "how old": still a number, but weaker evidence ("four groups" for "how many members").
_UNFIT_NUMBER = 0.5
# "how many of the new fighters" counts fighters.
_HOW_MANY = re.compile(
    r"\bhow\s+many\s+(?:of\s+(?:the|those|these|its|their|his|her|our)\s+)?"
    r"((?:[\w’'-]+\s+){0,2}[\w’'-]+)",
    re.IGNORECASE,
)
_HOW_OLD = re.compile(r"\bhow\s+old\b|\bage\b|\baged\b", re.IGNORECASE)
# Ages as news gives them: "Ann Hobbs, 85, said", "aged 85", "the age of 85", "an 85-year-old".
_AGE_LEAD = re.compile(r"(?:\baged|\bage\s+of)\s+$", re.IGNORECASE)
_AGE_TAIL = re.compile(r"^(?:-year-old\b|\s+years?\s+old\b)", re.IGNORECASE)
_APPOSITION = (re.compile(r"[A-Za-z)],\s*$"), re.compile(r"^\s*,"))
_COUNTED_WITHIN = 3  # words between a number and the noun it counts ("four far-left groups")


# Asked of every candidate sentence of a question: read the question once.
@functools.lru_cache(maxsize=256)
def _number_fit(question: str) -> Callable[[str, re.Match[str]], bool] | None:
    """For "how many X" or "how old", whether a number in a sentence counts X or is an age."""
    counted = _HOW_MANY.search(question)
    if counted is None:
        return _is_age if _HOW_OLD.search(question) else None
    # The words counted run up to the verb: "how many party members were...".
    leading = itertools.takewhile(content_terms, counted.group(1).split())
    nouns = {t for word in leading for t in content_terms(word)}
    if not nouns:
        return None

    def counts(sentence: str, m: re.Match[str]) -> bool:
        after = sentence[m.end() :].split()[: _COUNTED_WITHIN + 1]
        return bool(nouns & set(content_terms(" ".join(after))))

    return counts


def _is_age(sentence: str, m: re.Match[str]) -> bool:
    before, after = sentence[: m.start()], sentence[m.end() :]
    return bool(
        _AGE_LEAD.search(before)
        or _AGE_TAIL.match(after)
        or (_APPOSITION[0].search(before) and _APPOSITION[1].match(after))
    )


def kind_spans(kind: AnswerKind, sentence: str, question: str) -> list[tuple[re.Match[str], float]]:
    """The places where a sentence offers the kind of answer asked for, each with how well."""
    if kind is AnswerKind.WHEN:
        full = [(m, 1.0) for m in _PATTERNS["full_date"].finditer(sentence)]
        return full + [(m, 0.6) for m in _PATTERNS["rough_date"].finditer(sentence)]
    if kind is AnswerKind.NUMBER:
        # A number the question already holds ("in 2024") answers nothing, nor does the
        # day or year of a date ("on July 20", "in 2019"): "how old" or "how many" is
        # not answered by a date.
        asked_numbers = {n.lower() for n in _PATTERNS["number"].findall(question)}
        dates = [m.span() for m in _PATTERNS["full_date"].finditer(sentence)]
        fits = _number_fit(question)
        return [
            (m, 1.0 if fits is None or fits(sentence, m) else _UNFIT_NUMBER)
            for m in _PATTERNS["number"].finditer(sentence)
            if m.group().lower() not in asked_numbers
            and not (_YEAR.fullmatch(m.group()) and _BEFORE_YEAR.search(sentence[: m.start()]))
            and not any(a <= m.start() and m.end() <= b for a, b in dates)
        ]
    if kind is AnswerKind.DURATION:
        spans = [(m, 1.0) for m in _PATTERNS["duration"].finditer(sentence)]
        return spans or [(m, 0.3) for m in _PATTERNS["number"].finditer(sentence)]
    asked = {w.lower() for w in WORD.findall(question)}
    if kind is AnswerKind.REASON:
        return [(m, 1.0) for m in _PATTERNS["reason"].finditer(sentence)]
    if kind in (AnswerKind.WHO, AnswerKind.NAME):
        names = [(m, 1.0) for m in _PATTERNS["name"].finditer(sentence) if _names_anew(m, asked)]
        if kind is AnswerKind.NAME:
            return names
        # News often answers "who" with a role: "a Labour spokeswoman said".
        asked_terms = set(content_terms(question))
        return names + [
            (m, 0.6)
            for m in _PATTERNS["role"].finditer(sentence)
            if not set(content_terms(m.group(1))) & asked_terms
        ]
    if kind is AnswerKind.WHERE:
        return [
            (m, 1.0)
            for m in _PATTERNS["place"].finditer(sentence)
            if m.group().split()[-1].lower() not in asked
        ]
    if kind is AnswerKind.DAY:
        # "today" names a day only through the article's date.
        return [
            (m, 1.0 if m.group().lower().endswith("day") and m.group().lower() != "today" else 0.5)
            for m in _PATTERNS["weekday"].finditer(sentence)
        ][:1]
    if kind is AnswerKind.ORG:
        return [
            (m, 1.0)
            for m in _PATTERNS["org"].finditer(sentence)
            if not {w.lower() for w in m.group().split()} <= asked
        ]
    if kind is AnswerKind.LIST:
        return [(m, 1.0) for m in _PATTERNS["list"].finditer(sentence)]
    if kind is AnswerKind.EXPANSION:
        letters = asked_acronym(question)
        if letters is None:
            return []
        # Capitalised words with those initials, small words allowed between them.
        spelled = _SMALL_WORDS.join(rf"{letter}[a-z]+" for letter in letters)
        return [(m, 1.0) for m in re.finditer(rf"\b{spelled}\b", sentence)]
    return []


def asked_acronym(question: str) -> str | None:
    """The acronym whose meaning `question` asks ("What does NEC stand for?" -> "NEC")."""
    asked = _ACRONYM_ASK.search(question)
    return None if asked is None else next(g for g in asked.groups() if g).upper()


# Past participles not ending in -ed, for "got caught", "got taken".
_PARTICIPLE = (
    r"(?:caught|paid|hurt|hit|shot|sent|stuck|left|lost|sold|told|held|made|beaten|bitten|"
    r"broken|chosen|driven|eaten|forgotten|given|hidden|stolen|taken|written|blown|drawn|"
    r"known|shown|thrown|sworn|torn)"
)
# "how long", "how old": the adjective belongs to the question word, not the topic.
_QUESTION_PHRASE = re.compile(
    r"\bhow\s+(?:long|old|far|often|big|large|much|many|soon)\b"
    # "When did that happen?": that something happened is the question, not its topic.
    r"|\b(?:happen(?:s|ed|ing)?|occur(?:s|red|ring)?|take\s+place|took\s+place)\b"
    # "What does NATO stand for?": what an acronym stands for is asked, not "stand".
    r"|\bstands?\s+for\b|\bshort\s+for\b|\bmean\s*\??\s*$"
    # "which groups got banned": "got" only makes the verb passive, as "were" would
    # ("got seven votes", "got red cards": "got" is the verb).
    rf"|\b(?:get|gets|getting|got|gotten)\b(?=\s+(?:(?!{_NUMBER_WORD}\b)\w{{2,}}ed|{_PARTICIPLE})\b)",
    re.I,
)
# Words that only frame the question, so the articles need not use them, though they
# count as the question's own words when telling a follow-up from a new topic: what
# the kind of answer asked for is called ("What age is she?" is answered by a number,
# "which day of the week" by "Saturday", "the names of the groups" by the names),
# "according to", modal verbs and "anything else". NLTK's stop words leave them in,
# and a question word the articles never use counts against every sentence.
_FRAME = re.compile(
    r"\b(?:at\s+)?what\s+age\b"
    r"|\b(?:on\s+|in\s+)?(?:what|which)\s+(?:day(?:\s+of\s+the\s+week)?|date|month|year)\b"
    r"|\bhow\s+many\s+(?:years|yrs)\s+old\b"
    r"|\bnames?\s+of\b"
    r"|\bwhat(?:'s|’s|s|\s+is|\s+are|\s+was|\s+were)\s+(?:the\s+|his\s+|her\s+|its\s+|their\s+)?names?\b"
    # The article itself: "according to the piece", "what does the article say…".
    r"|\b(?:according\s+to|in|from)\s+(?:the|this)\s+(?:article|piece|story)\b"
    r"|\baccording\s+to\b"
    r"|\b(?:do|does|did)\s+(?:the|this)\s+(?:article|piece|story)"
    r"(?:\s+(?:say|mention|state|report|describe|use|call)s?\b)?"
    # A request verb only says what is asked: "Name the four groups", "Describe the
    # protest", also after an earlier question ("Which groups…? list them"). "Give" and
    # "state" only before what they ask for: "State media said…" is about state media.
    r"|(?:^|[.?!]\s)\s*(?:please\s+)?(?:list|name|enumerate|identify|describe)\b"
    r"|(?:^|[.?!]\s)\s*(?:please\s+)?(?:give(?:\s+me)?|state)"
    r"(?=\s+(?:the|a|an|all|his|her|their|its|me|us|them|some|any|both|"
    r"what|who|which|how|where|when|why)\b)"
    r"|\b(?:would|could|might|must|shall|anything|something|else|apart\s+from)\b",
    re.I,
)
# In "How long did the meeting last?" the verb only says that a duration is asked
# ("lasted", "took", "went on for").
_DURATION_ASK = re.compile(
    r"\bhow\s+(?:long|many\s+(?:seconds|minutes|hours|days|weeks|months|years))\b", re.I
)
_DURATION_VERB = re.compile(
    r"(?<![\w'’-])(?:last(?:s|ed)?|take[sn]?|took|go(?:es)?\s+on(?:\s+for)?|"
    r"went\s+on(?:\s+for)?)(?![\w'’-])",
    re.I,
)


def topic_terms(text: str) -> list[str]:
    """The content terms of a question's topic: "how old", "happened" and the like left out."""
    return content_terms(_QUESTION_PHRASE.sub(" ", text))


def reading_terms(text: str) -> list[str]:
    """The terms a question's answer is read for: its topic without the words that
    only say what is asked ("what age", the verb of "how long did it last")."""
    text = _FRAME.sub(" ", text)
    if _DURATION_ASK.search(text):
        text = _DURATION_VERB.sub(" ", text)
    return topic_terms(text)


@dataclass(frozen=True)
class Question:
    """A question ready for answering: its text, its search text, its terms and kind."""

    text: str
    search_text: str
    terms: tuple[str, ...]
    kind: AnswerKind

    @classmethod
    def parse(cls, text: str, search_text: str | None = None) -> Question:
        text = spell_out(text)
        search_text = spell_out(search_text or text)
        # Searched and read without a wrapper: "tell", "know", "meant" are not its topic.
        search_text = unwrap(search_text)
        terms = reading_terms(search_text)
        return cls(text, search_text, tuple(dict.fromkeys(terms)), answer_kind(text))
