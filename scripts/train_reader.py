"""Fit the reader's weights (bot/answering/reader_weights.json) from QA files and their indexes.

    python scripts/train_reader.py \
        --train tests/data/story_train.jsonl=STORE [--train QA=STORE ...] \
        --dev tests/data/story_dev_split.jsonl=STORE [--dev QA=STORE ...] \
        [--out bot/answering/reader_weights.json] [--cost-wrong 2]

QA is a `storybot eval` file; STORE the folder `storybot index --store STORE` built from
the articles it asks about. For each dialogue the last question is resolved against
the earlier turns as the bot resolves it, its chunks retrieved and every candidate
sentence's features computed (`bot.answering.reader`). Then:
1. the shortlist: logistic regression (numpy, L2) on the words-only features of every
   candidate of the train dialogues, label = the share of the expected facts the
   sentence states, each dialogue weighing the same. The reader embeds only the
   candidates it ranks highest; the file records how often they hold the best one;
2. the sentence model: the same regression on the full features of the shortlisted
   candidates (collected again through the fitted shortlist), each weight held to the
   direction its evidence points (SENTENCE_SIGNS in bot/answering/reader.py);
3. the confidence model: logistic regression on question-level features and what the
   composed answer offers (CONFIDENCE_SIGNS as above), label = the composed answer
   holds the facts (out-of-scope: never right). Its sentence scores come from 5-fold
   cross-fitting so it learns from scores it has not been fitted on;
4. the dev dialogues join the train ones for the sentence and confidence models (the
   shortlist comes from the train ones alone). The confidence model also learns from
   each of their questions read again without the sentences that state its answer (a
   withheld reading: a question the articles do not answer; --withheld-weight);
5. calibration and the cut: every dialogue is scored by models fitted without its fold
   (5 folds, rewordings of one question in the same fold), and Platt scaling maps those
   out-of-fold confidences to how often answers are right; the bot answers when that
   probability is at least w / (1 + w) (2/3 for the default w = 2), where a wrong answer
   (or an answer to an out-of-scope question) costs w = --cost-wrong and a needless
   abstention (abstaining where the answer would have been right) 1. The weights file
   records what that cut costs out of fold, and the cut of least cost for comparison.
   This is the regime scripts/cross_validate_reader.py measures.
Same data, same bytes out: candidates are sorted, folds fixed, the fit is Newton's method.
To tell two versions of the reader apart, each train and dev dialogue judged by models
fitted without it, run scripts/cross_validate_reader.py with the same arguments.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from llama_index.core.schema import NodeWithScore  # noqa: E402

from bot.answering.extractive import (  # noqa: E402
    READER_CHUNKS,
    ExtractiveAnswerer,
    Reading,
    ScoredSentence,
    compose,
)
from bot.answering.questions import AnswerKind, Question  # noqa: E402
from bot.answering.reader import (  # noqa: E402
    CONFIDENCE_FEATURES,
    CONFIDENCE_ONLY,
    CONFIDENCE_SIGNS,
    MEANING_CANDIDATES,
    SENTENCE_FEATURES,
    SENTENCE_SIGNS,
    SHORTLIST_FEATURES,
    LinearModel,
    ReaderWeights,
    confidence_features,
    fit_logistic,
    sigmoid,
)
from bot.evaluation import Dialogue, fact_in, facts_found, load_dialogues  # noqa: E402
from index.sentences import Sentence  # noqa: E402
from index.terms import TERMS_VERSION, TermStats  # noqa: E402

FOLDS = 5
SHORTLIST_L2 = 1.0
# Chosen with scripts/cross_validate_reader.py (1, 3, 10, 30, 100 tried).
SENTENCE_L2 = 3.0
CONFIDENCE_L2 = 10.0
PLATT_L2 = 0.1
# Weight of a withheld reading (a question read without the sentences that answer it)
# among the confidence model's training rows, beside 1 for a question as asked.
WITHHELD_WEIGHT = 1.0
DEFAULT_OUT = ROOT / "bot" / "answering" / "reader_weights.json"


@dataclass
class ShortlistExample:
    """Every candidate of one dialogue's last question, for the first stage."""

    dialogue: Dialogue
    features: np.ndarray
    labels: np.ndarray


