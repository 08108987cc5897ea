"""Faults under the store, with real processes: `storybot index` killed at each step of a
build, a disk that fills up, a read-only store. Every fault must leave a store that readers
can use and the next run repairs, and a clear message instead of a stack trace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import write_corpus
from constants import LIGHTHOUSE_ID

from index.layers import layer_names
from index.store import CRASH_AT_VARIABLE, CRASH_STEPS, GENERATION_PREFIX, POINTER_NAME

STORYBOT = Path(sys.executable).parent / "storybot"
OLD_TEXT = "rowed out in a storm"
NEW_LIGHTHOUSE = """\
Lighthouse keeper rescues stranded kayakers off the Cornish coast

The two kayakers were pulled from the water by a trained grey seal called Nelson.
"""
NEW_TEXT = "grey seal called Nelson"

pytestmark = pytest.mark.skipif(
    not STORYBOT.exists(), reason="the storybot script is not installed"
)


def storybot(cwd: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STORYBOT), *(str(a) for a in args)],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass
class StoreFiles:
    """What a store holds on disk, read from Chroma's SQLite file and the folder."""

    live: str
    previous: str
    live_layers: list[str]
    kept: set[str]  # the layers of the live and previous generations
    generations: set[str]
    segment_folders: set[str]
    owned_segments: set[str]
    bm25: set[str]


def store_files(store: Path) -> StoreFiles:
    uri = f"file:{store / 'chroma.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        names = {row[0] for row in db.execute("SELECT name FROM collections")}
        pointer = dict(
            db.execute(
                "SELECT m.key, m.str_value FROM collection_metadata m "
                "JOIN collections c ON c.id = m.collection_id WHERE c.name = ?",
                (POINTER_NAME,),
            ).fetchall()
        )
        owned = {row[0] for row in db.execute("SELECT id FROM segments")}
    folders = set()
    for path in store.iterdir():
        with contextlib.suppress(ValueError):
            folders.add(str(uuid.UUID(path.name)))
    bm25 = {p.name for p in (store / "bm25").iterdir()} if (store / "bm25").is_dir() else set()
    return StoreFiles(
        live=pointer.get("live", ""),
        previous=pointer.get("previous", ""),
        live_layers=layer_names(pointer, "live"),
        kept=set(layer_names(pointer, "live")) | set(layer_names(pointer, "previous")),
        generations={n for n in names if n.startswith(GENERATION_PREFIX)},
        segment_folders=folders,
        owned_segments=owned,
        bm25=bm25,
    )


def assert_tidy(store: Path) -> StoreFiles:
    """Only the live and previous generations' layers remain, with no file none of them owns."""
    files = store_files(store)
    assert files.generations == files.kept, files
    assert files.segment_folders <= files.owned_segments, files
    assert files.bm25 == files.generations, files
    return files


