"""Offline follow-ups: what a question leans on and how it is resolved (invented stories)."""

from __future__ import annotations

import pytest

from bot.answering.followup import (
    MAX_THREAD_TURNS,
    is_followup,
    resolve,
    resolve_followup,
    thread_replied_to,
)
from bot.answering.memory import Turn
from bot.answering.names import names, person_names
from bot.answering.questions import AnswerKind, Question
from bot.answering.references import name_the_people, name_the_person, references, two_people

RESCUE = "Who rescued the kayakers?"
RESCUE_ANSWER = "Retired keeper Tom Pascoe rowed out in a storm to rescue them. [1]"
MAYOR = "How old is the mayor of Kelbridge?"
MAYOR_ANSWER = "Mayor Ann Hobbs, 52, said the bridge would open in May. [1]"


def history(*turns: tuple[str, str]) -> list[Turn]:
    """Turns as the engine remembers them: each question resolved against those before."""
    remembered: list[Turn] = []
    for question, answer in turns:
        remembered.append(Turn(question, resolve_followup(question, remembered), answer, 0.0))
    return remembered


# ---------------------------------------------------------------- pronouns


def test_a_person_pronoun_takes_the_name_the_answer_gave() -> None:
    rescue = history((RESCUE, RESCUE_ANSWER))

    # "how old is he?" names nothing of its own: the thread's question comes along.
    assert resolve_followup("how old is he?", rescue) == f"{RESCUE} how old is Tom Pascoe?"
    # With enough words of its own, the name is all it needs.
    assert resolve_followup("was he paid by the coastguard?", rescue) == (
        "was Tom Pascoe paid by the coastguard?"
    )
    assert resolve_followup("what did his wife say?", rescue) == "what did Tom Pascoe's wife say?"


def test_a_person_pronoun_takes_the_name_the_question_gave() -> None:
    who_is = history(("Who is Tom Pascoe?", "A retired lifeboat keeper, Sam Ortiz said. [1]"))
    was = history(("Was Tom Pascoe paid by Sea Rescue Trust?", "The articles don't say."))

    assert resolve_followup("what did the coastguard say about him?", who_is) == (
        "what did the coastguard say about Tom Pascoe?"
    )
    assert resolve_followup("no, I meant which boat he actually rowed", was) == (
        "which boat Tom Pascoe rowed"
    )


def test_a_person_the_question_named_in_lower_case_is_the_one_the_answer_spells() -> None:
    typed = history(("who's tom pascoe in this?", "Ann Hobbs said Tom Pascoe, 71, rowed out. [1]"))

    assert resolve_followup("what did the coastguard say about him?", typed) == (
        "what did the coastguard say about Tom Pascoe?"
    )
    chat = history(("whos tom pascoe", "Ann Hobbs said Tom Pascoe, 71, rowed out. [1]"))
    assert resolve_followup("what did the coastguard say about him?", chat) == (
        "what did the coastguard say about Tom Pascoe?"
    )


def test_a_person_asked_for_by_role_is_the_one_the_answer_names() -> None:
    # "Who is Kelbridge's mayor?" asks for a person, as "Who rescued them?" does: the
    # answer names her, and "Kelbridge" is a place, not the person.
    mayor = history(("Who is Kelbridge's mayor?", "Kelbridge Mayor Ann Hobbs, 52, spoke. [1]"))
    assert resolve_followup("is she a member of the club?", mayor) == (
        "is Mayor Ann Hobbs a member of the club?"
    )
    keeper = history(
        ("whos the keeper in this story", "Tom Pascoe of the Sea Rescue movement rowed. [1]")
    )
    assert resolve_followup("was he paid by the coastguard?", keeper) == (
        "was Tom Pascoe paid by the coastguard?"
    )


