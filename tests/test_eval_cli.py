"""`storybot eval` through the real CLI on a real store of the story and the dev dialogues."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from constants import CORPUS, DEV_FILE
from typer.testing import CliRunner

from bot.cli.app import app

METRIC_LABELS = (
    "answer accuracy (in scope)",
    "single-turn",
    "follow-up",
    "citation precision",
    "abstention (out of scope)",
    "answered where it should abstain",
    "false abstention (in scope)",
    "retrieval hit@5",
    "retrieval MRR@5",
    "latency p50 (ms)",
    "latency p95 (ms)",
)


@pytest.fixture(scope="module")
def store(indexed_story: Path) -> Path:
    return indexed_story


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    return tmp_path / "memory.sqlite3"


@pytest.fixture
def run(store: Path, memory: Path):
    """`storybot eval ARGS --store STORE`, extractive (no key), with a user memory file set."""
    runner = CliRunner()
    env = {"STORYBOT_MEMORY": str(memory), "ANONYMIZED_TELEMETRY": "False"}

    def invoke(*args: str):
        return runner.invoke(app, ["eval", *args, "--store", str(store)], env=env)

    return invoke


def test_table_names_every_metric_and_lists_the_misses(run, memory: Path) -> None:
    result = run(str(DEV_FILE))

    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    assert "20 dialogues (15 single-turn, 2 follow-up, 3 out of scope)" in out
    assert "answers extractive" in out
    for label in METRIC_LABELS:
        assert label in out, label
    assert "storybot" in out.splitlines()[3]
    assert "baseline" not in out
    # The misses: which line, what was expected, what it said.
    assert "dialogues need a look" in out
    assert "expected:" in out and "answered:" in out
    assert "thresholds" not in out
    # Evaluation keeps its conversations out of the user's memory file.
    assert not memory.exists()


def test_json_with_thresholds_met(run) -> None:
    result = run(str(DEV_FILE), "--json", "--min-accuracy", "0.8", "--min-abstention", "1.0")

    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads(result.stdout)
    for key in (
        "accuracy",
        "single_turn_accuracy",
        "followup_accuracy",
        "citation_precision",
        "abstention",
        "answered_out_of_scope",
        "false_abstention",
        "hit_at_k",
        "mrr",
        "latency_ms",
        "failures",
        "thresholds",
    ):
        assert key in data, key
    assert data["dialogues"] == {"single": 15, "followup": 2, "out": 3}
    assert data["k"] == 5
    assert data["accuracy"]["total"] == 17
    assert data["accuracy"]["value"] >= 0.8
    assert data["abstention"] == {"value": 1.0, "hits": 3, "total": 3}
    assert data["answered_out_of_scope"]["hits"] == 0
    assert data["followup_accuracy"]["total"] == 2
    assert 0 < data["mrr"]["value"] <= 1
    assert data["latency_ms"]["n"] == 22  # every turn of every dialogue
    assert data["latency_ms"]["p50"] <= data["latency_ms"]["p95"]
    assert {f["line"] for f in data["failures"]} <= set(range(1, 21))
    assert [t["passed"] for t in data["thresholds"]] == [True, True]
    assert data["passed"] is True
    assert "baseline" not in data


def test_missed_threshold_exits_1(run) -> None:
    result = run(str(DEV_FILE), "--min-accuracy", "1.0", "--k", "3")

    assert result.exit_code == 1, (result.output, result.exception)
    assert "retrieval hit@3" in result.stdout
    assert "quality gate missed" in result.stderr
    assert "--min-accuracy 100.0%" in result.stderr


def test_threshold_outside_0_to_1_is_bad_input(run) -> None:
    result = run(str(DEV_FILE), "--min-accuracy", "1.01")

    assert result.exit_code == 2
    assert "--min-accuracy" in result.output


def test_baseline_prints_both_columns(run) -> None:
    result = run(str(DEV_FILE), "--baseline", "--corpus", str(CORPUS))

    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout
    header = next(line for line in out.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "storybot", "baseline"]
    assert "SentenceSplitter(128, 20)" in out
    assert "(no citations)" in out
    abstention = next(line for line in out.splitlines() if line.startswith("abstention"))
    assert abstention.split()[-2:] == ["0.0%", "(0/3)"]  # the baseline never abstains
    assert "baseline:" in out  # its misses are listed too


def test_baseline_json(run) -> None:
    result = run(str(DEV_FILE), "--json", "--baseline", "--corpus", str(CORPUS))

    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads(result.stdout)
    assert data["baseline"]["system"] == "baseline"
    assert data["baseline"]["citation_precision"] is None
    assert data["baseline"]["abstention"]["hits"] == 0
    assert data["baseline"]["latency_ms"]["n"] == 20  # one question per dialogue


def test_bad_line_exits_2_naming_the_line(run, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"turns": ["How old is Ken Loach?"], "expect_all": ["85"]}\n{"turns": ["Q?"]\n')

    result = run(str(qa))

    assert result.exit_code == 2
    assert f"{qa}:2: not valid JSON" in result.stderr
    assert result.stdout == ""


def test_missing_store_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", str(DEV_FILE), "--store", str(tmp_path / "nothing")], env={}
    )

    assert result.exit_code == 2
    assert "storybot index" in result.stderr


def test_bad_baseline_corpus_exits_2(run, tmp_path: Path) -> None:
    result = run(str(DEV_FILE), "--baseline", "--corpus", str(tmp_path / "no-corpus"))

    assert result.exit_code == 2
    assert "corpus folder does not exist" in result.stderr


def test_baseline_on_another_corpus_warns(run, corpus: Path) -> None:
    result = run(str(DEV_FILE), "--baseline", "--corpus", str(corpus), "--json")

    assert result.exit_code == 0, (result.output, result.exception)
    assert "warning: the store's articles are not those of" in result.stderr
    assert json.loads(result.stdout)["baseline"]["system"] == "baseline"


def test_invalid_settings_exit_2(store: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", str(DEV_FILE), "--store", str(store)], env={"STORYBOT_TOP_K": "0"}
    )

    assert result.exit_code == 2
    assert "settings are invalid" in result.stderr