def search(cwd: Path, store: Path, query: str) -> str:
    result = storybot(cwd, "search", query, "--store", store, "-k", "2")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def indexed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus indexed once by a real process; tests work on copies of it."""
    root = tmp_path_factory.mktemp("template")
    corpus = write_corpus(root / "corpus")
    result = storybot(root, "index", "--corpus", corpus, "--store", root / "store")
    assert result.returncode == 0, result.stderr
    return root


def copy_of(template: Path, into: Path) -> tuple[Path, Path]:
    shutil.copytree(template / "corpus", into / "corpus")
    shutil.copytree(template / "store", into / "store")
    return into / "corpus", into / "store"


# ---------------------------------------------------------------- crashes


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_crash_at_each_step_leaves_a_usable_store_that_the_next_run_repairs(
    indexed_template: Path, tmp_path: Path, isolated_env: Path, step: str
) -> None:
    corpus, store = copy_of(indexed_template, tmp_path)
    before = store_files(store)
    (corpus / LIGHTHOUSE_ID).write_text(NEW_LIGHTHOUSE, encoding="utf-8")

    crashed = storybot(
        isolated_env, "index", "--corpus", corpus, "--store", store, **{CRASH_AT_VARIABLE: step}
    )
    assert crashed.returncode == -9, (crashed.returncode, crashed.stdout, crashed.stderr)
    assert f"crashing at {step}" in crashed.stdout

    # Readers see a complete generation: the old one until the pointer moved, then the new.
    switched = CRASH_STEPS.index(step) >= CRASH_STEPS.index("switched")
    after_crash = store_files(store)
    assert (after_crash.live == before.live) is not switched
    found = search(isolated_env, store, "Who rescued the kayakers?")
    assert (NEW_TEXT if switched else OLD_TEXT) in found

    repaired = storybot(isolated_env, "index", "--corpus", corpus, "--store", store)
    assert repaired.returncode == 0, repaired.stderr
    summary = repaired.stdout.strip().splitlines()[-1]
    expected = "0 added, 0 updated" if switched else "0 added, 1 updated"
    assert summary.startswith(expected), summary
    files = assert_tidy(store)
    assert files.live != before.live
    assert NEW_TEXT in search(isolated_env, store, "Who rescued the kayakers?")


def test_runs_and_crashes_leave_no_orphan_folders(
    indexed_template: Path, tmp_path: Path, isolated_env: Path
) -> None:
    """The issue's store had 12 segment folders for 2 live generations after a few runs."""
    corpus, store = copy_of(indexed_template, tmp_path)
    for round_, crash in enumerate(["written", "", "bm25", ""]):
        (corpus / "round.txt").write_text(f"Round {round_}\nThe body of round {round_}.\n")
        result = storybot(
            isolated_env, "index", "--corpus", corpus, "--store", store, STORYBOT_CRASH_AT=crash
        )
        assert result.returncode == (-9 if crash else 0), result.stderr
    files = assert_tidy(store)
    # The base and the two layers the runs that did not crash added.
    assert len(files.generations) == 3
    assert len(files.segment_folders) <= 2 * 3  # a vector and (maybe) a metadata folder each