def test_which_and_a_word_for_a_person_asks_for_a_person() -> None:
    # "Which Kelbridge figure…?" asks for a person as "Who…?" does: the one who did it
    # is the one the answer names.
    critic = history(
        ("Which Kelbridge figure criticised Ann Hobbs?", "Tom Pascoe criticised Ann Hobbs. [1]")
    )
    assert resolve_followup("what did he call her in the end?", critic) == (
        "what did Tom Pascoe call Ann Hobbs in the end?"
    )


def test_she_after_a_woman_asked_about_by_role_is_that_woman() -> None:
    # The answer names a man; "she" is the spokeswoman the question asked about, and
    # the thread's question comes along, since a role names her less than a name would.
    spokeswoman = history(
        ("What did the council spokeswoman say?", "She said Tom Pascoe was brave. [1]")
    )
    assert resolve_followup("who opened the bridge, according to her?", spokeswoman) == (
        "What did the council spokeswoman say? who opened the bridge, according to the"
        " council spokeswoman?"
    )
    assert resolve_followup("what did he do?", spokeswoman).endswith("what did Tom Pascoe do?")


def test_someone_known_by_a_tie_to_a_person_is_not_that_person() -> None:
    # "the Hobbs ally" is not Ann Hobbs: with no one else named, "he" is left to the
    # thread's question.
    ally = history(
        ("Which newspaper did the Hobbs ally speak to?", "One Hobbs ally told the Post. [1]")
    )
    assert resolve_followup("what did he say about the bridge?", ally) == (
        "Which newspaper did the Hobbs ally speak to? what did he say about the bridge?"
    )


def test_a_name_after_of_or_in_is_not_the_person() -> None:
    mayor = history((MAYOR, MAYOR_ANSWER))

    assert resolve_followup("what did she say about the bridge?", mayor) == (
        "what did Mayor Ann Hobbs say about the bridge?"
    )


def test_him_is_not_the_person_the_question_names() -> None:
    # "What did Pascoe say about him?": "him" cannot be Pascoe, and no one else was
    # named, so the thread's question is searched along.
    who_is = history(("Who is Tom Pascoe?", "Tom Pascoe is a retired keeper. [1]"))

    assert resolve_followup("What did Pascoe say about him?", who_is) == (
        "Who is Tom Pascoe? What did Pascoe say about him?"
    )


def test_he_and_him_in_one_question_are_two_people() -> None:
    # "him" would be "himself" if it were "he": the answer's person is done to...
    attacked = history(("Who did Ann Hobbs criticise?", "She criticised Tom Pascoe. [1]"))
    assert resolve_followup("what did she call him in the end?", attacked) == (
        "what did Ann Hobbs call Tom Pascoe in the end?"
    )
    # ...unless the question asked who did it.
    critic = history(("Who criticised Ann Hobbs?", "Tom Pascoe criticised Ann Hobbs. [1]"))
    assert resolve_followup("what did he call her in the end?", critic) == (
        "what did Tom Pascoe call Ann Hobbs in the end?"
    )
    # Not asked for a person: the question's names, then the answer's.
    said = history(("What did Tom Pascoe say about Ann Hobbs?", "He said she was brave. [1]"))
    assert resolve_followup("where did he first meet her?", said) == (
        "where did Tom Pascoe first meet Ann Hobbs?"
    )
    # With one person known, "him" is left to the thread's question.
    unanswered = history(("Who did Tom Pascoe criticise?", "The articles don't say."))
    assert resolve_followup("what did he call him in the end?", unanswered) == (
        "Who did Tom Pascoe criticise? what did Tom Pascoe call him in the end?"
    )


def test_a_thing_or_what_was_said_brings_the_thread_question() -> None:
    bridge = history(("How much will the Kelbridge bridge cost?", "£4.2 million [1]"))

    assert resolve_followup("When was it approved?", bridge) == (
        "How much will the Kelbridge bridge cost? When was it approved?"
    )
    assert resolve_followup("who said that?", bridge) == (
        "How much will the Kelbridge bridge cost? who said that?"
    )
    assert resolve_followup("how many people were there?", bridge).startswith(
        "How much will the Kelbridge bridge cost?"
    )
    # "else", "actually" lean on the conversation but are no topic to search for.
    assert resolve_followup("who else objected to it?", bridge) == (
        "How much will the Kelbridge bridge cost? who objected to it?"
    )


