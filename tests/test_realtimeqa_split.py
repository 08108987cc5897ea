"""The RealTime QA week splits (fixed by the dates alone, the check weeks apart from all) and
the news articles of the news QA files (in no week)."""

from __future__ import annotations

import json

import pytest
from conftest import load_script
from constants import DATA

from bot.evaluation import load_dialogues
from bot.evaluation.judging import fact_in

WEEKS = 52  # the quiz weeks of 2024


def parts(split) -> dict[int, str]:
    return {n: split.split_of(n // split.WEEK_STRIDE) for n in range(0, WEEKS, split.WEEK_STRIDE)}


def test_the_stride_split_is_the_documented_one() -> None:
    split = load_script("realtimeqa_split")
    by_part = {p: [n for n, q in parts(split).items() if q == p] for p in ("train", "dev", "test")}
    assert by_part == {
        "train": [0, 4, 16, 20, 32, 36, 48],
        "dev": [8, 24, 40],
        "test": [12, 28, 44],
    }


def test_check_weeks_are_beside_test_or_dev_and_in_no_other_split() -> None:
    split = load_script("realtimeqa_split")
    used = parts(split)
    beside_test = split.check_weeks(used, "test")
    beside_dev = split.check_weeks(used, "dev")
    assert beside_test == [11, 13, 27, 29, 43, 45]
    assert beside_dev == [7, 9, 23, 25, 39, 41]
    extra = split.extra_weeks(WEEKS, [n for n, p in used.items() if p != "train"])
    others = set(used) | set(extra["train"]) | set(extra["dev"])
    assert not (set(beside_test) | set(beside_dev)) & others


def test_the_news_dev_articles_are_in_no_quiz_week_and_state_every_fact() -> None:
    # Each news QA file asks about one article of ../shared, published before 2024 so
    # that no 2024 quiz week (which reads a week or so of articles) holds it.
    news = load_script("news_articles")
    manifest = json.loads(news.MANIFEST.read_text(encoding="utf-8"))
    assert sorted(manifest) == sorted(p.name for p in DATA.glob("news_dev_*.jsonl"))
    data = news.DATA / "articles.jsonl.gz"
    if not data.is_file():
        pytest.skip(f"{data} is not here")
    by_url = {item.url: item for item in news.load_news(data)}
    for qa_name, url in manifest.items():
        item = by_url[url]
        assert item.published is not None and item.published.year < 2024, qa_name
        article = news.to_article(item)
        for dialogue in load_dialogues(DATA / qa_name):
            for fact in dialogue.facts:
                assert fact_in(article.text, fact), (qa_name, dialogue.id, fact)
