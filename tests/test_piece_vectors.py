"""The table of single-piece word vectors: built once, reused, rebuilt when damaged."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from index.piece_vectors import PieceVectors

VOCABULARY = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, "news": 3, "##paper": 4, "vote": 5}


class CountingRun:
    """Stands in for the model's runs: a vector that names the piece, and a count of runs."""

    def __init__(self) -> None:
        self.texts: list[list[int]] = []

    def __call__(self, texts: list[list[int]]) -> list[np.ndarray]:
        self.texts += texts
        return [np.full(4, ids[1], dtype=np.float32) for ids in texts]


def test_built_once_then_read_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "model.pieces.npy"
    run = CountingRun()
    table = PieceVectors(path, VOCABULARY, 4).table(run)
    # Only pieces that are words on their own, each between [CLS] and [SEP].
    assert run.texts == [[1, 3, 2], [1, 5, 2]]
    assert table[3].tolist() == [3.0] * 4 and table[5].tolist() == [5.0] * 4
    assert not table[4].any() and not table[0].any()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch file left

    again = CountingRun()
    np.testing.assert_array_equal(PieceVectors(path, VOCABULARY, 4).table(again), table)
    assert again.texts == []


def test_nothing_is_built_until_asked_then_built_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "model.pieces.npy"
    pieces = PieceVectors(path, VOCABULARY, 4)
    run = CountingRun()
    assert pieces.ready() is None and run.texts == [] and not path.exists()
    builder = pieces.prepare(run)
    assert builder is not None
    builder.join(timeout=30)
    table = pieces.ready()
    assert table is not None and table[5].tolist() == [5.0] * 4
    assert pieces.prepare(run) is None  # ready: nothing more to build
    assert path.is_file()


def test_a_failed_build_is_logged_and_leaves_no_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(texts: list[list[int]]) -> list[np.ndarray]:
        raise RuntimeError("the model run failed")

    with caplog.at_level(logging.WARNING):
        assert PieceVectors(tmp_path / "model.pieces.npy", VOCABULARY, 4).table(broken) is None
    assert "the model run failed" in caplog.text


@pytest.mark.parametrize(
    "damage",
    [b"", b"not an array", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order'"],
    ids=["empty", "not numpy", "cut short"],
)
def test_a_damaged_file_is_named_and_rebuilt(
    tmp_path: Path, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "model.pieces.npy"
    path.write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        table = PieceVectors(path, VOCABULARY, 4).table(CountingRun())
    assert str(path) in caplog.text
    assert table[5].tolist() == [5.0] * 4
    np.testing.assert_array_equal(np.load(path), table)


def test_a_table_of_another_vocabulary_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "model.pieces.npy"
    np.save(path, np.zeros((3, 4), dtype=np.float32))
    run = CountingRun()
    assert PieceVectors(path, VOCABULARY, 4).table(run).shape == (6, 4)
    assert run.texts


def test_an_unwritable_cache_still_serves_the_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING):
        table = PieceVectors(blocker / "model.pieces.npy", VOCABULARY, 4).table(CountingRun())
    assert table[3].tolist() == [3.0] * 4
    assert "cannot save" in caplog.text
