"""The arithmetic of `storybot eval` on small hand-made cases, and reading QA files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from constants import DATA, DEMO_QUESTION, DEV_FILE, FIRST_QUESTION, FOLLOW_UP, STORY

from bot.errors import EvalFileError
from bot.evaluation import (
    NOT_AVAILABLE,
    Dialogue,
    DialogueResult,
    check_thresholds,
    fact_in,
    facts_cited,
    facts_found,
    load_dialogues,
    percentile,
    render_failures,
    render_table,
    retrieval_rank,
    summarise,
)


def single(*facts: str, mode: str = "all") -> Dialogue:
    return Dialogue((DEMO_QUESTION,), tuple(facts), mode, True, 1)


def followup(*facts: str) -> Dialogue:
    return Dialogue((FIRST_QUESTION, FOLLOW_UP), facts, "all")


OUT = Dialogue(("Who is the Prime Minister of France?",), in_scope=False)


def result(
    dialogue: Dialogue,
    answer: str = "",
    quotes: tuple[str, ...] | None = None,
    *,
    abstained: bool = False,
    rank: int | None = 1,
    latencies: tuple[float, ...] = (10.0,),
) -> DialogueResult:
    """A judged dialogue; by default the answer is its own (only) quote."""
    quotes = (answer,) if quotes is None else quotes
    return DialogueResult(dialogue, answer, abstained, quotes, rank, latencies_ms=latencies)


# ---------------------------------------------------------------- judging


def test_facts_found_all_and_any_modes_ignore_case() -> None:
    text = "The groups were proscribed on July 20 by the NEC."

    assert facts_found(text, ["july 20", "NEC"], "all")
    assert not facts_found(text, ["July 20", "Twitter"], "all")
    assert facts_found(text, ["Twitter", "JULY 20"], "any")
    assert not facts_found(text, ["Twitter", "Facebook"], "any")


def test_facts_are_whole_words_with_quotes_and_spacing_unified() -> None:
    assert facts_found("Ken Loach, 85, said", ["85"], "all")
    assert not facts_found("a film made in 1985", ["85"], "all")
    assert not facts_found("Iranian officials", ["Iran"], "all")
    assert facts_found("the party’s  ruling\ncommittee", ["party's ruling committee"], "all")
    assert facts_found("the group Resist, one of four", ['"Resist".'], "all")


def test_no_facts_are_never_found() -> None:
    assert not facts_found("anything", [], "all")
    assert not facts_found("anything", [], "any")
    assert not facts_cited(["anything"], [], "any")


def test_facts_cited_each_fact_in_some_quote() -> None:
    quotes = ["Resist and Socialist Appeal were proscribed.", "So was Labour in Exile Network."]

    assert facts_cited(quotes, ["Resist", "Labour in Exile Network"], "all")
    assert not facts_cited(quotes, ["Resist", "Labour Against the Witchhunt"], "all")
    assert facts_cited(quotes, ["Labour Against the Witchhunt", "Resist"], "any")
    assert not facts_cited([], ["Resist"], "any")


def test_retrieval_rank_is_the_first_chunk_holding_the_facts() -> None:
    chunks = ["nothing here", "July 20, the NEC met", "July 20 again"]

    assert retrieval_rank(chunks, ["July 20"], "all") == 2
    assert retrieval_rank(chunks, ["July 20", "nine-hour"], "all") is None
    assert retrieval_rank(chunks, ["nine-hour", "NEC"], "any") == 2
    assert retrieval_rank([], ["July 20"], "all") is None


def test_right_answer_without_the_fact_in_a_cited_quote() -> None:
    """Counts for accuracy, not for citation precision."""
    grounded = result(single("July 20"), "It was on July 20 [1]", ("It was on July 20",))
    ungrounded = result(
        single("July 20"), "It was on July 20 [1]", ("The NEC met in a nine-hour session.",)
    )

    assert grounded.correct and grounded.cited
    assert ungrounded.correct and not ungrounded.cited
    assert ungrounded.problem() == "right answer, but the facts are not in a cited quote"
    assert ungrounded.problem(cites=False) is None

    report = summarise([grounded, ungrounded], k=5)

    assert (report.accuracy.hits, report.accuracy.total) == (2, 2)
    assert (report.citation_precision.hits, report.citation_precision.total) == (1, 2)
    assert report.citation_precision.value == 0.5
    assert [why for _, why in report.failures()] == [ungrounded.problem()]


def test_citation_precision_counts_only_correct_answers() -> None:
    wrong_but_quoted = result(single("July 20"), "late July [1]", ("proscribed on July 20",))
    abstained = result(single("July 20"), "The articles don't say.", (), abstained=True)
    right = result(single("July 20"), "on July 20 [1]")

    report = summarise([wrong_but_quoted, abstained, right], k=5)

    assert not wrong_but_quoted.correct and wrong_but_quoted.cited
    assert (report.accuracy.hits, report.accuracy.total) == (1, 3)
    assert (report.citation_precision.hits, report.citation_precision.total) == (1, 1)
    assert (report.false_abstention.hits, report.false_abstention.total) == (1, 3)


def test_citation_precision_in_all_and_any_modes() -> None:
    all_mode = single("Resist", "Socialist Appeal")
    any_mode = single("Resist", "Socialist Appeal", mode="any")
    answer = "Resist and Socialist Appeal [1][2]"
    one_quote = ("Resist was proscribed",)

    assert result(all_mode, answer, ("Resist was", "Socialist Appeal too")).cited
    assert not result(all_mode, answer, one_quote).cited
    assert result(any_mode, answer, one_quote).cited
    assert result(any_mode, "Socialist Appeal", ("Socialist Appeal",)).correct


def test_abstention_and_answers_where_it_should_abstain() -> None:
    results = [
        result(OUT, "The articles don't say.", (), abstained=True, rank=None),
        result(OUT, "Emmanuel Macron [1]", rank=None),
        result(single("July 20"), "July 20 [1]"),
    ]

    report = summarise(results, k=5)

    assert report.counts == {"single": 1, "followup": 0, "out": 2}
    assert (report.abstention.hits, report.abstention.total) == (1, 2)
    assert (report.answered_out_of_scope.hits, report.answered_out_of_scope.total) == (1, 2)
    assert report.accuracy.value == 1.0
    # Out-of-scope dialogues are no part of retrieval or citation figures.
    assert report.hit_at_k.total == 1
    assert report.citation_precision.total == 1
    assert [why for _, why in report.failures()] == ["answered where it should have abstained"]


def test_single_turn_follow_up_and_combined_accuracy() -> None:
    results = [
        result(single("July 20"), "July 20"),
        result(single("July 20"), "late July"),
        result(followup("July 20"), "on July 20"),
        result(followup("July 20"), "The articles don't say.", abstained=True),
    ]

    report = summarise(results, k=5)

    assert (report.single_accuracy.hits, report.single_accuracy.total) == (1, 2)
    assert (report.followup_accuracy.hits, report.followup_accuracy.total) == (1, 2)
    assert (report.accuracy.hits, report.accuracy.total) == (2, 4)


def test_hit_at_k_and_mrr() -> None:
    ranks = [1, 2, None, 4]
    results = [result(single("July 20"), "July 20", rank=r) for r in ranks]
    unmeasured = DialogueResult(single("July 20"), "July 20", False, ("July 20",), None, False)

    report = summarise([*results, unmeasured], k=5)

    assert (report.hit_at_k.hits, report.hit_at_k.total) == (3, 4)
    assert report.mrr == pytest.approx((1 + 1 / 2 + 0 + 1 / 4) / 4)
    assert report.mrr_total == 4
    # A rank beyond k is a miss.
    deep = summarise(results, k=3)
    assert deep.hit_at_k.hits == 2
    assert deep.mrr == pytest.approx((1 + 1 / 2) / 4)


def test_latency_percentiles_over_every_turn() -> None:
    results = [
        result(single("x"), "x", latencies=(10.0,)),
        result(followup("x"), "x", latencies=(20.0, 30.0)),
        result(OUT, "", abstained=True, latencies=(40.0,)),
    ]

    report = summarise(results, k=5)

    assert report.latency_n == 4
    assert report.latency_p50_ms == pytest.approx(25.0)
    assert report.latency_p95_ms == pytest.approx(38.5)


@pytest.mark.parametrize(
    "values", [[5.0], [1.0, 2.0], [3.0, 1.0, 2.0, 10.0], [float(v) for v in range(1, 23)]]
)
@pytest.mark.parametrize("q", [0, 50, 95, 100])
def test_percentile_agrees_with_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_empty_groups_are_not_available_never_a_division_by_zero() -> None:
    only_out = summarise([result(OUT, "no", (), abstained=True, rank=None)], k=5)
    nothing = summarise([], k=5)

    for report in (only_out, nothing):
        assert report.accuracy.value is None
        assert report.followup_accuracy.value is None
        assert report.citation_precision.value is None
        assert report.hit_at_k.value is None
        assert report.mrr is None
        json.dumps(report.to_json())
        assert NOT_AVAILABLE in render_table([report])
    assert nothing.latency_p50_ms is None
    assert nothing.median_answer_chars is None
    assert only_out.abstention.value == 1.0


def test_json_table_and_failures() -> None:
    results = [
        result(single("July 20"), "July 20 [1]", rank=1),
        result(single("nine-hour"), "a long meeting [1]", rank=None),
        result(OUT, "The articles don't say.", (), abstained=True, rank=None),
    ]
    ours = summarise(results, k=5)
    theirs = summarise(results, k=5, name="baseline", cites=False)

    data = json.loads(json.dumps(ours.to_json()))
    assert data["accuracy"] == {"value": 0.5, "hits": 1, "total": 2}
    assert data["mrr"] == {"value": 0.5, "total": 2}
    assert data["latency_ms"]["n"] == 3
    assert [f["problem"] for f in data["failures"]] == ["wrong answer"]
    assert theirs.to_json()["citation_precision"] is None

    table = render_table([ours, theirs])
    assert "storybot" in table.splitlines()[0] and "baseline" in table.splitlines()[0]
    for label in ("answer accuracy", "citation precision", "abstention", "hit@5", "MRR@5"):
        assert label in table
    assert "(no citations)" in table
    failures = render_failures(ours)
    assert "1 of 3" in failures
    assert "expected: nine-hour" in failures
    assert "a long meeting" in failures


def test_thresholds() -> None:
    report = summarise(
        [
            result(single("x"), "x"),
            result(single("x"), "y"),
            result(OUT, "z", (), abstained=True, rank=None),
        ],
        k=5,
    )

    met, missed = check_thresholds(report, 0.5, 1.0), check_thresholds(report, 0.51, None)

    assert [t.passed for t in met] == [True, True]
    assert [t.passed for t in missed] == [False]
    assert "MISSED" in missed[0].describe()
    assert check_thresholds(report, None, None) == []
    no_out = summarise([result(single("x"), "x")], k=5)
    assert not check_thresholds(no_out, None, 0.0)[0].passed  # nothing to measure


# ---------------------------------------------------------------- QA files


def test_dev_file_loads() -> None:
    dialogues = load_dialogues(DEV_FILE)

    assert len(dialogues) == 20
    kinds = [d.kind for d in dialogues]
    assert (kinds.count("single"), kinds.count("followup"), kinds.count("out")) == (15, 2, 3)
    assert dialogues[0].facts == ("July 20",) and dialogues[0].mode == "all"
    assert dialogues[9].mode == "any" and dialogues[9].line == 10


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = '{"turns": ["Q?"], "expect_all": ["A"]}'


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"turns": ["Q?"], "expect_all": ["A"]', "not valid JSON"),
        ('["Q?"]', "expected a JSON object"),
        ('{"expect_all": ["A"]}', '"turns" is missing'),
        ('{"turns": [], "expect_all": ["A"]}', '"turns" is missing'),
        ('{"turns": "Q?", "expect_all": ["A"]}', '"turns" must be a list'),
        ('{"turns": ["Q?", 3], "expect_all": ["A"]}', '"turns" must be a list'),
        ('{"turns": ["Q?"], "expect_all": "A"}', '"expect_all" must be a list'),
        ('{"turns": ["Q?"], "expect_any": [""]}', '"expect_any" must be a list'),
        ('{"turns": ["Q?"]}', "exactly one of"),
        ('{"turns": ["Q?"], "expect_all": ["A"], "expect_any": ["B"]}', "exactly one of"),
        ('{"turns": ["Q?"], "in_scope": "no"}', '"in_scope" must be true or false'),
        ('{"turns": ["Q?"], "in_scope": false, "expect_all": ["A"]}', "expects no facts"),
        ('{"turns": ["Q?"], "expect_al": ["A"]}', "unknown key(s) expect_al"),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path: Path, bad: str, message: str) -> None:
    path = write(tmp_path, GOOD, "", bad, GOOD)

    with pytest.raises(EvalFileError) as error:
        load_dialogues(path)

    assert str(error.value).startswith(f"{path}:3: ")
    assert message in str(error.value)


def test_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EvalFileError, match="cannot read"):
        load_dialogues(tmp_path / "nope.jsonl")
    with pytest.raises(EvalFileError, match="no dialogues"):
        load_dialogues(write(tmp_path, "", "  "))


def test_blank_lines_keep_line_numbers_and_ids_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "",
        '{"id": "q7", "turns": [" Q? "], "expect_any": ["A", "B"]}',
        '{"turns": ["Out?"], "in_scope": false}',
    )

    first, second = load_dialogues(path)

    assert (first.line, first.id, first.turns, first.mode) == (2, "q7", ("Q?",), "any")
    assert first.expected() == "A OR B"
    assert (second.line, second.kind, second.expected()) == (3, "out", "(abstain)")


@pytest.mark.parametrize("qa_file", sorted(DATA.glob("story_*.jsonl")), ids=lambda p: p.name)
def test_every_story_qa_file_loads_and_asks_only_facts_the_article_states(qa_file: Path) -> None:
    article = STORY.read_text(encoding="utf-8")
    dialogues = load_dialogues(qa_file)
    assert dialogues
    for dialogue in dialogues:
        for fact in dialogue.facts:
            assert fact_in(article, fact), (qa_file.name, dialogue.turns[-1], fact)
