"""`storybot stores`: the namespaces of a store (one per story) and their generations."""

from __future__ import annotations

import typer

from bot.cli.common import StoreOption, fail_with, load_settings
from bot.errors import StorybotError
from index.settings import IndexSettings


def stores_command(store: StoreOption = None) -> None:
    """List the stories (STORYBOT_NAMESPACE) in the store and their index generations."""
    from index.namespaces import survey
    from index.store import connect

    settings = load_settings(IndexSettings, store_dir=store)
    if not settings.chroma_host and not settings.store_dir.is_dir():
        typer.echo(f"No store at {settings.store_dir}: run `storybot index` first.")
        return
    try:
        namespaces = survey(connect(settings))
    except StorybotError as error:
        raise fail_with(error) from None
    if not namespaces:
        typer.echo("No index in this store yet: run `storybot index` first.")
    for namespace in namespaces:
        mark = "  (this one: STORYBOT_NAMESPACE)" if namespace.name == settings.namespace else ""
        typer.echo(f"{namespace.name}{mark}")
        for generation in namespace.generations:
            typer.echo(
                f"  {generation.role:<8}  {generation.name}  {generation.chunks} chunks  "
                f"{generation.embed_model}  built {generation.built_at}"
            )
