"""`storybot index` and `storybot search` through the real command line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    generation_names,
    live_chunks,
    live_generation,
    make_settings,
    write_corpus,
)
from constants import (
    ALLOTMENT_URL,
    DEMO_QUESTION,
    ENV_PREFIXES,
    LIGHTHOUSE_ID,
    LIGHTHOUSE_TXT,
    STORY_ID,
)
from filelock import FileLock
from typer.testing import CliRunner

from bot.cli.app import app
from index.articles import load_corpus
from index.indexer import run_index
from index.store import lock_path

ALL_IDS = {STORY_ID, ALLOTMENT_URL, LIGHTHOUSE_ID}
SUMMARY = re.compile(
    r"^(?P<added>\d+) added, (?P<updated>\d+) updated, (?P<removed>\d+) removed, "
    r"(?P<unchanged>\d+) unchanged; (?P<chunks>\d+) chunks; \d+\.\d s$"
)
STORYBOT = Path(sys.executable).parent / "storybot"

runner = CliRunner()


def storybot(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def summary_of(result) -> dict[str, int]:
    lines = result.stdout.strip().splitlines()
    assert lines, result.output
    match = SUMMARY.match(lines[-1])
    assert match, f"not a summary line: {lines[-1]!r}"
    return {k: int(v) for k, v in match.groupdict().items()}


@dataclass
class Indexed:
    """A store indexed once, for tests that must leave it as it is."""

    corpus: Path
    store: Path
    generation: str
    chunks: list[dict]

    @property
    def settings(self):
        return make_settings(self.corpus, self.store)

    def assert_untouched(self) -> None:
        assert live_generation(self.settings).name == self.generation
        assert generation_names(self.settings) == {self.generation}
        assert live_chunks(self.settings) == self.chunks


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    root = tmp_path_factory.mktemp("indexed")
    settings = make_settings(write_corpus(root / "corpus"), root / "store")
    report = run_index(settings, load_corpus(settings.corpus_dir))
    return Indexed(
        settings.corpus_dir, settings.store_dir, report.generation, live_chunks(settings)
    )


# ---------------------------------------------------------------- index


def test_index_prints_summary_line(corpus: Path, store_dir: Path) -> None:
    first = storybot("index", "--corpus", corpus, "--store", store_dir)
    assert first.exit_code == 0, first.output
    counts = summary_of(first)
    assert counts["added"] == 3
    assert counts["updated"] == counts["removed"] == counts["unchanged"] == 0
    settings = make_settings(corpus, store_dir)
    assert counts["chunks"] == len(live_chunks(settings)) > 3
    generation = live_generation(settings).name

    again = storybot("index", "--corpus", corpus, "--store", store_dir)
    assert again.exit_code == 0, again.output
    assert summary_of(again) == {**counts, "added": 0, "unchanged": 3}
    assert live_generation(settings).name == generation

    (corpus / "allotment.md").unlink()
    (corpus / LIGHTHOUSE_ID).write_text("Lighthouse\nA different body.\n", encoding="utf-8")
    (corpus / "new.txt").write_text("New\nA new article.\n", encoding="utf-8")
    changed = storybot("index", "--corpus", corpus, "--store", store_dir)
    assert changed.exit_code == 0, changed.output
    counts = summary_of(changed)
    assert [counts[k] for k in ("added", "updated", "removed", "unchanged")] == [1, 1, 1, 1]
    assert counts["chunks"] == len(live_chunks(settings))
    assert live_generation(settings).name != generation


def test_dry_run_on_absent_store_lists_additions_and_writes_nothing(
    corpus: Path, store_dir: Path
) -> None:
    result = storybot("index", "--corpus", corpus, "--store", store_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert {line for line in lines if line.startswith("would ")} == {
        f"would add: {doc_id}" for doc_id in ALL_IDS
    }
    assert lines[-1] == "dry run: 3 added, 0 updated, 0 removed, 0 unchanged; nothing written"
    assert not store_dir.exists()


def test_dry_run_on_existing_store_lists_changes_and_writes_nothing(
    indexed: Indexed, tmp_path: Path
) -> None:
    # The indexed corpus, edited in a copy: one deleted, one changed, one added.
    corpus = write_corpus(tmp_path / "corpus")
    (corpus / "allotment.md").unlink()
    (corpus / LIGHTHOUSE_ID).write_text("Lighthouse\nA different body.\n", encoding="utf-8")
    (corpus / "new.txt").write_text("New\nA new article.\n", encoding="utf-8")
    result = storybot("index", "--corpus", corpus, "--store", indexed.store, "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert {line for line in lines if line.startswith("would ")} == {
        "would add: new.txt",
        f"would update: {LIGHTHOUSE_ID}",
        f"would remove: {ALLOTMENT_URL}",
    }
    assert lines[-1] == "dry run: 1 added, 1 updated, 1 removed, 1 unchanged; nothing written"
    indexed.assert_untouched()


# ---------------------------------------------------------------- bad input

BAD_FILES = [
    pytest.param("empty.md", b"", "empty", id="empty-file"),
    pytest.param("blank.txt", b" \n\t\n", "empty", id="whitespace-only"),
    pytest.param("binary.md", b"---\ntitle: T\n---\nab\0cd", "binary", id="binary-nul"),
    pytest.param("latin1.txt", b"Menu\ncaf\xe9\n", "UTF-8", id="not-utf8"),
    pytest.param("yaml.md", b"---\ntitle: [oops\n---\nBody.\n", "front matter", id="broken-yaml"),
    pytest.param("open.md", b"---\ntitle: T\n\nBody.\n", "not closed", id="unclosed-front-matter"),
    pytest.param("untitled.md", b"---\noutlet: X\n---\nBody.\n", "title", id="no-title"),
    pytest.param("plain.md", b"Only text.\n", "front matter", id="md-without-front-matter"),
    pytest.param(
        "date.md", b"---\ntitle: T\npublished: last week\n---\nB.\n", "published", id="bad-date"
    ),
    pytest.param(
        "date2.md",
        b"---\ntitle: T\npublished: 2021-02-30\n---\nB.\n",
        "published",
        id="impossible-date",
    ),
]


@pytest.mark.parametrize("dry_run", [False, True], ids=["index", "dry-run"])
@pytest.mark.parametrize(("name", "content", "problem"), BAD_FILES)
def test_bad_file_exits_2_naming_it_and_keeps_the_store(
    indexed: Indexed, tmp_path: Path, name: str, content: bytes, problem: str, dry_run: bool
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    bad = corpus / name
    bad.write_bytes(content)
    args = ["index", "--corpus", corpus, "--store", indexed.store]
    result = storybot(*args, *(["--dry-run"] if dry_run else []))
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "store is unchanged" in result.stderr
    problems = [line.strip() for line in result.stderr.splitlines() if str(bad) in line]
    assert len(problems) == 1, result.stderr
    assert problem.lower() in problems[0].lower()
    assert result.stdout == ""
    indexed.assert_untouched()


def test_several_bad_files_are_all_reported(indexed: Indexed, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    bad = [corpus / "a.md", corpus / "b.txt", corpus / "c.md"]
    bad[0].write_bytes(b"")
    bad[1].write_bytes(b"T\ncaf\xe9")
    bad[2].write_bytes(b"---\noutlet: X\n---\nBody.\n")
    result = storybot("index", "--corpus", corpus, "--store", indexed.store)
    assert result.exit_code == 2, result.output
    for path in bad:
        assert str(path) in result.stderr
    indexed.assert_untouched()


@pytest.mark.parametrize("kind", ["empty", "missing"])
def test_empty_or_missing_corpus_exits_2(indexed: Indexed, tmp_path: Path, kind: str) -> None:
    corpus = tmp_path / "corpus"
    if kind == "empty":
        corpus.mkdir()
        (corpus / "README.md").write_text("# nothing here yet\n")
    result = storybot("index", "--corpus", corpus, "--store", indexed.store)
    assert result.exit_code == 2, result.output
    assert str(corpus) in result.stderr
    assert ("no .md or .txt articles" if kind == "empty" else "does not exist") in result.stderr
    indexed.assert_untouched()


# ---------------------------------------------------------------- one writer at a time


def test_second_writer_exits_3_while_the_lock_is_held(corpus: Path, store_dir: Path) -> None:
    settings = make_settings(corpus, store_dir)
    with FileLock(lock_path(settings)):
        result = storybot("index", "--corpus", corpus, "--store", store_dir)
        assert result.exit_code == 3, result.output
        assert "another `storybot index`" in result.stderr
        waited = storybot("index", "--corpus", corpus, "--store", store_dir, "--wait", "0.3")
        assert waited.exit_code == 3, waited.output
        assert "another `storybot index`" in waited.stderr
    assert live_generation(settings) is None


@pytest.mark.skipif(not STORYBOT.exists(), reason="the storybot script is not installed")
def test_two_concurrent_processes_take_turns(
    corpus: Path, store_dir: Path, isolated_env: Path
) -> None:
    """Two real `storybot index` processes on one fresh store, started together.

    Whichever gets the lock first builds the index; the other waits for it and
    then finds every article unchanged. Without the lock both would read the
    empty store and both would build.
    """
    command = [str(STORYBOT), "index", "--corpus", str(corpus), "--store", str(store_dir)]
    processes = [
        subprocess.Popen(
            [*command, "--wait", "120"],
            cwd=isolated_env,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs

    matches = [SUMMARY.match(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(matches), outputs
    counts = sorted((int(m["added"]), int(m["unchanged"]), int(m["chunks"])) for m in matches)
    chunks = counts[0][2]
    assert counts == [(0, 3, chunks), (3, 0, chunks)], outputs
    settings = make_settings(corpus, store_dir)
    assert generation_names(settings) == {live_generation(settings).name}
    assert len(live_chunks(settings)) == chunks


# ---------------------------------------------------------------- model mismatch


def test_model_mismatch_exits_2_with_rebuild_hint(
    indexed: Indexed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYBOT_EMBED_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    base = ["--store", indexed.store]
    for args in (
        ["index", "--corpus", indexed.corpus, *base],
        ["index", "--corpus", indexed.corpus, *base, "--dry-run"],
        ["search", DEMO_QUESTION, *base],
    ):
        result = storybot(*args)
        assert result.exit_code == 2, (args, result.output, result.exception)
        assert "storybot index --rebuild" in result.stderr, args
        assert result.stdout == ""
    indexed.assert_untouched()


# ---------------------------------------------------------------- search


def test_search_prints_ranked_passages(indexed: Indexed) -> None:
    query = "Why did the allotment society ban tomatoes?"
    result = storybot("search", query, "--store", indexed.store, "--top-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    headers = [line for line in lines if re.match(r"^\[\d+\] ", line)]
    assert [h.split("]")[0] for h in headers] == ["[1", "[2"]
    assert headers[0] == (
        "[1] Allotment society bans tomato growing after blight outbreak (2019-06-03)"
    )
    first_passage = lines[lines.index(headers[0]) + 1]
    assert first_passage.startswith("    ")
    assert "banned tomato growing" in first_passage

    undated = storybot("search", "lighthouse keeper rescue", "--store", indexed.store, "-k", "1")
    assert undated.exit_code == 0, undated.output
    assert undated.stdout.startswith(
        "[1] Lighthouse keeper rescues stranded kayakers off the Cornish coast (undated)\n"
    )
    assert "rowed out in a storm" in undated.stdout
    indexed.assert_untouched()


def test_search_on_empty_store_exits_2(tmp_path: Path) -> None:
    result = storybot("search", "anything", "--store", tmp_path / "empty-store")
    assert result.exit_code == 2, (result.output, result.exception)
    assert "run `storybot index`" in result.stderr
    assert result.stdout == ""


def test_default_store_comes_from_the_environment(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "env-store"
    monkeypatch.setenv("STORYBOT_CORPUS", str(corpus))
    monkeypatch.setenv("STORYBOT_STORE", str(store))
    result = storybot("index", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would add: {STORY_ID}" in result.stdout
    assert not store.exists()
    shutil.rmtree(corpus)
    missing = storybot("index")
    assert missing.exit_code == 2
    assert str(corpus) in missing.stderr


def run_storybot(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The installed `storybot` command in its own process (main() configures logging)."""
    command = [str(Path(sys.executable).parent / "storybot"), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_log_level_from_the_environment_and_the_flag(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / LIGHTHOUSE_ID).write_text(LIGHTHOUSE_TXT, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    store = tmp_path / "store"
    info = run_storybot(
        "index", "--corpus", corpus, "--store", store, env={**env, "STORYBOT_LOG_LEVEL": "info"}
    )
    assert info.returncode == 0, info.stderr
    assert "INFO index.indexer: generation" in info.stderr
    quiet = run_storybot(
        "--log-level",
        "WARNING",
        "index",
        "--corpus",
        corpus,
        "--store",
        store,
        "--rebuild",
        env={**env, "STORYBOT_LOG_LEVEL": "INFO"},
    )
    assert quiet.returncode == 0 and "INFO" not in quiet.stderr
    wrong = run_storybot(
        "index",
        "--dry-run",
        "--corpus",
        corpus,
        "--store",
        store,
        env={**env, "STORYBOT_LOG_LEVEL": "LOUD"},
    )
    assert wrong.returncode == 0
    assert "warning: STORYBOT_LOG_LEVEL ignored" in wrong.stderr
