"""The RealTime QA week splits: fixed by the dates alone, and the check weeks apart from all."""

from __future__ import annotations

from conftest import load_script

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
