"""`storybot ask` and `storybot chat`: answers in the terminal, as text or one JSON object each."""

from __future__ import annotations

import io
import sys
import uuid
from typing import Annotated

import typer

from bot.answering.answer import Answer
from bot.cli.common import StoreOption, fail, fail_with, open_engine, say, say_json
from bot.errors import StorybotError
from bot.text_input import clean_question, not_utf8

ChatOption = Annotated[
    str | None, typer.Option("--chat", help="Conversation id; reuse it to ask follow-ups.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per answer.")]


def render_answer(answer: Answer) -> str:
    """An answer for the terminal: the text, then its numbered sources."""
    lines = [answer.answer]
    if answer.notice:
        lines.append(f"({answer.notice})")
    if answer.citations:
        lines.append("\nSources:")
        for c in answer.citations:
            dated = f" ({c.published})" if c.published else ""
            lines.append(f"[{c.n}] {c.title}{dated}")
            lines.append(f"    “{c.quote}”")
            if c.url:
                lines.append(f"    {c.url}")
    return "\n".join(lines)


def ask_command(
    question: Annotated[str, typer.Argument(help="The question.")],
    chat: ChatOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Answer one QUESTION with cited passages."""
    check_utf8(question=question, chat=chat)
    question = clean_question(question)
    if not question:
        raise fail("the question is empty")
    engine = open_engine(store)
    try:
        answer = engine.ask(chat or f"cli-{uuid.uuid4().hex}", question)
    except StorybotError as error:  # e.g. a memory file damaged since it was opened
        raise fail_with(error) from None
    if as_json:
        say_json(answer.to_json())
    else:
        say(render_answer(answer))


def check_utf8(**arguments: str | None) -> None:
    """Exit 2 naming the argument when one holds bytes that are not UTF-8."""
    for name, value in arguments.items():
        where = not_utf8(value or "")
        if where is not None:
            option = "the question" if name == "question" else f"--{name}"
            raise fail(
                f"{option} is not UTF-8 text (a byte that is not UTF-8 at character {where + 1})"
            )


def chat_command(
    chat: ChatOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """A conversation: one question per line; /reset, /sources and /help work as in Telegram."""
    from bot.cli.conversation import handle_line

    check_utf8(chat=chat)
    engine = open_engine(store)
    conversation = chat or f"cli-{uuid.uuid4().hex}"
    # A line that is not UTF-8 must get its own error reply, not end the session.
    if isinstance(sys.stdin, io.TextIOWrapper):
        sys.stdin.reconfigure(errors="surrogateescape")
    interactive = sys.stdin.isatty() and not as_json
    if interactive:
        typer.echo("Ask about the story (/help for commands, Ctrl-D to quit).")
    while True:
        try:
            line = input("you> ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not interactive and line == "":
            break
        reply = handle_line(engine, conversation, line)
        if as_json:
            say_json(reply.to_json())
        else:
            say(render_answer(reply.answer) if reply.answer else reply.text)
            if interactive:
                say()