@dataclass
class Example:
    """One dialogue's last question: its candidates and what a right answer holds."""

    dialogue: Dialogue
    kind: AnswerKind
    texts: list[str]
    features: np.ndarray
    labels: np.ndarray
    evidence: dict[str, float]
    # The question read with the sentences that state its facts withheld: an example
    # of a question about the story whose answer the articles do not give.
    withheld: bool = False
    source: str = ""  # the QA file it comes from (`source_name`)


def sentence_label(text: str, dialogue: Dialogue) -> float:
    """The share of the facts (all) or whether any fact (any) is in `text`."""
    if not dialogue.in_scope:
        return 0.0
    found = [fact_in(text, fact) for fact in dialogue.facts]
    return sum(found) / len(found) if dialogue.mode == "all" else float(any(found))


def states_a_fact(dialogue: Dialogue) -> Callable[[str], bool]:
    """Whether a sentence states one of the dialogue's facts."""
    return lambda text: sentence_label(text, dialogue) > 0


@dataclass
class Asked:
    """One dialogue's last question as the bot would search it, and what it found."""

    dialogue: Dialogue
    question: Question
    chunks: list[NodeWithScore]
    extractive: ExtractiveAnswerer
    stats: TermStats


def asked_questions(qa_file: Path, store: Path, shared: dict) -> Iterator[Asked]:
    """The last question of each dialogue of `qa_file`, read against the index in `store`."""
    from bot.answering.engine import AnswerEngine
    from bot.answering.followup import resolve
    from bot.answering.memory import Turn
    from bot.settings import BotSettings
    from index.retrieval import StoryIndex

    scratch = Path(tempfile.mkdtemp(prefix="storybot-train-"))
    settings = BotSettings(
        store_dir=store, memory_path=scratch / "memory.sqlite3", openai_api_key=None
    )
    index = StoryIndex(settings, embed_model=shared.get("model"))
    shared.setdefault("model", index.embed_model)
    engine = AnswerEngine.from_settings(settings, story_index=index)
    if "extractive" in shared:
        engine.extractive = shared["extractive"]
    shared["extractive"] = engine.extractive
    stats = engine.term_stats()
    for dialogue in load_dialogues(qa_file):
        # Earlier turns as the bot remembers them; their answers are left out so the
        # features do not depend on the weights being replaced.
        history: list[Turn] = []
        for turn in dialogue.turns[:-1]:
            history.append(Turn(turn, resolve(turn, history).search_text, "", 0.0))
        # As the engine reads it: the kind of answer from `question`, the topic from
        # `search_text` ("what about X?" asks the opening question about X).
        resolved = resolve(dialogue.turns[-1], history)
        question = Question.parse(resolved.question, resolved.search_text)
        top_k = max(settings.top_k, READER_CHUNKS)
        chunks = engine.index.search(question.search_text, top_k=top_k)
        yield Asked(dialogue, question, chunks, engine.extractive, stats)
    engine.memory.close()


def collect_shortlist(qa_file: Path, store: Path, shared: dict) -> list[ShortlistExample]:
    """Every candidate of every dialogue with its SHORTLIST_FEATURES and label."""
    examples = []
    for asked in asked_questions(qa_file, store, shared):
        texts, features = asked.extractive.first_stage(asked.question, asked.chunks, asked.stats)
        if texts:
            labels = np.array([sentence_label(t, asked.dialogue) for t in texts])
            examples.append(ShortlistExample(asked.dialogue, features, labels))
    return examples


