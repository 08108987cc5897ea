"""`storybot index` and `storybot search`: build the index from the corpus, look into it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Annotated

import typer

from bot.cli.common import CorpusOption, StoreOption, fail_with, load_settings, say
from bot.errors import StorybotError
from index.settings import IndexSettings


def progress_printer(every_seconds: float = 5.0) -> Callable[[int, int], None]:
    """Embedding progress on stderr: one updating line on a terminal, else a line every few s."""
    terminal = sys.stderr.isatty()
    last = time.monotonic()

    def show(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if terminal:
            typer.echo(f"\rembedding: {done}/{total} chunks", err=True, nl=done == total)
        elif done == total or now - last >= every_seconds:
            typer.echo(f"embedding: {done}/{total} chunks", err=True)
            last = now

    return show


def index_command(
    corpus: CorpusOption = None,
    store: StoreOption = None,
    rebuild: Annotated[bool, typer.Option(help="Re-embed every article from scratch.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print what would change; write nothing.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for another indexer to finish.")] = 0,
    list_stores: Annotated[
        bool, typer.Option("--list", help="List the stories in the store (`storybot stores`).")
    ] = False,
) -> None:
    """Re-index the corpus: embed added and changed articles, drop removed ones."""
    from index.articles import load_corpus
    from index.indexer import preview, run_index

    if list_stores:
        from bot.cli.stores import stores_command

        stores_command(store)
        return
    settings = load_settings(IndexSettings, corpus_dir=corpus, store_dir=store)
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
                    say(f"would {label}: {doc_id}")
            typer.echo(f"dry run: {plan.summary()}; nothing written")
            return
        report = run_index(
            settings, articles, rebuild=rebuild, progress=progress_printer(), wait_seconds=wait
        )
    except StorybotError as error:
        raise fail_with(error) from None
    typer.echo(report.summary())


def search_command(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    store: StoreOption = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=50)] = 3,
) -> None:
    """Show the passages of the index closest to QUERY, best first."""
    from index.retrieval import StoryIndex

    settings = load_settings(IndexSettings, store_dir=store)
    try:
        results = StoryIndex(settings).search(query, top_k=top_k)
    except StorybotError as error:
        raise fail_with(error) from None
    for rank, hit in enumerate(results, 1):
        meta = hit.node.metadata
        say(f"[{rank}] {meta.get('title')} ({meta.get('published') or 'undated'})")
        say(f"    {hit.node.get_content().strip()}\n")
