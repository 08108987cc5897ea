"""The fitted reader: question forms, features, fitting, the shipped weights, calibration.

Made-up articles and questions only (not the story), the real local embedding model.
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

from bot.answering.followup import is_followup
from bot.answering.questions import (
    AnswerKind,
    Question,
    answer_kind,
    kind_match,
    spell_out,
    unwrap,
)
from bot.answering.reader import (
    CONFIDENCE_FEATURES,
    CONFIDENCE_ONLY,
    CONFIDENCE_SIGNS,
    MEANING_CANDIDATES,
    SENTENCE_FEATURES,
    SENTENCE_SIGNS,
    SHORTLIST_FEATURES,
    Candidate,
    ReaderWeights,
    WordVectors,
    confidence_features,
    fit_logistic,
    held_words,
    kind_nearness,
    sentence_features,
    sentence_terms,
    word_evidence,
)
from bot.evaluation import Dialogue, DialogueResult
from bot.evaluation.calibration import calibration, precision_when_answering
from index.errors import IndexNotBuiltError
from index.terms import TERMS_VERSION

# ---------------------------------------------------------------- question forms


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Tell me who opened the bakery.", AnswerKind.WHO),
        ("I'd like to know when the bridge reopened", AnswerKind.WHEN),
        ("Can you tell me how many ferries were cancelled?", AnswerKind.NUMBER),
        ("do you know where the festival took place", AnswerKind.WHERE),
        ("List the towns that flooded.", AnswerKind.LIST),
        ("which towns were flooded", AnswerKind.LIST),
        ("What are the names of the rescued climbers?", AnswerKind.LIST),
        ("Did the council approve the budget?", AnswerKind.YES_NO),
        ("Was the mayor re-elected?", AnswerKind.YES_NO),
        ("Which organisation ran the marathon?", AnswerKind.ORG),
        ("Which company bought the stadium?", AnswerKind.ORG),
        ("On what day did the storm hit?", AnswerKind.DAY),
        ("What day of the week was the vote?", AnswerKind.DAY),
        ("How long did the strike last?", AnswerKind.DURATION),
        ("Tell me about the harbour.", AnswerKind.OTHER),
        ("no, I meant which towns were flooded", AnswerKind.LIST),
        ("Sorry, I was asking about the date", AnswerKind.WHEN),
        ("What does RNLI stand for?", AnswerKind.EXPANSION),
        ("what does rnli stand for", AnswerKind.EXPANSION),
        ("What is NATO short for?", AnswerKind.EXPANSION),
        ("What did the mayor mean by that?", AnswerKind.OTHER),
        ("What is the name of the skipper?", AnswerKind.NAME),
        ("whats his name", AnswerKind.NAME),
        ("Could you say who won the race?", AnswerKind.WHO),
        ("can you list the towns that flooded", AnswerKind.LIST),
        ("could you name the rescued climbers", AnswerKind.LIST),
        ("Can you believe the result?", AnswerKind.YES_NO),
        ("Would you say the vote was fair?", AnswerKind.YES_NO),
        # "What is/was … <attribute>": the attribute names the kind.
        ("What was the exact date of the meeting at which the budget passed?", AnswerKind.WHEN),
        ("what is the skipper's name?", AnswerKind.NAME),
        ("What is the location of the new depot?", AnswerKind.WHERE),
        ("What was the council's stated reason for closing it?", AnswerKind.REASON),
        ("What is the starting price of the new ferry ticket?", AnswerKind.NUMBER),
        ("What was the mayor's last book called?", AnswerKind.NAME),
        ("What had the protesters called the plan?", AnswerKind.OTHER),
        ("And when did the ferry sink?", AnswerKind.WHEN),
        ("so who paid for it", AnswerKind.WHO),
    ],
)
def test_answer_kind_reads_wrapped_and_new_forms(question: str, kind: AnswerKind) -> None:
    assert answer_kind(question) is kind


def test_unwrap_drops_the_wrapper_only() -> None:
    assert unwrap("Could you tell me who won?") == "who won?"
    assert unwrap("no, I meant who lost") == "who lost"
    assert unwrap("No one was hurt?") == "No one was hurt?"
    assert unwrap("Who won?") == "Who won?"
    assert unwrap("Tell me") == "Tell me"  # nothing left: kept whole
    assert unwrap("New question?") == "New question?"
    # A change of topic or a correction announced is no part of the question.
    assert unwrap("Different question: who won?") == "who won?"
    assert unwrap("Changing topic — who lost?") == "who lost?"
    assert unwrap("Change of subject: how many boats sank?") == "how many boats sank?"
    assert unwrap("Correction, I meant: on what day?") == "on what day?"


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("wat age is the mayor", "what age is the mayor"),
        ("whats the name of the bakery", "what is the name of the bakery"),
        ("how many hrs did the strike last", "how many hours did the strike last"),
        ("how many ppl r stuck", "how many people are stuck"),
        ("Whats on?", "what is on?"),  # capitalised where the question opens
        ("Did R. Kelly visit Wat Arun?", "Did R. Kelly visit Wat Arun?"),  # names inside it
        ("didnt u say", "didn't you say"),
    ],
)
def test_chat_shorthand_is_spelled_out(typed: str, written: str) -> None:
    assert spell_out(typed) == written


def test_a_chat_typed_question_is_read_as_written() -> None:
    typed = Question.parse("wat age is the mayor")
    written = Question.parse("What age is the mayor?")
    assert typed.kind is written.kind is AnswerKind.NUMBER
    assert typed.terms == written.terms
    assert Question.parse("how many yrs did she serve").terms == ("year", "serv")


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        # The verb of a duration question only says that a duration is asked.
        ("How long did the strike last?", ("strike",)),
        ("how long did the repairs take", ("repair",)),
        ("How many hours did the vigil go on for?", ("hour", "vigil")),
        ("Did the strike last a week?", ("strike", "last", "week")),
        ("How long did the last-ditch talks last?", ("last", "ditch", "talk")),
        # The age is the number asked for, not a word the article must use.
        ("What age is the mayor?", ("mayor",)),
        ("At what age did she retire?", ("retir",)),
        ("how many yrs old is the mayor", ("mayor",)),
        # What the kind asked for is called: the answer is a day, a date, a name.
        ("Which day of the week did the ferry sink?", ("ferri", "sink")),
        ("In what year was the club founded?", ("club", "found")),
        ("What are the names of the rescued climbers?", ("rescu", "climber")),
        ("what's the name of the skipper", ("skipper",)),
        # Framing: "according to", modal verbs, "anything else".
        ("According to the police, who started the fire?", ("polic", "start", "fire")),
        # The article itself is no topic: "according to the piece", "does the article say".
        ("Who started the fire, according to the article?", ("start", "fire")),
        ("What does the story say about the fire?", ("fire",)),
        ("Who wrote the story about the fire?", ("write", "stori", "fire")),
        ("How many homes could lose power?", ("home", "lose", "power")),
        ("apart from the fire, did anything else happen", ("fire",)),
        # A request verb: "Name the…", "Describe…", "Give me…".
        ("Name the three towns that flooded.", ("three", "town", "flood")),
        ("List the towns that flooded", ("town", "flood")),
        ("Describe the protest", ("protest",)),
        ("Give me the mayor's words", ("mayor", "word")),
        ("can you list the towns that flooded", ("town", "flood")),
        # ...also after an earlier question; "state" and "give" only before what they ask.
        ("Which towns flooded? list them", ("town", "flood")),
        ("State media said how many died?", ("state", "media", "say", "die")),
        ("Give up on what?", ("give",)),
    ],
)
def test_words_that_only_say_what_is_asked_are_not_read_for(
    question: str, terms: tuple[str, ...]
) -> None:
    assert Question.parse(question).terms == terms


def test_got_before_a_participle_is_only_the_passive() -> None:
    assert (
        Question.parse("which groups got banned").terms
        == Question.parse("which groups were banned").terms
    )
    assert Question.parse("who got caught").terms == Question.parse("who was caught").terms
    # "got" as the verb itself stays a word the article must hold.
    for question in ("Who got the award?", "Who got seven votes?", "Who got red cards?"):
        assert "got" in Question.parse(question).terms


def test_words_that_only_say_what_is_asked_still_make_a_question_stand_alone() -> None:
    # Telling a follow-up from a new topic counts them as the question's own words.
    assert not is_followup("How long did the strike last?")
    assert not is_followup("What age is the mayor?")
    assert is_followup("how long did it last?")


@pytest.mark.parametrize(
    ("kind", "sentence", "question", "expected"),
    [
        (AnswerKind.DAY, "The ferry sank on Tuesday night.", "On what day did it sink?", 1.0),
        (AnswerKind.DAY, "The ferry sank in the bay.", "On what day did it sink?", 0.0),
        (
            AnswerKind.ORG,
            "The race was run by the Harbour Rowing Club.",
            "Which club ran the race?",
            1.0,
        ),
        (AnswerKind.ORG, "The race was run in the rain.", "Which club ran the race?", 0.0),
        (AnswerKind.ORG, "The RNLI launched two boats.", "Which body launched boats?", 1.0),
        (
            AnswerKind.LIST,
            "Hull, Goole and Selby were flooded.",
            "Which towns were flooded?",
            1.0,
        ),
        (
            AnswerKind.EXPANSION,
            "Crews of the Royal National Lifeboat Institution (RNLI) launched two boats.",
            "What does RNLI stand for?",
            1.0,
        ),
        (
            AnswerKind.EXPANSION,
            "The Royal Society for the Prevention of Cruelty to Animals was called.",
            "what does rspca stand for",
            1.0,
        ),
        (AnswerKind.EXPANSION, "The RNLI launched two boats.", "What does RNLI stand for?", 0.0),
        # "Who" is often answered by a role, worth less than a name.
        (
            AnswerKind.WHO,
            "A council spokeswoman said the road would reopen.",
            "Who said the road would reopen?",
            0.6,
        ),
        (AnswerKind.WHO, "Mayor Ann Cole said it would reopen.", "Who said it would reopen?", 1.0),
        # A capitalised word starting a sentence or quote is no part of a name: the
        # sentence names only the people the question names.
        (AnswerKind.WHO, "One Ann Cole ally spoke.", "Whom did an Ann Cole ally tell?", 0.0),
        (AnswerKind.WHO, "Under Ann Cole, it grew.", "Who ran it before Ann Cole?", 0.0),
        (AnswerKind.WHO, "Under Tom Hale, it grew.", "Who ran it before Ann Cole?", 1.0),
        (AnswerKind.NAME, "Two Rivers Town won.", "Which town won?", 1.0),
        (AnswerKind.WHO, "A spokeswoman said it would reopen.", "Who is the spokeswoman?", 0.0),
        (AnswerKind.NAME, "A council spokeswoman said so.", "Which official said so?", 0.0),
        (AnswerKind.WHO, "The spokesmen said it would reopen.", "Who said so?", 0.6),
        (AnswerKind.WHO, "The ministers said so.", "Who were the ministers?", 0.0),
        # Words as often adjectives or things are not roles.
        (AnswerKind.WHO, "The official figures show a rise.", "Who reported a rise?", 0.0),
        (AnswerKind.WHO, "The source of the fire was found.", "Who found it?", 0.0),
        # A date's day or year is no count or age.
        (AnswerKind.NUMBER, "The board met on July 20 in London.", "How old is the chair?", 0.0),
        (AnswerKind.NUMBER, "In 2019 the club moved.", "How many members left?", 0.0),
        (AnswerKind.NUMBER, "About 2000 homes flooded.", "How many homes flooded?", 1.0),
        (AnswerKind.NUMBER, "It sold for $1950 in March.", "How much did it sell for?", 1.0),
        (AnswerKind.NUMBER, "Some 2,019 members left in May.", "How many members left?", 1.0),
        (AnswerKind.NUMBER, "The chair, 64, met them on 3 May.", "How old is the chair?", 1.0),
        # "How many X" is answered by a number of X, "how old" by an age; another number
        # is weaker evidence.
        (AnswerKind.NUMBER, "Four clubs signed up.", "How many members left?", 0.5),
        (AnswerKind.NUMBER, "It has 300 paying members.", "How many members does it have?", 1.0),
        (AnswerKind.NUMBER, "300 members left.", "How many club members left?", 1.0),
        (AnswerKind.NUMBER, "One council ally spoke.", "How old is the mayor?", 0.5),
        (AnswerKind.NUMBER, "The mayor died aged 85.", "What age was the mayor?", 1.0),
        (AnswerKind.NUMBER, "An 85-year-old was rescued.", "How old was the man?", 1.0),
        (AnswerKind.NUMBER, "He is 85 years old.", "how old is he", 1.0),
        (AnswerKind.NUMBER, "Some 300 people voted.", "How many people of that age voted?", 1.0),
        # "how many of the X" counts X too.
        (AnswerKind.NUMBER, "It has 40 new boats.", "How many of the new boats sank?", 1.0),
        (AnswerKind.NUMBER, "It has 40 staff.", "How many of the new boats sank?", 0.5),
    ],
)
def test_kind_match_of_new_kinds(
    kind: AnswerKind, sentence: str, question: str, expected: float
) -> None:
    assert kind_match(kind, sentence, question) == expected


# ---------------------------------------------------------------- features


def candidate(text: str, rank: int = 1, start: int = 0) -> Candidate:
    return Candidate(text, rank, start, None, None)


def features_of(
    question: Question, candidates: list[Candidate], idf: dict[str, float], words: WordVectors
) -> tuple[np.ndarray, dict[str, float]]:
    """SENTENCE_FEATURES of `candidates`, all shortlisted, with no meaning (zero cosines)."""
    n = len(candidates)
    evidence = word_evidence(question, candidates, idf)
    return sentence_features(question, candidates, evidence, np.zeros(n), np.zeros(n), idf, words)


def test_a_synonym_the_article_uses_covers_a_missing_word(embed_model) -> None:
    """'occupation' is not in either sentence; 'carpenter' means more than 'Tuesday'."""
    question = Question.parse("What is Ellen Marsh's occupation?")
    texts = ["Ellen Marsh is a carpenter.", "Ellen Marsh arrived on Tuesday."]
    candidates = [candidate(t) for t in texts]
    idf = {t: 1.0 for t in question.terms}
    features, evidence = features_of(question, candidates, idf, WordVectors(embed_model))
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    exact, soft = features[:, column["exact"]], features[:, column["soft"]]
    assert exact[0] == exact[1]  # both hold the name, neither the asked word
    assert soft[0] > soft[1] > exact[1]
    assert features.shape == (2, len(SENTENCE_FEATURES))
    assert 0.0 < evidence["term_absent"] < 1.0


def test_entities_and_kind_features(embed_model) -> None:
    question = Question.parse("When did Ellen Marsh open the Quay Street workshop?")
    candidates = [
        candidate("Ellen Marsh opened the workshop on 3 May 2019.", rank=2, start=500),
        candidate("The workshop sells chairs."),
    ]
    idf = {t: 1.0 for t in question.terms}
    features, evidence = features_of(question, candidates, idf, WordVectors(embed_model))
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    assert features[0, column["kind_hit"]] == 1.0 and features[1, column["kind_miss"]] == 1.0
    assert features[0, column["entities"]] > features[1, column["entities"]]
    assert features[0, column["chunk_rank"]] == 0.5
    assert features[0, column["lead"]] < features[1, column["lead"]]
    assert evidence["kind_absent"] == 0.0


def test_a_list_is_short_items_not_clauses_between_commas() -> None:
    question = "Which towns were flooded?"
    assert kind_match(AnswerKind.LIST, "Hull, Goole, and Selby were flooded.", question) == 1.0
    clause = (
        "The mayor, who has led the council since May, said the roads in the north of"
        " the county and the bridges would reopen."
    )
    assert kind_match(AnswerKind.LIST, clause, question) == 0.0


def test_every_shortlisted_sentence_is_compared_word_by_word(embed_model) -> None:
    """A missing word counts as the nearest word of the sentence for the last of many
    candidates as for the first, so soft coverage means the same for every one."""
    question = Question.parse("Where did Ellen Marsh open her workshop?")
    texts = [f"Ellen Marsh opened the workshop in town {n}." for n in range(MEANING_CANDIDATES)]
    texts.append("Ellen Marsh opened her studio in Hull.")
    candidates = [candidate(t) for t in texts]
    idf = {t: 1.0 for t in question.terms}
    features, _ = features_of(question, candidates, idf, WordVectors(embed_model))
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    worst, soft, exact = (features[:, column[n]] for n in ("worst_missing", "soft", "exact"))
    assert worst[:-1].tolist() == [0.0] * (len(texts) - 1)  # nothing missing
    assert exact[-1] < soft[-1] < 1.0 and 0.0 < worst[-1] < 1.0


def test_held_words_are_the_question_words_a_sentence_holds() -> None:
    question = Question.parse("Where was Ellen Marsh, the carpenter, born?")
    present = sentence_terms("Ellen Marsh is a carpenter.")
    assert held_words(question, present) == "ellen marsh carpenter"
    assert held_words(question, sentence_terms("It rained.")) == ""


def test_lift_tells_a_sentence_that_answers_from_one_that_only_names_the_subject(
    embed_model,
) -> None:
    """The whole question is nearer than its held words to a sentence that answers it in
    other words ('born' beside 'grew up', 'birthplace'); not to one that only shares names."""
    question = Question.parse("Where was Ellen Marsh born?")

    def lift(sentence: str) -> float:
        held = held_words(question, sentence_terms(sentence))
        q, s, h = (
            np.asarray(v)
            for v in embed_model.get_text_embedding_batch([question.search_text, sentence, held])
        )
        return float(q @ s - h @ s)

    answers = lift("Ellen Marsh's birthplace is Leeds, where she grew up above a bakery.")
    names_only = lift("Ellen Marsh runs a furniture workshop with four staff.")
    assert answers > names_only


def test_a_sentence_spelling_the_acronym_out_holds_it() -> None:
    """The answer to "What does RNLI stand for?" rarely repeats the letters themselves."""
    question = Question.parse("What does RNLI stand for?")
    texts = [
        "The Royal National Lifeboat Institution launched two boats.",
        "The RNLI launched two boats.",
        "Two boats were launched.",
    ]
    evidence = word_evidence(question, [candidate(t) for t in texts], {"rnli": 1.0})
    assert evidence.exact.tolist() == [1.0, 1.0, 0.0]
    assert "rnli" in evidence.present[0] and "rnli" in evidence.held


def test_only_an_expansion_question_counts_spelled_out_words() -> None:
    text = "The Royal National Lifeboat Institution, coastguards and police came."
    # The same words asked for another kind, which this sentence matches: no acronym added.
    as_list = Question("What does RNLI stand for?", "RNLI", ("rnli",), AnswerKind.LIST)
    evidence = word_evidence(as_list, [candidate(text)], {"rnli": 1.0})
    assert evidence.kinds[0] > 0 and "rnli" not in evidence.present[0]
    # Two initials are spelled out by chance.
    question = Question.parse("What does BP stand for?")
    evidence = word_evidence(question, [candidate("But Parliament voted.")], {"bp": 1.0})
    assert evidence.kinds[0] > 0 and "bp" not in evidence.present[0]


def test_a_value_of_the_asked_kind_counts_more_next_to_the_question_words() -> None:
    question = Question.parse("How old is Ellen Marsh?")
    near = kind_nearness(question, "Carpenter Ellen Marsh, 52, opened the workshop.")
    far = kind_nearness(question, "Ellen Marsh opened the workshop, which now has 52 chairs.")
    none = kind_nearness(question, "Ellen Marsh opened the workshop.")

    assert near == 1.0
    assert 0.0 < far < near
    assert none == 0.0


def test_asked_share_counts_what_the_question_asks_of_its_names(embed_model) -> None:
    """'married' missing is one word missing of one asked; a reported quote answers 'say'."""
    idf = {t: 1.0 for t in ("ellen", "marsh", "marri", "say", "mayor")}
    words = WordVectors(embed_model)
    column = SENTENCE_FEATURES.index("asked_share")

    def share(question: str, sentence: str) -> float:
        parsed = Question.parse(question)
        features, _ = features_of(parsed, [candidate(sentence)], idf, words)
        return float(features[0, column])

    assert share("Is Ellen Marsh married?", "Ellen Marsh opened the workshop.") == 0.0
    assert share("Is Ellen Marsh married?", "Ellen Marsh married in 2019.") == 1.0
    assert share("What did Ellen Marsh say about the Mayor?", "Ellen Marsh claims the Mayor lied.")
    assert share("What did Ellen Marsh say about the Mayor?", "‘He lied,’ Ellen Marsh wrote.")


# ---------------------------------------------------------------- fitting


def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(scale=0.5, size=60) > 0).astype(float)
    return x, y


def test_fit_is_deterministic_and_learns() -> None:
    x, y = tiny_data()
    first = fit_logistic(x, y, ("a", "b", "c"))
    second = fit_logistic(x, y, ("a", "b", "c"))
    assert first.to_json() == second.to_json()
    assert first.coef[0] > 0 > first.coef[1]
    accuracy = np.mean((first.logits(x) > 0) == (y > 0.5))
    assert accuracy > 0.8


def test_a_weight_that_would_point_the_wrong_way_is_held_at_zero() -> None:
    x, y = tiny_data()
    # "b" counts against the label in this data; declared to count for it, it gets no weight.
    held = fit_logistic(x, y, ("a", "b", "c"), signs={"a": 1, "b": 1})
    assert held.coef[1] == 0.0
    assert held.coef[0] > 0
    free = fit_logistic(x, y, ("a", "b", "c"))
    assert free.coef[1] < 0
    # A declared direction the data agrees with changes nothing.
    agreed = fit_logistic(x, y, ("a", "b", "c"), signs={"a": 1, "b": -1})
    assert agreed.to_json() == free.to_json()


def test_an_unused_feature_keeps_weight_zero() -> None:
    x, y = tiny_data()
    fitted = fit_logistic(x, y, ("a", "b", "c"), unused=("a",))
    assert fitted.coef[0] == 0.0 and fitted.coef[1] != 0.0
    # The shipped sentence model leaves the confidence's own evidence alone.
    sentence = ReaderWeights.load().sentence
    for name in CONFIDENCE_ONLY:
        assert sentence.coef[sentence.names.index(name)] == 0.0


def test_the_confidence_reads_what_the_whole_answer_offers() -> None:
    kind = SENTENCE_FEATURES.index("kind_hit")
    missing = SENTENCE_FEATURES.index("worst_missing")
    features = np.zeros((3, len(SENTENCE_FEATURES)))
    features[:, missing] = (0.6, 0.2, 0.9)
    features[1, kind] = 1.0  # the runner-up offers the kind asked for (a list, say)
    logits = np.array([2.0, 1.0, 0.0])
    evidence = dict.fromkeys(
        ("articles", "unseen", "unseen_unmatched", "term_absent", "kind_absent"), 0.0
    ) | {"kind_other": 0.0, "yes_no": 0.0}
    alone = dict(
        zip(CONFIDENCE_FEATURES, confidence_features(logits, features, evidence), strict=True)
    )
    both = dict(
        zip(
            CONFIDENCE_FEATURES,
            confidence_features(logits, features, evidence, [0, 1]),
            strict=True,
        )
    )
    assert alone["answer_kind_hit"] == 0.0 and both["answer_kind_hit"] == 1.0
    assert alone["answer_worst_missing"] == 0.6 and both["answer_worst_missing"] == 0.2
    assert alone["top_logit"] == both["top_logit"] == 2.0


def synthetic_example(train_reader, rng, i: int, in_scope: bool):
    """A dialogue whose right sentence (if any) means more than the others; an
    out-of-scope question's sentences all mean less."""
    features = rng.normal(size=(5, len(SENTENCE_FEATURES)))
    labels = np.zeros(5)
    if in_scope:
        labels[i % 5] = 1.0
        features[i % 5] += 2.0
    else:
        features -= 1.0
    texts = [f"Sentence {j} says {f'fact {i}' if labels[j] else 'other'}." for j in range(5)]
    facts = (f"fact {i}",) if in_scope else ()
    dialogue = Dialogue((f"Question {i}?",), facts, "any", in_scope)
    evidence = {
        "articles": 1.0,
        "unseen": 0.0,
        "unseen_unmatched": 0.0,
        "term_absent": 0.1,
        "kind_absent": 0.0,
        "kind_other": 1.0,
        "yes_no": 0.0,
    }
    return train_reader.Example(dialogue, AnswerKind.OTHER, texts, features, labels, evidence)


