"""The QA file: JSONL, one dialogue a line, validated by a pydantic model.

A QA file looks like::

    {"turns": ["Which groups were proscribed?", "When did that happen?"],
     "expect_all": ["July 20"]}
    {"turns": ["How old is Ken Loach?"], "expect_any": ["85", "eighty-five"]}
    {"turns": ["Who is the Prime Minister of France?"], "in_scope": false}

Every dialogue is asked turn by turn in a fresh conversation and its last
answer is judged (`bot.evaluation.judging`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bot.errors import EvalFileError

Mode = Literal["all", "any"]
Kind = Literal["single", "followup", "out"]


@dataclass(frozen=True)
class Dialogue:
    """One line of the QA file: the turns asked and what the last answer must hold."""

    turns: tuple[str, ...]
    facts: tuple[str, ...] = ()
    mode: Mode = "all"
    in_scope: bool = True
    line: int = 0
    id: str = ""

    @property
    def kind(self) -> Kind:
        """'single' or 'followup' (in scope, more than one turn); 'out' when out of scope."""
        if not self.in_scope:
            return "out"
        return "single" if len(self.turns) == 1 else "followup"

    def expected(self) -> str:
        """What a right answer holds, for people: 'a AND b', 'a OR b' or '(abstain)'."""
        if not self.in_scope:
            return "(abstain)"
        return (" AND " if self.mode == "all" else " OR ").join(self.facts)


def load_dialogues(path: Path) -> list[Dialogue]:
    """Every dialogue of a QA file, or EvalFileError naming the file and the bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise EvalFileError(f"{path}: cannot read the QA file ({error})") from None
    dialogues = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            dialogues.append(parse_dialogue(line, f"{path}:{number}", number))
    if not dialogues:
        raise EvalFileError(f"{path}: no dialogues (expected one JSON object a line)")
    return dialogues


NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class DialogueLine(BaseModel):
    """What one line of a QA file may hold."""

    model_config = ConfigDict(extra="forbid", strict=True)

    turns: Annotated[list[NonEmpty], Field(min_length=1)]
    expect_all: list[NonEmpty] | None = None
    expect_any: list[NonEmpty] | None = None
    in_scope: bool = True
    id: str | int = ""

    @model_validator(mode="after")
    def _expectations(self) -> DialogueLine:
        expects = bool(self.expect_all) + bool(self.expect_any)
        if not self.in_scope and expects:
            raise ValueError('an out-of-scope dialogue ("in_scope": false) expects no facts')
        if self.in_scope and expects != 1:
            raise ValueError(
                'give exactly one of "expect_all" or "expect_any" (or "in_scope": false)'
            )
        return self


def parse_dialogue(line: str, where: str, number: int = 0) -> Dialogue:
    """One JSONL line as a Dialogue; `where` ('FILE:LINE') prefixes every error."""
    try:
        item = DialogueLine.model_validate_json(line)
    except ValidationError as error:
        raise EvalFileError(f"{where}: {_problem(error)}") from None
    facts = tuple(item.expect_all or item.expect_any or ())
    mode: Mode = "any" if item.expect_any else "all"
    return Dialogue(tuple(item.turns), facts, mode, item.in_scope, number, str(item.id))


def _problem(error: ValidationError) -> str:
    """The first problem of a line, in words: which key, what is wrong."""
    first = error.errors()[0]
    kind, loc = first["type"], first["loc"]
    key = str(loc[0]) if loc else ""
    if kind == "json_invalid":
        return f"not valid JSON ({first['ctx'].get('error', first['msg'])})"
    if kind == "model_type":
        return 'expected a JSON object like {"turns": [...], "expect_all": [...]}'
    if kind == "extra_forbidden":
        unknown = sorted(str(e["loc"][0]) for e in error.errors() if e["type"] == kind)
        allowed = ", ".join(sorted(DialogueLine.model_fields))
        return f"unknown key(s) {', '.join(unknown)}; allowed: {allowed}"
    if key == "turns" and kind in ("missing", "too_short"):
        return '"turns" is missing or empty: give the questions asked, in order'
    if key in ("turns", "expect_all", "expect_any"):
        return f'"{key}" must be a list of non-empty strings, got {json.dumps(first["input"])}'
    if key == "in_scope":
        return f'"in_scope" must be true or false, got {json.dumps(first["input"])}'
    if key == "id":
        return f'"id" must be a string, got {json.dumps(first["input"])}'
    return str(first["msg"]).removeprefix("Value error, ")