def collect(
    qa_file: Path, store: Path, shared: dict, shortlist: LinearModel, withhold: bool = False
) -> list[Example]:
    """The examples of one QA file: the candidates `shortlist` keeps and their features.

    With `withhold`, each question whose candidates state its facts is read a second
    time without those sentences (a `withheld` example, never right).
    """
    examples = []
    for asked in asked_questions(qa_file, store, shared):
        # Features do not depend on the weights being replaced; neutral ones keep the
        # shipped file (which may be stale) out of the training.
        asked.extractive.weights = neutral_weights(shortlist)
        reading = asked.extractive.read(asked.question, asked.chunks, asked.stats, every_lift=True)
        if not reading.sentences:
            continue
        examples.append(example_of(asked.dialogue, asked.question.kind, reading, qa_file))
        if withhold and examples[-1].labels.max() > 0:
            withhold_facts = states_a_fact(asked.dialogue)
            held = asked.extractive.read(
                asked.question, asked.chunks, asked.stats, withhold_facts, every_lift=True
            )
            if held.sentences:
                examples.append(
                    example_of(asked.dialogue, asked.question.kind, held, qa_file, withheld=True)
                )
    return examples


def example_of(
    dialogue: Dialogue, kind: AnswerKind, reading: Reading, qa_file: Path, withheld: bool = False
) -> Example:
    texts = [s.sentence.text for s in reading.sentences]
    order = sorted(range(len(texts)), key=lambda i: texts[i])
    return Example(
        dialogue,
        kind,
        [texts[i] for i in order],
        reading.features[order],
        np.array([sentence_label(texts[i], dialogue) for i in order]),
        reading.evidence,
        withheld,
        source_name(qa_file),
    )


def neutral_weights(shortlist: LinearModel) -> ReaderWeights:
    def zero(names: tuple[str, ...]) -> LinearModel:
        n = len(names)
        return LinearModel(names, np.zeros(n), np.ones(n), np.zeros(n), 0.0)

    return ReaderWeights(shortlist, zero(SENTENCE_FEATURES), zero(CONFIDENCE_FEATURES), 0.5, {})


def fit_shortlist(examples: list[ShortlistExample]) -> LinearModel:
    """The first stage: the same labels as the sentence model, from words alone."""
    x = np.vstack([e.features for e in examples])
    y = np.concatenate([e.labels for e in examples])
    w = np.concatenate([np.full(len(e.labels), 1.0 / len(e.labels)) for e in examples])
    return fit_logistic(x, y, SHORTLIST_FEATURES, w * len(examples) / w.sum(), SHORTLIST_L2)


def shortlist_recall(examples: list[ShortlistExample], shortlist: LinearModel) -> dict:
    """Of the questions with a right candidate, how many keep one in the shortlist."""
    answerable = [e for e in examples if e.labels.max() > 0]
    kept = 0
    for e in answerable:
        order = np.argsort(-shortlist.logits(e.features), kind="stable")[:MEANING_CANDIDATES]
        kept += bool(e.labels[order].max() >= e.labels.max())
    return {"answerable": len(answerable), "best_candidate_kept": kept}


def fit_sentences(examples: list[Example]) -> LinearModel:
    x = np.vstack([e.features for e in examples])
    y = np.concatenate([e.labels for e in examples])
    # Every dialogue weighs the same, however many candidates it has.
    w = np.concatenate([np.full(len(e.texts), 1.0 / len(e.texts)) for e in examples])
    return fit_logistic(
        x,
        y,
        SENTENCE_FEATURES,
        w * len(examples) / w.sum(),
        SENTENCE_L2,
        signs=SENTENCE_SIGNS,
        unused=CONFIDENCE_ONLY,
    )


def answer_outcome(example: Example, logits: np.ndarray) -> tuple[np.ndarray, bool]:
    """Confidence features and whether the composed answer would be right."""
    order = np.argsort(-logits, kind="stable")
    scored = [
        ScoredSentence(Sentence(example.texts[i], 0, 0), {}, float(sigmoid(logits[i])), 0.0)
        for i in order
    ]
    kinds = example.features[order, SENTENCE_FEATURES.index("kind_hit")]
    chosen = compose(scored, example.kind, kinds)
    text = " ".join(scored[i].sentence.text for i in chosen)
    d = example.dialogue
    right = d.in_scope and facts_found(text, d.facts, d.mode)
    rows = [int(order[i]) for i in chosen]
    return confidence_features(logits, example.features, example.evidence, rows), right


