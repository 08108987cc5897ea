"""The `storybot` command: one subcommand per job, each a thin adapter over `index` or `bot`."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.evaluate import eval_command
from bot.cli.serve import feedback_command, run_command
from index.articles import CorpusError, load_corpus
from index.embeddings import EmbeddingUnavailable
from index.settings import IndexSettings
from index.store import StoreMismatchError

# Exit codes: 1 = an eval threshold was missed, 2 = the input or configuration is
# wrong, 3 = the store is busy, 70 = an unexpected error (EX_SOFTWARE).
EXIT_BAD_INPUT = 2
EXIT_BUSY = 3
EXIT_UNEXPECTED = 70

app = typer.Typer(
    help="Answer questions about a news story, with the passages that prove each answer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

CorpusOption = Annotated[
    Path | None,
    typer.Option("--corpus", help="Folder of .md/.txt articles (env STORYBOT_CORPUS)."),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Folder of the Chroma index (env STORYBOT_STORE)."),
]


def load_settings(corpus: Path | None = None, store: Path | None = None) -> IndexSettings:
    """Settings from env and `.env`, with command-line flags taking precedence."""
    overrides = {}
    if corpus is not None:
        overrides["corpus_dir"] = corpus
    if store is not None:
        overrides["store_dir"] = store
    return IndexSettings(**overrides)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command("index")
def index_command(
    corpus: CorpusOption = None,
    store: StoreOption = None,
    rebuild: Annotated[bool, typer.Option(help="Re-embed every article from scratch.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print what would change; write nothing.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for another indexer to finish.")] = 0,
) -> None:
    """Re-index the corpus: embed added and changed articles, drop removed ones."""
    from index.indexer import IndexBusyError, preview, run_index

    settings = load_settings(corpus, store)
    try:
        articles = load_corpus(settings.corpus_dir)
        if dry_run:
            plan = preview(settings, articles, rebuild)
            for label, items in (
                ("add", [a.doc_id for a in plan.added]),
                ("update", [a.doc_id for a in plan.updated]),
                ("remove", plan.removed),
            ):
                for doc_id in items:
                    typer.echo(f"would {label}: {doc_id}")
            typer.echo(f"dry run: {plan.summary()}; nothing written")
            return
        report = run_index(
            settings,
            articles,
            rebuild=rebuild,
            show_progress=sys.stdout.isatty(),
            wait_seconds=wait,
        )
    except CorpusError as error:
        typer.echo("error: the corpus cannot be indexed; the store is unchanged:", err=True)
        for problem in error.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (StoreMismatchError, EmbeddingUnavailable) as error:
        raise fail(str(error)) from None
    except IndexBusyError as error:
        raise fail(str(error), EXIT_BUSY) from None
    typer.echo(report.summary())


@app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    store: StoreOption = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=50)] = 3,
) -> None:
    """Show the passages of the index closest to QUERY, best first."""
    from index.retrieval import StoryIndex

    settings = load_settings(store=store)
    try:
        results = StoryIndex(settings).search(query, top_k=top_k)
    except (StoreMismatchError, EmbeddingUnavailable, LookupError) as error:
        raise fail(str(error)) from None
    for rank, hit in enumerate(results, 1):
        meta = hit.node.metadata
        typer.echo(f"[{rank}] {meta.get('title')} ({meta.get('published') or 'undated'})")
        typer.echo(f"    {hit.node.get_content().strip()}\n")


ChatOption = Annotated[
    str | None, typer.Option("--chat", help="Conversation id; reuse it to ask follow-ups.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per answer.")]


def open_engine(store: Path | None):
    """The answer engine, or a clean exit naming what is missing."""
    from bot.answering.engine import AnswerEngine
    from bot.settings import BotSettings

    overrides = {"store_dir": store} if store is not None else {}
    try:
        engine = AnswerEngine(BotSettings(**overrides))
        engine.index.generation()
    except (StoreMismatchError, EmbeddingUnavailable, LookupError) as error:
        raise fail(str(error)) from None
    return engine


def render_answer(answer) -> str:
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


@app.command("ask")
def ask_command(
    question: Annotated[str, typer.Argument(help="The question.")],
    chat: ChatOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Answer one QUESTION with cited passages."""
    import uuid

    engine = open_engine(store)
    if not question.strip():
        raise fail("the question is empty")
    answer = engine.ask(chat or f"cli-{uuid.uuid4().hex}", question.strip())
    typer.echo(
        json.dumps(answer.to_json(), ensure_ascii=False) if as_json else render_answer(answer)
    )


@app.command("chat")
def chat_command(
    chat: ChatOption = None,
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """A conversation: one question per line; /reset, /sources and /help work as in Telegram."""
    import uuid

    from bot.answering.conversation import handle_line

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


app.command("eval")(eval_command)
app.command("run")(run_command)
app.command("feedback")(feedback_command)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        app()
    except Exception as error:  # a maintainer sees one line, not a stack trace
        logging.getLogger("storybot").debug("unexpected error", exc_info=True)
        typer.echo(f"error: {type(error).__name__}: {error}", err=True)
        # Not 1, which `storybot eval` uses for "a quality threshold was missed".
        sys.exit(EXIT_UNEXPECTED)