# ---------------------------------------------------------------- ellipsis


def test_an_ellipsis_is_searched_as_the_thread_question() -> None:
    meeting = history(("How long did the council meeting last?", "Four hours. [1]"))

    # The words name only the kind of answer; it is read from the follow-up.
    for ellipsis in ("and the date?", "When?", "on what day?", "what about the venue?"):
        resolved = resolve(ellipsis, meeting)
        assert resolved.search_text == "How long did the council meeting last?", ellipsis
        assert resolved.question == ellipsis
    # Read alone (by an LLM, when condensing fails) it keeps every word.
    assert resolve("and the date?", meeting).standalone == (
        "How long did the council meeting last? the date?"
    )
    assert Question.parse("on what day?").kind is AnswerKind.DAY
    # An ellipsis with a topic word of its own keeps it.
    assert resolve_followup("how many councillors tho", meeting) == (
        "How long did the council meeting last? how many councillors"
    )


def test_it_takes_the_thing_the_answer_named() -> None:
    club = history(
        (
            "Which club did Tom Pascoe row for?",
            "Pascoe, 71, had rowed for the Kelbridge Rowing Club since 1990, the Harbour "
            "Trust said. [1]",
        )
    )

    # Of the bodies the answer names, the one beside the question's words.
    assert resolve_followup("when was it founded?", club) == (
        "Which club did Tom Pascoe row for? when was Kelbridge Rowing Club founded?"
    )
    assert resolve_followup("who runs it?", club).endswith("who runs Kelbridge Rowing Club?")
    # "it" as an event, and "they", name nothing: the thread's question is searched.
    assert "Kelbridge" not in resolve_followup("when did it happen?", club)
    assert "Kelbridge" not in resolve_followup("when were they founded?", club)
    # Nor does an answer that names nothing.
    nothing = history(("Which club did Tom Pascoe row for?", "The articles don't say."))
    assert resolve_followup("when was it founded?", nothing) == (
        "Which club did Tom Pascoe row for? when was it founded?"
    )
    # A person the answer names is no body.
    party = history(
        ("Which party expelled Tom Pascoe?", "The Kelbridge Labour Party expelled Ann Hobbs. [1]")
    )
    assert resolve_followup("when did he join it?", party) == (
        "Which party expelled Tom Pascoe? when did Tom Pascoe join Kelbridge Labour Party?"
    )
    # Nor is one when a name was asked for: "it" is never a person.
    boat = history(
        ("Which of the boats was Ann Hobbs's?", "Tom Pascoe said the blue one was hers. [1]")
    )
    assert "Pascoe" not in resolve_followup("and when was it built?", boat)


def test_a_bare_ellipsis_asks_about_the_previous_question() -> None:
    bridge = history(
        ("How much will the Kelbridge bridge cost?", "£4.2 million [1]"),
        ("Who approved it?", "The council approved it. [1]"),
    )

    resolved = resolve("And when?", bridge)

    # When it was approved, not when the cost was set: the previous question as searched.
    assert resolved.search_text == "How much will the Kelbridge bridge cost? Who approved it?"
    assert resolved.question == "And when?"
    assert Question.parse(resolved.question).kind is AnswerKind.WHEN


def test_a_correction_of_an_ellipsis_is_an_ellipsis() -> None:
    announced = history(("Where did Ann Hobbs announce the bridge?", "At the town hall. [1]"))

    resolved = resolve("Correction, I meant: on what day?", announced)

    assert resolved.search_text == "Where did Ann Hobbs announce the bridge?"
    assert Question.parse(resolved.question).kind is AnswerKind.DAY


