"""`storybot eval FILE`: run a QA file through the engine (and the plain baseline), report.

Exit status: 0 when every threshold is met, 1 when one is missed, 2 when the
file, corpus or store is wrong (`bot.cli.common.ExitCode`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import CorpusOption, ExitCode, StoreOption, fail_with, load_settings
from bot.errors import StorybotError
from bot.evaluation import (
    Dialogue,
    check_thresholds,
    evaluate,
    load_dialogues,
    render_failures,
    render_table,
)
from bot.evaluation.calibration import calibration, render_calibration
from bot.settings import BotSettings


def _describe(dialogues: Sequence[Dialogue]) -> str:
    kinds = {kind: sum(d.kind == kind for d in dialogues) for kind in ("single", "followup", "out")}
    return (
        f"{len(dialogues)} dialogues ({kinds['single']} single-turn, "
        f"{kinds['followup']} follow-up, {kinds['out']} out of scope)"
    )


def eval_command(
    file: Annotated[Path, typer.Argument(help="QA file: JSONL, one dialogue a line.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The figures as one JSON object.")
    ] = False,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            "--min-accuracy", min=0.0, max=1.0, help="Exit 1 below this in-scope accuracy (0..1)."
        ),
    ] = None,
    min_abstention: Annotated[
        float | None,
        typer.Option(
            "--min-abstention",
            min=0.0,
            max=1.0,
            help="Exit 1 below this out-of-scope abstention rate (0..1).",
        ),
    ] = None,
    store: StoreOption = None,
    corpus: CorpusOption = None,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline", help="Also run the plain LlamaIndex pipeline and show it beside."
        ),
    ] = False,
    repeats: Annotated[
        int,
        typer.Option(
            "--repeats", min=0, max=100, help="Timed passes after the judged one, for latency."
        ),
    ] = 0,
    k: Annotated[
        int | None,
        typer.Option(
            "--k",
            min=1,
            max=50,
            help="Retrieval depth of hit@k and MRR (default: the top_k setting).",
        ),
    ] = None,
) -> None:
    """Measure answer quality on a QA FILE: accuracy, citations, abstention, retrieval, latency."""
    with tempfile.TemporaryDirectory(prefix="storybot-eval-") as scratch:
        settings = load_settings(
            BotSettings,
            store_dir=store,
            corpus_dir=corpus,
            # A throwaway memory: an evaluation never touches the user's conversations.
            memory_path=Path(scratch) / "memory.sqlite3",
        )
        try:
            dialogues = load_dialogues(file)
            evaluation = evaluate(dialogues, settings, baseline, k, repeats)
        except StorybotError as error:
            raise fail_with(error) from None
    for warning in evaluation.warnings:
        typer.echo(f"warning: {warning}", err=True)
    reports, notes = evaluation.reports, evaluation.notes
    ours = reports[0]
    thresholds = check_thresholds(ours, min_accuracy, min_abstention)
    if as_json:
        data = {"file": str(file), **ours.to_json()}
        data["calibration"] = [b.to_json() for b in calibration(ours.results)]
        if baseline:
            data["baseline"] = reports[1].to_json()
        data["thresholds"] = [t.to_json() for t in thresholds]
        data["passed"] = all(t.passed for t in thresholds)
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"storybot eval: {_describe(dialogues)} from {file}")
        typer.echo("".join(f"  {note}\n" for note in notes))
        typer.echo(render_table(reports))
        typer.echo(render_calibration(ours.results))
        for report in reports:
            typer.echo("\n" + render_failures(report))
        if thresholds:
            typer.echo("\nthresholds:")
            for threshold in thresholds:
                typer.echo(f"  {threshold.describe()}")
    missed = [t for t in thresholds if not t.passed]
    for threshold in missed:
        typer.echo(f"error: quality gate missed: {threshold.describe()}", err=True)
    if missed:
        raise typer.Exit(ExitCode.THRESHOLD_MISSED)