def synthetic_first_stage(train_reader, rng, i: int):
    features = rng.normal(size=(8, len(SHORTLIST_FEATURES)))
    labels = np.zeros(8)
    labels[i % 8] = 1.0
    features[i % 8, 0] += 2.0  # the right sentence holds more of the question's words
    dialogue = Dialogue((f"Question {i}?",), ("fact",), "any", True)
    return train_reader.ShortlistExample(dialogue, features, labels)


def test_training_writes_byte_identical_weights(tmp_path: Path) -> None:
    train_reader = load_script("train_reader")
    rng = np.random.default_rng(3)
    train = [synthetic_example(train_reader, rng, i, i % 4 != 0) for i in range(40)]
    dev = [synthetic_example(train_reader, rng, i, i % 3 != 0) for i in range(15)]
    firsts = [synthetic_first_stage(train_reader, rng, i) for i in range(40)]
    sources = {"train": ["t.jsonl"], "dev": ["d.jsonl"]}
    paths = [tmp_path / "one.json", tmp_path / "two.json"]
    for path in paths:
        shortlist = train_reader.fit_shortlist(firsts)
        train_reader.fit(shortlist, train, dev, 2.0, sources).dump(path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    loaded = ReaderWeights.load(paths[0])
    assert 0.0 <= loaded.answer_above <= 1.0
    assert loaded.sentence.coef[0] > 0
    assert loaded.shortlist.coef[0] > 0
    recall = train_reader.shortlist_recall(firsts, loaded.shortlist)
    assert recall["answerable"] == 40 and recall["best_candidate_kept"] >= 36


def test_training_fits_on_dev_too_and_calibrates_out_of_fold() -> None:
    train_reader = load_script("train_reader")
    rng = np.random.default_rng(4)
    train = [synthetic_example(train_reader, rng, i, i % 4 != 0) for i in range(40)]
    dev = [synthetic_example(train_reader, rng, 100 + i, i % 3 != 0) for i in range(20)]
    firsts = [synthetic_first_stage(train_reader, rng, i) for i in range(40)]
    # A withheld reading of a dev question: fitted on, never judged.
    withheld = dataclasses.replace(dev[1], labels=np.zeros(5), withheld=True)
    dev.append(withheld)
    shortlist = train_reader.fit_shortlist(firsts)
    sources = {"train": ["t.jsonl"], "dev": ["d.jsonl"]}
    weights = train_reader.fit(shortlist, train, dev, 2.0, sources)
    alone = train_reader.fit_models(train)
    assert not np.allclose(weights.sentence.coef, alone.sentence.coef)
    # Every dialogue, train and dev, is scored once, by models fitted without its fold.
    scored = train_reader.out_of_fold(train + dev, seed=0)
    assert sorted(id(s.example) for s in scored) == sorted(
        id(e) for e in train + dev if e is not withheld
    )
    for fold in range(train_reader.FOLDS):
        fitted = train_reader.fit_models(
            [e for e in train + dev if train_reader.fold_of(e, 0) != fold]
        )
        for s in (s for s in scored if s.fold == fold):
            assert s.logit == fitted.confidence_logit(s.example)[0]
    # The shipped calibration is Platt scaling on exactly those confidences.
    slope, offset = train_reader.platt_scaling([s.logit for s in scored], [s.right for s in scored])
    assert weights.info["platt_out_of_fold"] == {
        "slope": round(slope, 6),
        "offset": round(offset, 6),
    }
    assert slope > 0
    assert weights.info["out_of_fold_at_cut"]["dialogues"] == 60
    assert weights.info["withheld_readings"] == 1
    assert weights.info["trained_on"] == ["t.jsonl", "d.jsonl"]


def test_cross_validation_judges_every_dialogue_once_by_a_reader_without_it() -> None:
    train_reader = load_script("train_reader")
    cross_validate_reader = load_script("cross_validate_reader")
    rng = np.random.default_rng(5)
    examples = [synthetic_example(train_reader, rng, i, i % 4 != 0) for i in range(60)]
    judged = cross_validate_reader.cross_validate(examples, seed=0)
    assert sorted(j.in_scope for j in judged) == sorted(e.dialogue.in_scope for e in examples)
    again = cross_validate_reader.cross_validate(examples, seed=0)
    assert judged == again
    # The right sentence stands out, so right answers get the higher confidences.
    assert cross_validate_reader.auc(judged) > 0.8
    table = cross_validate_reader.figures(judged, 2 / 3, 2.0)
    assert table["dialogues"] == 60
    assert table["right_if_answered"] >= 40
    assert table["cost"] == 2.0 * table["answered_wrong"] + (
        table["right_if_answered"] - table["answered_right"]
    )


def test_cross_validation_by_file_judges_each_file_by_a_reader_fitted_on_the_others() -> None:
    train_reader = load_script("train_reader")
    cross_validate_reader = load_script("cross_validate_reader")
    rng = np.random.default_rng(6)
    examples = [
        dataclasses.replace(
            synthetic_example(train_reader, rng, i, i % 4 != 0), source=f"w/{'abc'[i % 3]}.jsonl"
        )
        for i in range(60)
    ]
    judged = cross_validate_reader.cross_validate(examples, seed=0, by_file=True)
    assert sorted(j.source for j in judged) == sorted(["a.jsonl", "b.jsonl", "c.jsonl"] * 20)
    # The deal does not matter: the folds are the files.
    assert cross_validate_reader.cross_validate(examples, seed=3, by_file=True) == judged
    scored = train_reader.out_of_fold(examples, 0, folds=cross_validate_reader.file_folds(examples))
    held_out = [e for e in examples if e.source == "w/b.jsonl"]
    fitted = train_reader.fit_models([e for e in examples if e.source != "w/b.jsonl"])
    for s in (s for s in scored if s.example.source == "w/b.jsonl"):
        assert s.logit == fitted.confidence_logit(s.example)[0]
    assert len(held_out) == 20
    assert cross_validate_reader.auc(judged) > 0.8


def test_auc_counts_ties_as_half() -> None:
    cross_validate_reader = load_script("cross_validate_reader")
    judged = [
        cross_validate_reader.Judged("q.jsonl", True, p, right)
        for p, right in ((0.9, True), (0.5, True), (0.5, False), (0.1, False))
    ]
    # Pairs (right, wrong): 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1.
    assert cross_validate_reader.auc(judged) == 3.5 / 4


def test_cut_minimises_the_stated_cost() -> None:
    train_reader = load_script("train_reader")
    scored = [(0.9, True), (0.8, True), (0.6, False), (0.5, True), (0.2, False), (0.1, False)]
    cut, table = train_reader.choose_cut(scored, cost_wrong=2.0)
    # Answering down to 0.5 costs 2 (one wrong); down to 0.8 costs 1 (0.5 abstained).
    assert 0.5 < cut <= 0.8
    assert table["cost"] == 1.0


def test_shipped_weights_point_the_way_their_evidence_does() -> None:
    weights = ReaderWeights.load()
    models = ((weights.sentence, SENTENCE_SIGNS), (weights.confidence, CONFIDENCE_SIGNS))
    for model, signs in models:
        for name, coef in zip(model.names, model.coef, strict=True):
            assert signs.get(name, 0) * coef >= 0, name


def test_shipped_weights_match_the_features() -> None:
    weights = ReaderWeights.load()
    assert weights.shortlist.names == SHORTLIST_FEATURES
    assert weights.sentence.names == SENTENCE_FEATURES
    assert weights.confidence.names == CONFIDENCE_FEATURES
    assert 0.0 < weights.answer_above < 1.0
    assert len(weights.sentence.coef) == len(SENTENCE_FEATURES)


# ---------------------------------------------------------------- calibration


def test_calibration_buckets() -> None:
    def result(p: float, right: bool, abstained: bool = False, in_scope: bool = True):
        dialogue = Dialogue(("q?",), ("yes",) if in_scope else (), "any", in_scope)
        return DialogueResult(dialogue, "yes" if right else "no", abstained, confidence=p)

    results = [
        result(0.9, True),
        result(0.85, False),
        result(1.0, True),
        result(0.1, False, abstained=True),
        result(0.15, False, abstained=True, in_scope=False),
    ]
    buckets = calibration(results)
    top, bottom = buckets[-1], buckets[0]
    assert (top.answered, top.right) == (3, 2)
    assert top.mean_predicted == pytest.approx((0.9 + 0.85 + 1.0) / 3)
    assert (bottom.abstained_in_scope, bottom.abstained_out_of_scope) == (1, 1)
    assert precision_when_answering(results) == (2, 3)


def test_a_feature_cache_is_reused_only_if_collected_the_same_way(tmp_path: Path) -> None:
    train_reader = load_script("train_reader")
    parser = argparse.ArgumentParser()
    train_reader.add_data_arguments(parser)
    missing = f"{tmp_path / 'qa.jsonl'}={tmp_path / 'no-store'}"
    cache = tmp_path / "cache.pkl"
    args = parser.parse_args(["--train", missing, "--dev", missing, "--cache", str(cache)])
    current = train_reader.Collected(None, {}, [], [], train_reader.COLLECTED_WITH)
    cache.write_bytes(pickle.dumps(current))
    assert train_reader.collect_all(args).features == train_reader.COLLECTED_WITH
    # Collected with an older reading of words: collected again, from the (missing) store.
    stale = (*train_reader.COLLECTED_WITH[:3], TERMS_VERSION - 1, train_reader.COLLECTION_VERSION)
    cache.write_bytes(pickle.dumps(train_reader.Collected(None, {}, [], [], stale)))
    with pytest.raises(IndexNotBuiltError):
        train_reader.collect_all(args)
