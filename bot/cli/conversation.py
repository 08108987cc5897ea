"""One line of a conversation: a command or a question, and the reply to it."""

from __future__ import annotations

from dataclasses import dataclass

from bot import texts
from bot.answering.answer import Answer
from bot.answering.engine import AnswerEngine
from bot.errors import StorybotError
from bot.redaction import redact
from bot.text_input import clean_question, not_utf8


@dataclass
class Reply:
    """What the bot says to one line: a command's text, or an answer."""

    text: str
    command: str | None = None
    answer: Answer | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        """The `--json` line: the answer's object, or the command's reply."""
        if self.answer is not None:
            return self.answer.to_json()
        data: dict[str, object] = {"command": self.command, "answer": self.text, "citations": []}
        if self.error:
            data["error"] = self.error
        return data


def handle_line(engine: AnswerEngine, conversation: str, line: str) -> Reply:
    """Run a /command or answer a question; every line gets exactly one reply."""
    try:
        return _handle_line(engine, conversation, line)
    except StorybotError as error:  # e.g. a damaged memory file: said on its line, not fatal
        return Reply(redact(str(error)), error="cannot answer")


def _handle_line(engine: AnswerEngine, conversation: str, line: str) -> Reply:
    if not_utf8(line) is not None:
        return Reply(texts.NOT_UTF8, error="not UTF-8 text")
    line = clean_question(line)
    if not line:
        return Reply(texts.EMPTY_QUESTION, error="empty question")
    if line.startswith("/"):
        command = line[1:].split(maxsplit=1)[0].split("@")[0].lower() if len(line) > 1 else ""
        if command == "reset":
            engine.reset(conversation)
            return Reply(texts.RESET, command)
        if command == "sources":
            return Reply(texts.sources_text(engine.sources()), command)
        if command in ("help", "start"):
            return Reply(texts.HELP, command)
        if command == "ask":
            question = line.split(maxsplit=1)[1] if " " in line.strip() else ""
            if not question.strip():
                return Reply(texts.EMPTY_QUESTION, command, error="empty question")
            return Reply("", command, answer=engine.ask(conversation, question.strip()))
        return Reply(texts.UNKNOWN_COMMAND, command, error="unknown command")
    answer = engine.ask(conversation, line)
    return Reply(answer.answer, answer=answer)