@pytest.mark.parametrize(
    "corrected", ["nvm i meant when", "Never mind, I meant: when?", "my bad — I meant when"]
)
def test_a_correction_in_chat_words_is_an_ellipsis_too(corrected: str) -> None:
    announced = history(("Where did Ann Hobbs announce the bridge?", "At the town hall. [1]"))

    resolved = resolve(corrected, announced)

    assert resolved.search_text == "Where did Ann Hobbs announce the bridge?"
    assert Question.parse(resolved.question).kind is AnswerKind.WHEN


def test_an_announced_change_of_topic_is_searched_without_its_announcement() -> None:
    bridge = history(("How much will the Kelbridge bridge cost?", "£4.2 million [1]"))

    resolved = resolve("Different question: how old is Ann Hobbs?", bridge)
    parsed = Question.parse(resolved.question, resolved.search_text)

    assert parsed.search_text == "how old is Ann Hobbs?"
    assert parsed.kind is AnswerKind.NUMBER


@pytest.mark.parametrize(
    "announced",
    [
        "Different question: which other groups did the mayor name?",
        "ok diff question - which other groups did the mayor name",
        "anyway, which other groups did the mayor name",
        "ok nvm. which other groups did the mayor name",
        "Never mind - which other groups did the mayor name?",
    ],
)
def test_an_announced_change_of_topic_borrows_nothing_of_the_thread(announced: str) -> None:
    bridge = history(("How much will the Kelbridge bridge cost?", "£4.2 million [1]"))

    searched = resolve_followup(announced, bridge)
    assert searched.rstrip("?") == "which other groups did the mayor name"


def test_an_announced_change_of_topic_still_names_the_person() -> None:
    who = history(("Who is Tom Pascoe?", "Tom Pascoe, 71, rowed out. [1]"))

    assert resolve_followup("Different question: how old is he?", who) == "how old is Tom Pascoe?"


def test_what_about_asks_the_thread_question_again() -> None:
    mayor = history(("How old is Ann Hobbs?", MAYOR_ANSWER))

    about = resolve("what about Sam Ortiz?", mayor)
    assert about == resolve("and Sam Ortiz?", mayor)
    assert about.search_text == "How old is Sam Ortiz?"
    # The kind of answer is the thread question's: an age.
    assert Question.parse(about.question).kind is AnswerKind.NUMBER

    said = history(("What did Ann Hobbs say about the bridge?", MAYOR_ANSWER))
    ferry = resolve("and about the ferry?", said)
    assert ferry.search_text == "What did Ann Hobbs say about the ferry?"
    flooded = history(("How many homes flooded in York in 2018?", "Some 300 homes. [1]"))
    assert resolve("what about in 2019?", flooded).search_text == (
        "How many homes flooded in York in 2019?"
    )
    assert resolve("and in Leeds?", flooded).search_text == (
        "How many homes flooded in Leeds in 2018?"
    )
    # Only a phrase holding the same kind of thing, and no X that asks something itself.
    place = history(("How many homes flooded in York?", "Some 300 homes. [1]"))
    assert "York" in resolve("what about in 2019?", place).search_text
    assert "York" in resolve("and in what year?", place).search_text
    died = history(("How many people died in the flood in Britain within a week?", "x [1]"))
    assert resolve("and in France?", died).search_text == (
        "How many people died in the flood in France within a week?"
    )
    monday = history(("What did the mayor say on Monday about the bridge?", MAYOR_ANSWER))
    assert resolve("what about on Tuesday?", monday).search_text == (
        "What did the mayor say on Tuesday about the bridge?"
    )

    other = resolve("what about the other boat?", history((RESCUE, RESCUE_ANSWER)))
    assert other.search_text == f"{RESCUE} other boat"
    assert other.question == RESCUE


# ---------------------------------------------------------------- new topics


