"""Turn RealTime QA 2024 weeks into corpora and QA files, split by week into train, dev, test.

The split was fixed before any result was looked at, and depends only on the dates:
- the quiz weeks (the date in the question id) are sorted by date and numbered 0..N-1;
- every 4th week is used (0, 4, 8, ...), to spread them over the year and keep
  indexing time in bounds; the others are left alone;
- of the used weeks, in date order, position p goes to test when p % 4 == 3, to dev
  when p % 4 == 2, and to train otherwise.
For the 52 weeks of 2024: train = weeks 0, 4, 16, 20, 32, 36, 48; dev = 8, 24, 40;
test = 12, 28, 44.

With --extra, more of the weeks left alone are used too (added after the first
results, to fit the reader on more questions; the test weeks are unchanged): each
week at least 2 weeks away from every test and dev week, so none shares articles
with them (a week's articles reach a week back). Of these, in date order, every
third (position 2, 5, ...) goes to dev, the others to train.

With --check, only the weeks beside the test and dev weeks are written, as a "check"
split: weeks no split uses, no --extra week among them (an --extra week is two or more
weeks from every test and dev week), for a held-out look at a reader fitted on the
train and dev weeks. Those next to a test week (11, 13, 27, 29, 43, 45) share articles
only with test weeks; those next to a dev week (7, 9, 23, 25, 39, 41) share some with
the dev weeks, which the reader is fitted on too. `--check test` or `--check dev`
picks one kind.

Each week is written exactly as `bench/realtimeqa_answers.py --write-dir` writes it
(articles chosen by date alone, questions kept when an article states their answer):
OUT/WEEK/corpus/*.md and OUT/WEEK/questions.jsonl, plus OUT/split.json naming the weeks
of each split. With --index, each week is also indexed into OUT/WEEK/store, as
`storybot index --corpus OUT/WEEK/corpus --store OUT/WEEK/store` would.

    python scripts/realtimeqa_split.py --out /tmp/rtqa [--index] [--only train]
    python scripts/realtimeqa_split.py --out /tmp/rtqa_check --check test [--index]

OUT must lie outside the repository: the data is never copied into it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # the bench scripts import their helpers by name

from realtimeqa_answers import (  # noqa: E402
    DATA,
    answerable,
    first_weeks,
    load_news,
    load_questions,
    news_window,
    outside_repo,
    quiet_logs,
    select_articles,
    write_week,
)

WEEK_STRIDE = 4
# A week's news window starts a week before its questions: weeks this close share articles.
SHARED_ARTICLES_WITHIN = 1


def split_of(position: int) -> str:
    """train, dev or test for the `position`-th used week (date order)."""
    if position % 4 == 3:
        return "test"
    return "dev" if position % 4 == 2 else "train"


def extra_weeks(count: int, held_out: list[int]) -> dict[str, list[int]]:
    """Week numbers (of `count`) not used by the stride, far from the `held_out` ones."""
    far = [
        week
        for week in range(count)
        if week % WEEK_STRIDE
        and all(abs(week - other) > SHARED_ARTICLES_WITHIN for other in held_out)
    ]
    return {
        "train": [w for p, w in enumerate(far) if p % 3 != 2],
        "dev": [w for p, w in enumerate(far) if p % 3 == 2],
    }


def check_weeks(parts: dict[int, str], beside: str) -> list[int]:
    """The weeks next to the `beside` ("test" or "dev") weeks of `parts`, used by no split."""
    return sorted(
        {
            week + step
            for week, part in parts.items()
            if part == beside
            for step in (-SHARED_ARTICLES_WITHIN, SHARED_ARTICLES_WITHIN)
        }
        - set(parts)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-articles", type=int, default=300)
    parser.add_argument("--index", action="store_true", help="also index each week")
    parser.add_argument("--only", choices=("train", "dev", "test", "check"), default=None)
    parser.add_argument("--extra", action="store_true", help="also the extra train/dev weeks")
    parser.add_argument(
        "--check",
        choices=("test", "dev"),
        default=None,
        help="write only the weeks next to the test (or dev) weeks, as the check split",
    )
    args = parser.parse_args()
    quiet_logs()
    out = outside_repo(args.out)
    questions = load_questions(args.data / "questions.jsonl")
    every_week = first_weeks(questions, 10_000)
    parts = {
        number: split_of(number // WEEK_STRIDE) for number in range(0, len(every_week), WEEK_STRIDE)
    }
    if args.check:
        parts = dict.fromkeys(check_weeks(parts, args.check), "check")
    elif args.extra:
        held_out = [number for number, part in parts.items() if part != "train"]
        for part, numbers in extra_weeks(len(every_week), held_out).items():
            parts |= dict.fromkeys(numbers, part)
    weeks = [(every_week[number], part) for number, part in sorted(parts.items())]
    news = load_news(args.data / "articles.jsonl.gz")
    splits: dict[str, list[str]] = {"train": [], "dev": [], "test": [], "check": []}
    for (week, _), part in weeks:
        splits[part].append(week.isoformat())
    out.mkdir(parents=True, exist_ok=True)
    (out / "split.json").write_text(json.dumps(splits, indent=2) + "\n", encoding="utf-8")
    for (week, week_questions), part in weeks:
        if args.only and part != args.only:
            continue
        folder = out / week.isoformat()
        selection = select_articles(
            news, news_window(week, week_questions), week_questions, args.max_articles
        )
        asked = answerable(week_questions, selection.articles)
        write_week(folder, selection.articles, asked)
        print(f"{part} {week}: {len(selection.articles)} articles, {len(asked)} questions")
        if args.index:
            index_week(folder)


def index_week(folder: Path) -> None:
    from bot.settings import BotSettings
    from index.articles import load_corpus
    from index.indexer import run_index

    settings = BotSettings(store_dir=folder / "store", corpus_dir=folder / "corpus")
    run_index(settings, load_corpus(folder / "corpus"))


if __name__ == "__main__":
    main()
