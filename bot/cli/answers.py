"""`storybot ask` and `storybot chat`: answers in the terminal, as text or one JSON object each."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Annotated

import typer

from bot.answering.answer import Answer
from bot.cli.common import StoreOption, fail, open_engine

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
    engine = open_engine(store)
    if not question.strip():
        raise fail("the question is empty")
    answer = engine.ask(chat or f"cli-{uuid.uuid4().hex}", question.strip())
    typer.echo(
        json.dumps(answer.to_json(), ensure_ascii=False) if as_json else render_answer(answer)
    )


def chat_command(
    chat: ChatOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """A conversation: one question per line; /reset, /sources and /help work as in Telegram."""
    from bot.cli.conversation import handle_line

    engine = open_engine(store)
    conversation = chat or f"cli-{uuid.uuid4().hex}"
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
        reply = handle_line(engine, conversation, line.strip())
        if as_json:
            typer.echo(json.dumps(reply.to_json(), ensure_ascii=False))
        else:
            typer.echo(render_answer(reply.answer) if reply.answer else reply.text)
            if interactive:
                typer.echo()