@pytest.mark.parametrize(
    "question",
    [
        "Which beach was closed on Monday?",
        "no, I meant which towns were flooded",
        "How old is Pascoe?",
        "How many residents could lose their allotments?",
        "What did the council decide about its budget?",
        "Did Ann Hobbs say she would resign?",
        "Is it true that the bridge will cost £4m?",
        "Were there any protests against the bridge?",
        "Which councillors voted for the scheme that was rejected?",
        "What happened at the council this week?",
    ],
)
def test_a_question_that_stands_on_its_own_borrows_nothing(question: str) -> None:
    assert not is_followup(question)
    assert resolve_followup(question, history((RESCUE, RESCUE_ANSWER))) == question


@pytest.mark.parametrize(
    "question",
    [
        "how old is he?",
        "what was their reason?",
        "when did they open it?",
        "and the date?",
        "When?",
        "what happened after that?",
        "what did Pascoe say about him?",
        "which other boats were out?",
        "what about Sam Ortiz?",
        "what was going on outside meanwhile?",
    ],
)
def test_a_question_that_leans_on_the_conversation_is_a_followup(question: str) -> None:
    assert is_followup(question)


def test_a_corrected_question_that_stands_alone_starts_a_new_topic() -> None:
    mayor = history(("How old is the mayor?", "She is 52 [1]"))
    corrected = "no, I meant which towns were flooded"

    assert resolve_followup(corrected, mayor) == corrected
    assert Question.parse(corrected).search_text == "which towns were flooded"
    assert Question.parse(corrected).terms == ("town", "flood")


# ---------------------------------------------------------------- the thread


def test_a_chain_of_followups_keeps_the_opening_question_and_the_person() -> None:
    chain = history(
        ("Who is Tom Pascoe?", "Tom Pascoe is a retired keeper. [1]"),
        ("how old is he?", "Pascoe, 71, rowed out. [1]"),
        ("where does he live?", "The articles don't say."),
    )

    assert resolve_followup("and when did he retire?", chain) == (
        "Who is Tom Pascoe? when did Tom Pascoe retire?"
    )


def test_the_thread_is_bounded() -> None:
    # A long chain borrows one question, never a pile of the earlier ones.
    turns = [("How much will the Kelbridge bridge cost?", "£4.2 million [1]")]
    turns += [(f"and when was it approved for phase {n}?", "x [1]") for n in range(10)]
    chain = history(*turns)[-MAX_THREAD_TURNS:]

    resolved = resolve_followup("who paid for it?", chain)

    assert resolved.endswith("who paid for it?")
    assert len(resolved) < 100
    assert "Kelbridge" not in resolved  # the opening question is out of the window


def test_without_history_a_question_is_its_own_search() -> None:
    assert resolve("how old is he?", []) == resolve("how old is he?", [])
    assert resolve_followup("how old is he?", []) == "how old is he?"


# ---------------------------------------------------------------- the parts


def test_references_tell_pronouns_from_clauses_and_expletives() -> None:
    assert references("how old is he?", 0).person
    assert references("when did they open it?", 0).thing
    assert references("when did that happen?", 0).context
    assert not references("the groups that were banned by the council", 4)
    assert not references("Is it true that the bridge cost £4m?", 3)
    assert not references("Were there any protests against the bridge?", 3)
    assert references("how many people were there?", 1).context
    assert not references("What happened this week?", 1)


