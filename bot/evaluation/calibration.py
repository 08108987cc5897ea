"""Is the reader's confidence honest? Predicted against observed correctness, by bucket.

Each answer of the extractive reader carries the probability it estimated that the
answer is right (`Answer.confidence`). Grouped into buckets of that probability,
the answers in a bucket should be right about as often as the bucket predicts.
Abstentions carry their estimate too; for them the table shows how many were
in scope (a possibly needless abstention) and how many out of scope.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from bot.evaluation.judging import DialogueResult

EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class Bucket:
    low: float
    high: float
    answered: int
    right: int  # of the answered
    mean_predicted: float | None  # over the answered
    abstained_in_scope: int
    abstained_out_of_scope: int

    @property
    def observed(self) -> float | None:
        return self.right / self.answered if self.answered else None

    def to_json(self) -> dict:
        return {
            "range": [self.low, self.high],
            "answered": self.answered,
            "right": self.right,
            "mean_predicted": self.mean_predicted,
            "observed": self.observed,
            "abstained_in_scope": self.abstained_in_scope,
            "abstained_out_of_scope": self.abstained_out_of_scope,
        }


def calibration(results: Sequence[DialogueResult], edges: Sequence[float] = EDGES) -> list[Bucket]:
    """One bucket per interval of `edges` (the last one closed), for results with a confidence."""
    buckets = []
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        last = i == len(edges) - 2

        def inside(p: float, low: float = low, high: float = high, last: bool = last) -> bool:
            return low <= p < high or (last and p == high)

        rated = [r for r in results if r.confidence is not None and inside(r.confidence)]
        answered = [r for r in rated if not r.abstained]
        abstained = [r for r in rated if r.abstained]
        predicted = [r.confidence for r in answered if r.confidence is not None]
        buckets.append(
            Bucket(
                low,
                high,
                len(answered),
                sum(r.correct for r in answered),
                sum(predicted) / len(predicted) if predicted else None,
                sum(r.dialogue.in_scope for r in abstained),
                sum(not r.dialogue.in_scope for r in abstained),
            )
        )
    return buckets


def precision_when_answering(results: Sequence[DialogueResult]) -> tuple[int, int]:
    """(right, answered): of the dialogues answered, in scope or not, how many right."""
    answered = [r for r in results if not r.abstained]
    return sum(r.correct for r in answered), len(answered)


def render_calibration(results: Sequence[DialogueResult]) -> str:
    """The calibration table, or '' when no answer carries a confidence."""
    if not any(r.confidence is not None for r in results):
        return ""
    right, answered = precision_when_answering(results)
    share = f"{right / answered:.1%} ({right}/{answered})" if answered else "–"
    lines = [
        f"precision when answering: {share}",
        "calibration (reader's estimate that the answer is right):",
        "  estimate     answered  mean estimate  observed right  abstained in/out of scope",
    ]
    for b in calibration(results):
        predicted = "–" if b.mean_predicted is None else f"{b.mean_predicted:.2f}"
        observed = "–" if b.observed is None else f"{b.observed:.2f} ({b.right}/{b.answered})"
        lines.append(
            f"  {b.low:.1f}–{b.high:.1f}  {b.answered:>10}  {predicted:>13}  {observed:>14}"
            f"  {b.abstained_in_scope:>8}/{b.abstained_out_of_scope}"
        )
    return "\n".join(lines)
