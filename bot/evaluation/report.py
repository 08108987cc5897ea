"""The figures of one system over a QA file, side by side with another, and quality gates."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bot.evaluation.judging import DialogueResult

NOT_AVAILABLE = "–"  # an empty denominator: nothing to measure


@dataclass(frozen=True)
class Ratio:
    """hits out of total; `value` is None when total is 0 (nothing to measure)."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def shown(self) -> str:
        if not self.total:
            return NOT_AVAILABLE
        return f"{self.hits / self.total:.1%} ({self.hits}/{self.total})"

    def to_json(self) -> dict:
        return {"value": self.value, "hits": self.hits, "total": self.total}


def share(results: Iterable[DialogueResult], test: Callable[[DialogueResult], bool]) -> Ratio:
    """How many of `results` pass `test`, out of all of them."""
    items = list(results)
    return Ratio(sum(1 for r in items if test(r)), len(items))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear between closest ranks; None without values."""
    return float(np.percentile(values, q)) if len(values) else None


@dataclass(frozen=True)
class EvalReport:
    """The figures of one system over one QA file.

    Groups: single (in scope, one turn), followup (in scope, more turns), out (out of
    scope); in scope = single + followup. Every ratio has its denominator; an empty
    one gives None ('–').

    - accuracy: in-scope dialogues whose last answer is not an abstention and holds
      the expected facts (all of expect_all / any of expect_any; `facts_found`).
      `single_accuracy` and `followup_accuracy` are the same over each group.
    - citation_precision: of the in-scope dialogues answered correctly, those whose
      every expected fact (all) / some expected fact (any) appears in at least one
      cited quote (`facts_cited`): the answer is proved by its sources, not only
      stated. None for a system that does not cite (the baseline).
    - abstention: out-of-scope dialogues where it abstained.
    - answered_out_of_scope: out-of-scope dialogues where it answered instead
      (a wrong answer where it should have abstained).
    - false_abstention: in-scope dialogues where it abstained.
    - hit_at_k: in-scope dialogues where one of the top k chunks retrieved for the
      last question (as resolved against the conversation) holds the facts;
      only over dialogues whose retrieval was measured.
    - mrr: mean over those dialogues of 1/rank of the first such chunk (0 if none).
    - latency p50/p95: milliseconds per question asked (every turn of every dialogue).
    """

    name: str
    k: int
    counts: dict[str, int]
    accuracy: Ratio
    single_accuracy: Ratio
    followup_accuracy: Ratio
    citation_precision: Ratio
    abstention: Ratio
    answered_out_of_scope: Ratio
    false_abstention: Ratio
    hit_at_k: Ratio
    mrr: float | None
    mrr_total: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_n: int
    median_answer_chars: float | None
    cites: bool = True
    results: list[DialogueResult] = field(default_factory=list, repr=False)

    def failures(self) -> list[tuple[DialogueResult, str]]:
        """The dialogues it got wrong (and right answers without a cited proof), with why."""
        out = []
        for result in self.results:
            why = result.problem(self.cites)
            if why is not None:
                out.append((result, why))
        return out

    def to_json(self) -> dict:
        """Every figure, as plain JSON; ratios as {value, hits, total}."""
        return {
            "system": self.name,
            "k": self.k,
            "dialogues": self.counts,
            "accuracy": self.accuracy.to_json(),
            "single_turn_accuracy": self.single_accuracy.to_json(),
            "followup_accuracy": self.followup_accuracy.to_json(),
            "citation_precision": self.citation_precision.to_json() if self.cites else None,
            "abstention": self.abstention.to_json(),
            "answered_out_of_scope": self.answered_out_of_scope.to_json(),
            "false_abstention": self.false_abstention.to_json(),
            "hit_at_k": self.hit_at_k.to_json(),
            "mrr": {"value": self.mrr, "total": self.mrr_total},
            "latency_ms": {
                "p50": self.latency_p50_ms,
                "p95": self.latency_p95_ms,
                "n": self.latency_n,
            },
            "median_answer_chars": self.median_answer_chars,
            "failures": [
                {
                    "line": r.dialogue.line,
                    "id": r.dialogue.id,
                    "kind": r.dialogue.kind,
                    "turns": list(r.dialogue.turns),
                    "expected": r.dialogue.expected(),
                    "answer": r.answer,
                    "abstained": r.abstained,
                    "searched": r.standalone,
                    "problem": why,
                }
                for r, why in self.failures()
            ],
        }


def summarise(
    results: Sequence[DialogueResult],
    k: int,
    name: str = "storybot",
    cites: bool = True,
    timed: Sequence[DialogueResult] = (),
) -> EvalReport:
    """The `EvalReport` of `results`; `k` is the retrieval depth their ranks were taken at.

    Latency comes from `timed` (passes run after this one, warm) when given, else from
    `results` themselves.
    """
    groups: dict[str, list[DialogueResult]] = {"single": [], "followup": [], "out": []}
    for result in results:
        groups[result.dialogue.kind].append(result)
    in_scope = groups["single"] + groups["followup"]
    correct = [r for r in in_scope if r.correct]
    measured = [r for r in in_scope if r.ranked]
    latencies = [ms for r in (timed or results) for ms in r.latencies_ms]
    answered = [len(r.answer) for r in results if not r.abstained]
    return EvalReport(
        name=name,
        k=k,
        counts={kind: len(group) for kind, group in groups.items()},
        accuracy=share(in_scope, lambda r: r.correct),
        single_accuracy=share(groups["single"], lambda r: r.correct),
        followup_accuracy=share(groups["followup"], lambda r: r.correct),
        citation_precision=share(correct, lambda r: r.cited) if cites else Ratio(0, 0),
        abstention=share(groups["out"], lambda r: r.abstained),
        answered_out_of_scope=share(groups["out"], lambda r: not r.abstained),
        false_abstention=share(in_scope, lambda r: r.abstained),
        hit_at_k=share(measured, lambda r: r.rank is not None and r.rank <= k),
        mrr=(
            sum(1 / r.rank for r in measured if r.rank and r.rank <= k) / len(measured)
            if measured
            else None
        ),
        mrr_total=len(measured),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        latency_n=len(latencies),
        median_answer_chars=statistics.median(answered) if answered else None,
        cites=cites,
        results=list(results),
    )


def _number(value: float | None, digits: int) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.{digits}f}"


def table_rows(report: EvalReport) -> list[tuple[str, str]]:
    """(label, shown value) for each metric, in table order."""
    k = report.k
    return [
        ("answer accuracy (in scope)", report.accuracy.shown()),
        ("  single-turn", report.single_accuracy.shown()),
        ("  follow-up", report.followup_accuracy.shown()),
        (
            "citation precision",
            report.citation_precision.shown() if report.cites else "(no citations)",
        ),
        ("abstention (out of scope)", report.abstention.shown()),
        ("answered where it should abstain", report.answered_out_of_scope.shown()),
        ("false abstention (in scope)", report.false_abstention.shown()),
        (f"retrieval hit@{k}", report.hit_at_k.shown()),
        (f"retrieval MRR@{k}", f"{_number(report.mrr, 3)} (n={report.mrr_total})"),
        ("latency p50 (ms)", f"{_number(report.latency_p50_ms, 1)} (n={report.latency_n})"),
        ("latency p95 (ms)", f"{_number(report.latency_p95_ms, 1)} (n={report.latency_n})"),
    ]


def render_table(reports: Sequence[EvalReport]) -> str:
    """The metrics of one or more systems side by side, one column each."""
    rows = [table_rows(r) for r in reports]
    width = max(len(label) for label, _ in rows[0]) + 2
    columns = [
        max(len(r.name), *(len(v) for _, v in system))
        for r, system in zip(reports, rows, strict=True)
    ]
    header = "".join(f"  {r.name:>{w}}" for r, w in zip(reports, columns, strict=True))
    lines = [f"{'metric':<{width}}{header}".rstrip()]
    for i, (label, _) in enumerate(rows[0]):
        values = "".join(f"  {system[i][1]:>{w}}" for system, w in zip(rows, columns, strict=True))
        lines.append(f"{label:<{width}}{values}")
    return "\n".join(lines)


def shorten(text: str, limit: int = 150) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_failures(report: EvalReport, limit: int = 150) -> str:
    """The dialogues a system got wrong, each with what it expected and what it answered."""
    failures = report.failures()
    lines = [f"{report.name}: {len(failures)} of {len(report.results)} dialogues need a look"]
    for result, why in failures:
        d = result.dialogue
        ident = f" ({d.id})" if d.id else ""
        lines.append(f"  line {d.line}{ident} [{d.kind}] {' → '.join(d.turns)}")
        lines.append(f"      {why}; expected: {d.expected()}")
        said = "(abstained) " if result.abstained else ""
        lines.append(f"      answered: {said}{shorten(result.answer, limit)}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Threshold:
    """A minimum a metric must reach (a fraction 0..1); an unmeasurable metric misses it."""

    option: str
    metric: str
    minimum: float
    actual: float | None

    @property
    def passed(self) -> bool:
        return self.actual is not None and self.actual >= self.minimum

    def describe(self) -> str:
        actual = NOT_AVAILABLE if self.actual is None else f"{self.actual:.1%}"
        verdict = "ok" if self.passed else "MISSED"
        return f"{self.metric} {actual}, {self.option} {self.minimum:.1%}: {verdict}"

    def to_json(self) -> dict:
        return {
            "option": self.option,
            "metric": self.metric,
            "minimum": self.minimum,
            "actual": self.actual,
            "passed": self.passed,
        }


def check_thresholds(
    report: EvalReport, min_accuracy: float | None, min_abstention: float | None
) -> list[Threshold]:
    """--min-accuracy on in-scope accuracy, --min-abstention on out-of-scope abstention."""
    checks = []
    if min_accuracy is not None:
        checks.append(
            Threshold("--min-accuracy", "answer accuracy", min_accuracy, report.accuracy.value)
        )
    if min_abstention is not None:
        checks.append(
            Threshold("--min-abstention", "abstention", min_abstention, report.abstention.value)
        )
    return checks