def test_names_and_people() -> None:
    assert names("Was Tom Pascoe paid by Sea Rescue Trust?") == ["Tom Pascoe", "Sea Rescue Trust"]
    assert person_names("Was Tom Pascoe paid by Sea Rescue Trust?") == ["Tom Pascoe"]
    assert person_names("How old is the mayor of Kelbridge?") == []
    # "which Kelbridge councillor": a name between "which" and a noun says what kind.
    assert person_names("Which Kelbridge councillor did Pascoe thank?") == ["Pascoe"]
    assert person_names("Did Pascoe meet the NHS team on Monday?") == ["Pascoe"]
    assert person_names("Retired keeper Tom Pascoe rowed out", single_words=False) == ["Tom Pascoe"]
    # The start of a longer title ("Friends Of the Earth") is no one's name; a person
    # "of the" council still is.
    assert person_names("Ann Hobbs left Friends Of the Earth.", single_words=False) == ["Ann Hobbs"]
    assert person_names("Ann Hobbs of the Harbour Trust said", single_words=False) == ["Ann Hobbs"]
    assert person_names("Jack Ma and Ann Will spoke", single_words=False) == ["Jack Ma", "Ann Will"]
    assert names("The J-20, the Su-57 and DALL-E met Jean-Luc O'Neill") == [
        "J-20",
        "Su-57",
        "DALL-E",
        "Jean-Luc O'Neill",
    ]
    assert names("then I'll ask what Pascoe said") == ["Pascoe"]
    # An initial is no acronym.
    assert person_names("In May, Jason M. Allen won", single_words=False) == ["Jason M. Allen"]
    # A name before a word for a body says which body.
    assert person_names("He compared the Sea Rescue movement to pirates", single_words=False) == []
    # A name before a word for someone tied to a person says whose ally or aide.
    assert person_names("Which paper did the Hobbs ally speak to?") == []
    assert person_names("Hobbs ally Tom Pascoe said", single_words=False) == ["Tom Pascoe"]
    # The office before a name starts the person's: the place before it is no part of it.
    assert person_names("Kelbridge Mayor Ann Hobbs, 52, said", single_words=False) == [
        "Mayor Ann Hobbs"
    ]
    assert person_names("Sea Rescue Trust Chairman Tom Pascoe said", single_words=False) == [
        "Chairman Tom Pascoe"
    ]


def test_naming_two_people() -> None:
    assert two_people("what did he call him?") and two_people("did she thank her?")
    assert not two_people("did she thank her deputy?")
    assert not two_people("what did her deputy say about her?")
    assert not two_people("what did he say about his boat?")
    assert name_the_people("did she thank him for her boat?", "Ann Hobbs", "Tom Pascoe") == (
        "did Ann Hobbs thank Tom Pascoe for Ann Hobbs's boat?"
    )
    assert name_the_people("what did he call him?", "Tom Pascoe", None) == (
        "what did Tom Pascoe call him?"
    )


def test_naming_the_person() -> None:
    assert name_the_person("what is his job?", "Ann Hobbs") == "what is Ann Hobbs's job?"
    assert name_the_person("what did her deputy say about her?", "Ann Hobbs") == (
        "what did Ann Hobbs's deputy say about Ann Hobbs?"
    )


def test_a_reply_follows_up_the_answer_it_replies_to() -> None:
    chat = history(
        (RESCUE, RESCUE_ANSWER),
        ("How much will the Kelbridge bridge cost?", "£4.2 million, the council said. [1]"),
    )
    # A Telegram message shows the answer, then its sources.
    shown = f"{RESCUE_ANSWER}\n\n[1] Storm rescue (2024-03-02)\nRetired keeper Tom Pascoe..."

    assert thread_replied_to(chat, shown) == chat[:1]
    assert resolve_followup("how old is he?", thread_replied_to(chat, shown)) == (
        f"{RESCUE} how old is Tom Pascoe?"
    )
    # A message that shows no remembered answer leaves the conversation whole.
    assert thread_replied_to(chat, "Ask me about the story.") == chat


def test_a_correction_naming_someone_else_asks_the_thread_question_about_them() -> None:
    mayor = history(("How old is Ann Hobbs?", MAYOR_ANSWER))

    corrected = resolve("no, I meant Sam Ortiz", mayor)

    assert corrected.search_text == "How old is Sam Ortiz?"
    assert Question.parse(corrected.question).kind is AnswerKind.NUMBER
    # The thread now asks about Sam Ortiz.
    chain = history(("How old is Ann Hobbs?", MAYOR_ANSWER), ("what about Sam Ortiz?", "x [1]"))
    assert resolve_followup("and where was she born?", chain) == (
        "How old is Sam Ortiz? where was Sam Ortiz born?"
    )