# ---------------------------------------------------------------- a small disk


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where`; skips the test when mounting is not possible."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Fill `disk` until only about `leave_bytes` are free."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with filler.open("wb") as out:
        out.truncate(0)
        remaining = max(0, free - leave_bytes)
        chunk = b"\0" * (1 << 16)
        while remaining > 0:
            try:
                remaining -= out.write(chunk[: min(len(chunk), remaining)])
            except OSError:
                break
    return filler


@pytest.mark.parametrize("leave", [0, 64 * 1024], ids=["no-space", "fills-mid-build"])
def test_full_disk_under_the_store_is_reported_and_loses_nothing(
    indexed_template: Path, tmp_path: Path, isolated_env: Path, leave: int
) -> None:
    with small_disk(tmp_path / "disk", "24m") as disk:
        corpus, store = copy_of(indexed_template, disk)
        shutil.move(corpus, tmp_path / "corpus")
        corpus = tmp_path / "corpus"
        before = store_files(store)
        # An article that needs megabytes (vectors, text index, BM25) where little is left.
        lines = [f"Paragraph {i} on the harbour wall and that winter's storm." for i in range(1500)]
        (corpus / "long.txt").write_text("A long article\n" + "\n\n".join(lines) + "\n")
        filler = fill(disk, leave)

        result = storybot(isolated_env, "index", "--corpus", corpus, "--store", store)
        assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert f"error: cannot write the index store at {store}: the disk is full; " in (
            result.stderr
        )
        assert "the live index is unchanged" in result.stderr
        assert store_files(store).live == before.live

        # Readers still answer from the live generation (from a copy when Chroma cannot even
        # open the store in place).
        reader = storybot(isolated_env, "search", "lighthouse keeper", "--store", store, "-k", "1")
        assert reader.returncode == 0, reader.stderr
        assert OLD_TEXT in reader.stdout
        if leave == 0:
            assert "the disk is full); reading a copy of it" in reader.stderr

        filler.unlink()
        again = storybot(isolated_env, "index", "--corpus", corpus, "--store", store)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip().splitlines()[-1].startswith("1 added, 0 updated")
        assert_tidy(store)


# ---------------------------------------------------------------- lost files


def test_a_store_that_lost_a_layers_files_says_so_and_a_rebuild_repairs_it(
    indexed_template: Path, tmp_path: Path, isolated_env: Path
) -> None:
    """Read from its chunks instead, the layers under a lost manifest would bring back the
    articles it removed (as a Redis that lost its data would): the loss is named."""
    corpus, store = copy_of(indexed_template, tmp_path)
    (corpus / LIGHTHOUSE_ID).unlink()
    removal = storybot(isolated_env, "index", "--corpus", corpus, "--store", store)
    assert removal.returncode == 0, removal.stderr
    files = store_files(store)
    assert len(files.live_layers) == 2, files  # the removal is a layer over the base
    assert OLD_TEXT not in search(isolated_env, store, "Who rescued the kayakers?")
    shutil.rmtree(store / "bm25" / files.live)

    lost = f"the files of index layer {files.live}"
    for command in (["search", "Who rescued the kayakers?"], ["index", "--corpus", corpus]):
        refused = storybot(isolated_env, *command, "--store", store)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        assert lost in refused.stderr and "storybot index --rebuild" in refused.stderr
        assert "Traceback" not in refused.stderr and OLD_TEXT not in refused.stdout

    rebuilt = storybot(isolated_env, "index", "--corpus", corpus, "--store", store, "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert OLD_TEXT not in search(isolated_env, store, "Who rescued the kayakers?")
    after = store_files(store)
    assert after.live_layers == [after.live] and after.live in after.bm25, after


def test_a_lone_layer_that_lost_its_files_is_searched_by_vectors_and_named(
    indexed_template: Path, tmp_path: Path, isolated_env: Path
) -> None:
    corpus, store = copy_of(indexed_template, tmp_path)
    live = store_files(store).live
    shutil.rmtree(store / "bm25" / live)

    assert OLD_TEXT in search(isolated_env, store, "Who rescued the kayakers?")
    found = storybot(isolated_env, "search", "kayakers", "--store", store)
    assert f"the files of index layer {live}" in found.stderr
    assert "searched by vectors only" in found.stderr
    refused = storybot(isolated_env, "index", "--corpus", corpus, "--store", store)
    assert refused.returncode == 2 and "storybot index --rebuild" in refused.stderr


# ---------------------------------------------------------------- a read-only store


def test_read_only_store_serves_readers_and_refuses_writers(
    indexed_template: Path, tmp_path: Path, isolated_env: Path
) -> None:
    with small_disk(tmp_path / "disk", "16m") as disk:
        corpus, store = copy_of(indexed_template, disk)
        before = store_files(store)
        remount = subprocess.run(
            ["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount the tmpfs read-only: {remount.stderr.strip()}")

        found = storybot(isolated_env, "search", "lighthouse keeper", "--store", store, "-k", "1")
        assert found.returncode == 0, found.stderr
        assert OLD_TEXT in found.stdout
        assert "cannot be opened in place (it is read-only); reading a copy" in found.stderr

        asked = storybot(
            isolated_env, "ask", "Who rowed out to rescue the kayakers?", "--store", store
        )
        assert asked.returncode == 0, asked.stderr
        assert "Traceback" not in asked.stderr

        dry = storybot(isolated_env, "index", "--corpus", corpus, "--store", store, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.strip().endswith(
            "0 added, 0 updated, 0 removed, 3 unchanged; nothing written"
        )

        writer = storybot(isolated_env, "index", "--corpus", corpus, "--store", store, "--rebuild")
        assert writer.returncode == 2, (writer.returncode, writer.stderr)
        assert "Traceback" not in writer.stderr
        assert (
            f"cannot write the index store at {store}: it is on a read-only file system"
            in (writer.stderr)
            or f"cannot write the index store at {store}: it is read-only" in writer.stderr
        )
        assert store_files(store) == before


def test_storage_problems_are_told_from_other_errors() -> None:
    import errno

    from chromadb.errors import InternalError

    from index.store import storage_problem

    full = InternalError("error returned from database: (code: 13) database or disk is full")
    assert storage_problem(full) == "the disk is full"
    assert storage_problem(OSError(errno.ENOSPC, "No space left on device")) == "the disk is full"
    assert storage_problem(OSError(errno.EROFS, "x")) == "it is on a read-only file system"
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("writing BM25 failed") from inner
    except RuntimeError as outer:
        assert storage_problem(outer) == "the disk is full"
    # An embedding API refusing a key is not the disk's problem.
    assert storage_problem(RuntimeError("Error code: 403 - permission denied")) is None
    assert storage_problem(ValueError("Metadata length (130) is longer")) is None
