"""Answer quality from a QA file: load it, run storybot and the baseline, judge, report.

`dataset` reads the file, `runner` asks the questions, `judging` decides what
is right, `report` turns results into figures. Their public names are here.
"""

from bot.evaluation.dataset import Dialogue, Kind, Mode, load_dialogues, parse_dialogue
from bot.evaluation.judging import (
    DialogueResult,
    fact_in,
    fact_pattern,
    facts_cited,
    facts_found,
    normalise,
    retrieval_rank,
)
from bot.evaluation.report import (
    NOT_AVAILABLE,
    EvalReport,
    Ratio,
    Threshold,
    check_thresholds,
    percentile,
    render_failures,
    render_table,
    share,
    shorten,
    summarise,
)
from bot.evaluation.runner import (
    BASELINE_CHUNK_OVERLAP,
    BASELINE_CHUNK_SIZE,
    BASELINE_NAME,
    Evaluation,
    build_baseline,
    evaluate,
    run_baseline,
    run_storybot,
)

__all__ = [
    "BASELINE_CHUNK_OVERLAP",
    "BASELINE_CHUNK_SIZE",
    "BASELINE_NAME",
    "NOT_AVAILABLE",
    "Dialogue",
    "DialogueResult",
    "EvalReport",
    "Evaluation",
    "Kind",
    "Mode",
    "Ratio",
    "Threshold",
    "build_baseline",
    "check_thresholds",
    "evaluate",
    "fact_in",
    "fact_pattern",
    "facts_cited",
    "facts_found",
    "load_dialogues",
    "normalise",
    "parse_dialogue",
    "percentile",
    "render_failures",
    "render_table",
    "retrieval_rank",
    "run_baseline",
    "run_storybot",
    "share",
    "shorten",
    "summarise",
]
