"""The issue's hostile corpora through the real `storybot index`: a billion-laughs front
matter under a memory limit, a link to /etc/passwd, a title too long for a chunk; and the
progress an indexer reports while it embeds one long article.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_settings, write_corpus
from test_articles import billion_laughs
from typer.testing import CliRunner

import index.indexer
from bot.cli.app import app
from index.articles import load_corpus
from index.indexer import run_index

STORYBOT = Path(sys.executable).parent / "storybot"
needs_script = pytest.mark.skipif(
    not STORYBOT.exists(), reason="the storybot script is not installed"
)
MEMORY_LIMIT = 2 * 1024**3  # the run grew to 24 GB


def limited_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@needs_script
def test_billion_laughs_exits_2_naming_the_file_within_bounds(
    tmp_path: Path, isolated_env: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    laughs = corpus / "laughs.md"
    laughs.write_text(billion_laughs(), encoding="utf-8")
    result = subprocess.run(
        [str(STORYBOT), "index", "--corpus", str(corpus), "--store", str(tmp_path / "store")],
        cwd=isolated_env,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limited_memory,
    )
    assert result.returncode == 2, result.stderr
    assert f"{laughs}: broken front matter near line 3: aliases (*name) are not allowed" in (
        result.stderr
    )
    assert not (tmp_path / "store").exists()


@needs_script
def test_a_link_to_etc_passwd_is_skipped_and_never_indexed(
    tmp_path: Path, isolated_env: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    store = tmp_path / "store"
    command = [str(STORYBOT), "index", "--corpus", str(corpus), "--store", str(store)]
    result = subprocess.run(command, cwd=isolated_env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert (
        f"WARNING index.articles: {corpus / 'passwd.txt'}: skipped, a link to /etc/passwd, "
        "outside the corpus folder"
    ) in result.stderr
    assert result.stdout.strip().startswith("3 added")
    found = subprocess.run(
        [str(STORYBOT), "search", "root bin daemon nologin", "--store", str(store), "-k", "5"],
        cwd=isolated_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert found.returncode == 0, found.stderr
    assert "root:" not in found.stdout and "passwd" not in found.stdout


@pytest.mark.parametrize("dry_run", [False, True], ids=["index", "dry-run"])
def test_a_title_too_long_for_a_chunk_exits_2_naming_the_file(
    tmp_path: Path, dry_run: bool
) -> None:
    """Within the character limit but 150 emoji are over 400 tokens: the splitter would fail."""
    corpus = write_corpus(tmp_path / "corpus")
    emoji = corpus / "emoji.md"
    emoji.write_text("---\ntitle: " + "🎉" * 150 + "\n---\nBody.\n", encoding="utf-8")
    args = ["index", "--corpus", str(corpus), "--store", str(tmp_path / "store")]
    result = CliRunner().invoke(app, args + (["--dry-run"] if dry_run else []))
    assert result.exit_code == 2, (result.output, result.exception)
    assert "the store is unchanged" in result.stderr
    assert f"{emoji}: the title takes " in result.stderr
    assert "tokens of each 128-token chunk; at most 78 (shorten the title)" in result.stderr
    assert not (tmp_path / "store").exists()


def test_progress_is_reported_while_one_long_article_is_embedded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paragraphs = [
        f"Paragraph {i} tells of the harbour wall in the winter storm." for i in range(120)
    ]
    (corpus / "long.txt").write_text("A long article\n" + "\n\n".join(paragraphs) + "\n")
    monkeypatch.setattr(index.indexer, "PROGRESS_STEP", 8)  # a few reports for a short test
    reports: list[tuple[int, int]] = []
    settings = make_settings(corpus, tmp_path / "store")
    report = run_index(settings, load_corpus(corpus), progress=lambda *r: reports.append(r))
    total = report.chunks
    assert total > 16
    assert reports[-1] == (total, total)
    assert [done for done, _ in reports] == sorted({done for done, _ in reports})
    assert len(reports) == -(-total // 8)
    assert {t for _, t in reports} == {total}


def test_the_cli_prints_progress_to_stderr_and_the_summary_to_stdout(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    result = CliRunner().invoke(
        app, ["index", "--corpus", str(corpus), "--store", str(tmp_path / "store")]
    )
    assert result.exit_code == 0, result.output
    (summary,) = result.stdout.splitlines()
    chunks = int(summary.split("; ")[1].split()[0])
    assert f"embedding: {chunks}/{chunks} chunks" in result.stderr.splitlines()