@dataclass
class Fitted:
    """The sentence model and the confidence model before calibration."""

    sentence: LinearModel
    confidence: LinearModel
    right_when_cross_fitted: int  # training questions the cross-fitted answers got right

    def confidence_logit(self, example: Example) -> tuple[float, bool]:
        """The uncalibrated confidence of an example's composed answer, and whether it is right."""
        features, right = answer_outcome(example, self.sentence.logits(example.features))
        return float(self.confidence.logits(features[None, :])[0]), right


def fold_of(example: Example, seed: int | None = None) -> int:
    """The fold of a dialogue (in deal `seed`); rewordings of one question share it."""
    d = example.dialogue
    key = "|".join(d.facts or d.turns)
    return zlib.crc32((key if seed is None else f"{seed}|{key}").encode()) % FOLDS


def fit_models(train: list[Example], withheld_weight: float = WITHHELD_WEIGHT) -> Fitted:
    """The sentence model, and the confidence model on cross-fitted answers."""
    # The sentence model learns from the questions as asked; withheld readings have no
    # answer to pick and serve only the confidence model.
    sentence = fit_sentences([e for e in train if not e.withheld])
    # Cross-fitted sentence scores for the confidence model's training rows. Dialogues
    # asking for the same facts (rewordings of one question) share a fold, so no fold
    # is scored by a model that has seen its question in other words.
    folds = [fold_of(e) for e in train]
    rows, labels, weights = [], [], []
    for fold in range(FOLDS):
        fitted = fit_sentences(
            [e for e, f in zip(train, folds, strict=True) if f != fold and not e.withheld]
        )
        for example, f in zip(train, folds, strict=True):
            if f == fold:
                features, right = answer_outcome(example, fitted.logits(example.features))
                rows.append(features)
                labels.append(float(right))
                weights.append(withheld_weight if example.withheld else 1.0)
    confidence = fit_logistic(
        np.vstack(rows),
        np.array(labels),
        CONFIDENCE_FEATURES,
        sample_weight=np.array(weights),
        l2=CONFIDENCE_L2,
        signs=CONFIDENCE_SIGNS,
    )
    return Fitted(sentence, confidence, int(sum(labels)))


@dataclass(frozen=True)
class OutOfFold:
    """One dialogue's confidence logit from models fitted without its fold."""

    example: Example
    fold: int
    logit: float
    right: bool


def out_of_fold(
    examples: list[Example],
    seed: int,
    withheld_weight: float = WITHHELD_WEIGHT,
    folds: list[int] | None = None,
) -> list[OutOfFold]:
    """Every dialogue of `examples` (withheld readings aside), scored by models fitted
    on the other folds of deal `seed` (or of the given `folds`, one per example)."""
    if folds is None:
        folds = [fold_of(e, seed) for e in examples]
    scored = []
    for fold in sorted(set(folds)):
        fitted = fit_models(
            [e for e, f in zip(examples, folds, strict=True) if f != fold], withheld_weight
        )
        scored += [
            OutOfFold(e, fold, *fitted.confidence_logit(e))
            for e, f in zip(examples, folds, strict=True)
            if f == fold and not e.withheld
        ]
    return scored


def platt_scaling(logits: list[float], right: list[bool]) -> tuple[float, float]:
    """The slope and offset that map confidence logits to how often answers are right."""
    platt = fit_logistic(np.array(logits)[:, None], np.array(right, float), ("z",), l2=PLATT_L2)
    slope = float(platt.coef[0] / platt.scale[0])
    return slope, float(platt.bias - platt.coef[0] * platt.mean[0] / platt.scale[0])


