"""Cross-validate the reader on the train and dev dialogues together, never the test ones.

    python scripts/cross_validate_reader.py \
        --train tests/data/story_train.jsonl=STORE [--train QA=STORE ...] \
        --dev tests/data/story_dev_split.jsonl=STORE [--dev QA=STORE ...] \
        [--seeds 5 | --by-file] [--cost-wrong 2] [--withheld-weight 1] [--cache FILE]

The same data and options as `scripts/train_reader.py` (and the same --cache). A dev
split alone is a few dozen dialogues, too few to tell two versions of the reader
apart: one answer more or less moves its cost by 1 or 2. Here every train and dev
dialogue is asked by a reader that has not seen it:
- the dialogues are dealt into 5 folds, rewordings of one question in the same fold;
- for each fold the sentence and confidence models are fitted on the other four as
  train_reader.py fits them (the shortlist is fitted once, on the train dialogues),
  and the fold's confidences are calibrated by Platt scaling on the other folds'
  out-of-fold confidences, as train_reader.py calibrates on all of them. (Those come
  from models that saw this fold: a small optimism the shipped calibration lacks.)
- this is repeated for --seeds different deals, and the figures are averaged.
With --by-file the folds are the QA files instead, one pass: with one writer to a
file, each writer's questions are judged by a reader fitted without any of them, as
a new user's are (the dealt folds mix a writer's questions into every fold).

Reported, pooled and per name of QA file (the weeks of RealTime QA, all called
questions.jsonl, together):
- AUC: how often the confidence ranks a right answer above a wrong one (or one to an
  out-of-scope question); it does not depend on the cut;
- right if answered: questions whose composed answer holds the facts;
- at the cut (w / (1 + w) for --cost-wrong w): answers given right and wrong,
  out-of-scope questions answered, and the cost (w per wrong answer, 1 per needless
  abstention).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from train_reader import (
    FOLDS,
    WITHHELD_WEIGHT,
    Example,
    add_data_arguments,
    add_fit_arguments,
    collect_all,
    out_of_fold,
    platt_scaling,
)

from bot.answering.reader import sigmoid


@dataclass(frozen=True)
class Judged:
    """One dialogue asked by a reader fitted without it."""

    source: str  # the name of its QA file
    in_scope: bool
    confidence: float
    right: bool


def cross_validate(
    examples: list[Example],
    seed: int,
    withheld_weight: float = WITHHELD_WEIGHT,
    by_file: bool = False,
) -> list[Judged]:
    """Every dialogue of `examples` (withheld readings aside) judged out of fold.

    The models of each fold are fitted on the other folds, and so is the calibration
    of its confidences: Platt scaling on the other folds' out-of-fold confidences.
    With `by_file` each QA file is a fold: its dialogues are judged by models that
    have seen no question of its writer.
    """
    folds = file_folds(examples) if by_file else None
    scored = out_of_fold(examples, seed, withheld_weight, folds)
    judged = []
    for fold in sorted({s.fold for s in scored}):
        others = [s for s in scored if s.fold != fold]
        slope, offset = platt_scaling([s.logit for s in others], [s.right for s in others])
        judged += [
            Judged(
                Path(s.example.source).name,
                s.example.dialogue.in_scope,
                float(sigmoid(slope * s.logit + offset)),
                bool(s.right),
            )
            for s in scored
            if s.fold == fold
        ]
    return judged


def file_folds(examples: list[Example]) -> list[int]:
    """One fold per QA file (`Example.source`), in the order of their names."""
    sources = sorted({e.source for e in examples})
    return [sources.index(e.source) for e in examples]


def auc(judged: list[Judged]) -> float:
    """The chance that a right answer has a higher confidence than a wrong one (ties: half)."""
    right = np.array([j.confidence for j in judged if j.right])
    wrong = np.array([j.confidence for j in judged if not j.right])
    if not len(right) or not len(wrong):
        return float("nan")
    above = (right[:, None] > wrong[None, :]).sum() + 0.5 * (right[:, None] == wrong[None, :]).sum()
    return float(above / (len(right) * len(wrong)))


def figures(judged: list[Judged], cut: float, cost_wrong: float) -> dict[str, float]:
    answered = [j for j in judged if j.confidence >= cut]
    wrong = sum(not j.right for j in answered)
    return {
        "dialogues": len(judged),
        "auc": auc(judged),
        "right_if_answered": sum(j.right for j in judged),
        "answered_right": sum(j.right for j in answered),
        "answered_wrong": wrong,
        "out_of_scope_answered": sum(not j.in_scope for j in answered),
        "cost": cost_wrong * wrong + sum(j.right for j in judged if j.confidence < cut),
    }


COLUMNS = (
    ("dialogues", "dialogues", "{:.0f}"),
    ("auc", "AUC", "{:.3f}"),
    ("right_if_answered", "right if answered", "{:.1f}"),
    ("answered_right", "answered right", "{:.1f}"),
    ("answered_wrong", "answered wrong", "{:.1f}"),
    ("out_of_scope_answered", "out of scope answered", "{:.1f}"),
    ("cost", "cost", "{:.1f}"),
)


def render(rows: dict[str, list[dict[str, float]]], seeds: int) -> str:
    """One line per group: each figure's mean over the seeds."""
    width = max(len(name) for name in rows) + 2
    lines = [f"{'':{width}}" + "  ".join(title for _, title, _ in COLUMNS)]
    for name, per_seed in rows.items():
        cells = []
        for key, title, form in COLUMNS:
            values = [r[key] for r in per_seed if not np.isnan(r[key])]
            mean = float(np.mean(values)) if values else float("nan")
            cells.append(f"{form.format(mean):>{len(title)}}")
        lines.append(f"{name:{width}}" + "  ".join(cells))
    if seeds:
        lines.append(f"(means over {seeds} deals of the dialogues into {FOLDS} folds)")
    else:
        lines.append("(each QA file judged by models fitted on the others)")
    return "\n".join(lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    parser.add_argument(
        "--seeds", type=_positive, default=5, help="deals into folds to average over"
    )
    parser.add_argument(
        "--by-file",
        action="store_true",
        help="one fold per QA file instead of --seeds deals: how the reader does on "
        "questions by a writer it has not seen (one file a writer)",
    )
    add_fit_arguments(parser)
    args = parser.parse_args()
    data = collect_all(args)
    examples = data.train + data.dev
    cut = args.cost_wrong / (1.0 + args.cost_wrong)
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    # The file folds do not depend on a deal: one pass.
    for seed in range(1 if args.by_file else args.seeds):
        judged = cross_validate(examples, seed, args.withheld_weight, args.by_file)
        rows["all"].append(figures(judged, cut, args.cost_wrong))
        for source in sorted({j.source for j in judged}):
            mine = [j for j in judged if j.source == source]
            rows[source].append(figures(mine, cut, args.cost_wrong))
    print(render(rows, 0 if args.by_file else args.seeds))


if __name__ == "__main__":
    main()