def fit(
    shortlist: LinearModel,
    train: list[Example],
    dev: list[Example],
    cost_wrong: float,
    sources: dict,
    withheld_weight: float = WITHHELD_WEIGHT,
) -> ReaderWeights:
    """The reader fitted on the train and dev dialogues together, calibrated out of fold."""
    examples = train + dev
    fitted = fit_models(examples, withheld_weight)
    # Platt scaling on out-of-fold confidences: one slope and offset map the logit of
    # a model that has not seen a dialogue to the rate at which such answers are
    # right. With calibrated probabilities the cut of least expected cost is where
    # answering and abstaining cost the same: answering costs (1 - p) * cost_wrong,
    # abstaining p * 1: answer when p > w / (1 + w).
    scored_out = out_of_fold(examples, seed=0, withheld_weight=withheld_weight)
    slope, offset = platt_scaling([s.logit for s in scored_out], [s.right for s in scored_out])
    if slope <= 0:
        raise SystemExit(
            f"the confidence does not rise with correctness on the {len(scored_out)} "
            f"dialogues scored out of fold (Platt slope {slope:.3f}): too few or too "
            "one-sided to choose a cut on"
        )
    confidence = LinearModel(
        fitted.confidence.names,
        fitted.confidence.mean,
        fitted.confidence.scale,
        fitted.confidence.coef * slope,
        fitted.confidence.bias * slope + offset,
    )
    cut = cost_wrong / (1.0 + cost_wrong)
    scored = [(float(sigmoid(slope * s.logit + offset)), s.right) for s in scored_out]
    info = {
        "trained_on": sources["train"] + sources["dev"],
        "shortlist_trained_on": sources["train"],
        "dialogues": sum(not e.withheld for e in examples),
        "withheld_readings": sum(e.withheld for e in examples),
        "withheld_weight": withheld_weight,
        "right_when_cross_fitted": fitted.right_when_cross_fitted,
        "cost": f"wrong answer {cost_wrong:g}, needless abstention 1",
        "cut": "w / (1 + w), w = cost of a wrong answer, on probabilities Platt-scaled "
        f"on every dialogue's confidence from models fitted without its fold ({FOLDS} folds)",
        "platt_out_of_fold": {"slope": round(slope, 6), "offset": round(offset, 6)},
        "out_of_fold_at_cut": cost_at(scored, cut, cost_wrong),
        "out_of_fold_least_cost_cut": choose_cut(scored, cost_wrong)[1],
        "command": "python scripts/train_reader.py (see its docstring)",
    }
    return ReaderWeights(shortlist, fitted.sentence, confidence, cut, info)


def cost_at(scored: list[tuple[float, bool]], cut: float, cost_wrong: float) -> dict:
    """What answering above `cut` costs on `scored` (probability, right)."""
    answered = [(p, r) for p, r in scored if p >= cut]
    wrong = sum(not r for _, r in answered)
    needless = sum(r for p, r in scored if p < cut)
    return {
        "cut": round(cut, 6),
        "cost": wrong * cost_wrong + needless,
        "answered": len(answered),
        "right_when_answered": len(answered) - wrong,
        "needless_abstentions": needless,
        "dialogues": len(scored),
    }


def choose_cut(scored: list[tuple[float, bool]], cost_wrong: float) -> tuple[float, dict]:
    """The confidence cut of least cost on `scored` (probability, right); midway between ties."""
    probabilities = sorted({round(p, 6) for p, _ in scored})
    # Candidate cuts: below everything, between neighbours, above everything.
    cuts = [0.0] + [(a + b) / 2 for a, b in itertools.pairwise(probabilities)] + [1.0]

    def cost(cut: float) -> float:
        return sum(
            (0.0 if right else cost_wrong) if p >= cut else (1.0 if right else 0.0)
            for p, right in scored
        )

    costs = [cost(c) for c in cuts]
    least = min(costs)
    best = [c for c, v in zip(cuts, costs, strict=True) if v == least]
    cut = best[len(best) // 2]
    return cut, cost_at(scored, cut, cost_wrong)


def pairs(values: list[str]) -> list[tuple[Path, Path]]:
    out = []
    for value in values:
        qa, _, store = value.partition("=")
        if not store:
            raise SystemExit(f"expected QA=STORE, got {value!r}")
        out.append((Path(qa), Path(store)))
    return out


def source_name(qa: Path) -> str:
    """A QA file named by folder and file only: where a maintainer keeps it is not data."""
    return f"{qa.parent.name}/{qa.name}"


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """--cost-wrong and --withheld-weight, as this script and the cross-validation take them."""
    parser.add_argument("--cost-wrong", type=float, default=2.0)
    parser.add_argument(
        "--withheld-weight",
        type=float,
        default=WITHHELD_WEIGHT,
        help="weight of questions read without their answer sentences (0: none)",
    )


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--train, --dev and --cache, as this script and scripts/cross_validate_reader.py take them."""
    parser.add_argument("--train", action="append", required=True, metavar="QA=STORE")
    parser.add_argument("--dev", action="append", required=True, metavar="QA=STORE")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep the collected features here and reuse them (delete it when a feature's "
        "code changes: only a change of feature names, of TERMS_VERSION or of "
        "COLLECTION_VERSION is noticed)",
    )


@dataclass
class Collected:
    """The fitted shortlist and the examples it keeps, of the train and dev dialogues."""

    shortlist: LinearModel
    recall: dict
    train: list[Example]
    dev: list[Example]
    features: tuple = ()  # COLLECTED_WITH when they were collected


# How the examples were collected: a --cache made otherwise is collected again. Raise
# COLLECTION_VERSION when what is collected changes without a feature's name changing
# (the commits that raised it say why).
COLLECTION_VERSION = 15
COLLECTED_WITH = (
    SHORTLIST_FEATURES,
    SENTENCE_FEATURES,
    CONFIDENCE_FEATURES,
    TERMS_VERSION,
    COLLECTION_VERSION,
)


def collect_all(args: argparse.Namespace) -> Collected:
    """Fit the shortlist on the train dialogues and collect the examples it keeps (or load
    them from `args.cache`)."""
    if args.cache is not None and args.cache.exists():
        cached = pickle.loads(args.cache.read_bytes())
        if isinstance(cached, Collected) and cached.features == COLLECTED_WITH:
            return cached
        print(f"{args.cache} was collected otherwise: collecting again", file=sys.stderr)
    shared: dict = {}
    first_train = [
        e for qa, store in pairs(args.train) for e in collect_shortlist(qa, store, shared)
    ]
    first_dev = [e for qa, store in pairs(args.dev) for e in collect_shortlist(qa, store, shared)]
    shortlist = fit_shortlist(first_train)
    recall = {
        "train": shortlist_recall(first_train, shortlist),
        "dev": shortlist_recall(first_dev, shortlist),
    }
    train = [
        e
        for qa, store in pairs(args.train)
        for e in collect(qa, store, shared, shortlist, withhold=True)
    ]
    dev = [
        e
        for qa, store in pairs(args.dev)
        for e in collect(qa, store, shared, shortlist, withhold=True)
    ]
    collected = Collected(shortlist, recall, train, dev, COLLECTED_WITH)
    if args.cache is not None:
        args.cache.write_bytes(pickle.dumps(collected))
    return collected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser)
    add_fit_arguments(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    data = collect_all(args)
    sources = {
        part: [source_name(qa) for qa, _ in pairs(values)]
        for part, values in (("train", args.train), ("dev", args.dev))
    }
    weights = fit(
        data.shortlist, data.train, data.dev, args.cost_wrong, sources, args.withheld_weight
    )
    weights.info["shortlist"] = {"keeps": MEANING_CANDIDATES, **data.recall}
    weights.dump(args.out)
    print(json.dumps(weights.info["out_of_fold_at_cut"]))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    # Run as the module it is, so the --cache file names its classes train_reader.*,
    # as scripts/cross_validate_reader.py imports them, not __main__.*.
    import train_reader

    train_reader.main()
