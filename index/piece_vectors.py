"""The local model's vector of every word that is a single word piece, cached per machine.

The reader compares the words of a question with the words of candidate
sentences, tens of words a question, each a model run of its own. Most words
of news text are one piece of the model's vocabulary, so their vectors are
computed once, by the same runs, and kept in a file beside the prepared model:
looking one up gives exactly the vector a run would. Longer words are still run.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# [CLS] and [SEP] of the model's tokenizer, around each piece as the tokenizer puts them.
CLS, SEP = "[CLS]", "[SEP]"


class PieceVectors:
    """Row i is the vector of the word that is vocabulary piece i alone; zeros if none."""

    def __init__(self, path: Path, vocabulary: dict[str, int], dimension: int):
        self.path = path
        self.vocabulary = vocabulary
        self.dimension = dimension
        self._table: np.ndarray | None = None
        self._file_read = False
        self._builder: threading.Thread | None = None
        self._lock = threading.Lock()

    def ready(self) -> np.ndarray | None:
        """The table if it is loaded or its file exists, else None (nothing is built)."""
        with self._lock:
            if self._table is None and not self._file_read:
                self._file_read = True
                self._table = self._read() if self.path.is_file() else None
            return self._table

    def table(self, run: Callable[[list[list[int]]], Iterable[np.ndarray]]) -> np.ndarray | None:
        """The table, read from its file or built with `run` (ids in, vectors out) and saved.

        None only if building it failed (the failure is logged).
        """
        builder = self.prepare(run)
        if builder is not None:
            builder.join()
        return self._table

    def prepare(
        self, run: Callable[[list[list[int]]], Iterable[np.ndarray]]
    ) -> threading.Thread | None:
        """Start building the table in a background thread unless it is ready or under way.

        Returns the thread building it, or None when the table is ready.
        """
        if self.ready() is not None:
            return None
        with self._lock:
            if self._builder is None:
                self._builder = threading.Thread(
                    target=self._build_and_keep, args=(run,), name="piece-vectors", daemon=True
                )
                self._builder.start()
            return self._builder

    def _build_and_keep(self, run: Callable[[list[list[int]]], Iterable[np.ndarray]]) -> None:
        try:
            table = self._build(run)
        except Exception as error:  # a failed run: words are still embedded one by one
            log.warning("cannot compute the word piece vectors: %s", error)
            return
        with self._lock:
            self._table = table

    def _read(self) -> np.ndarray | None:
        try:
            table = np.load(self.path, mmap_mode="r")
        except (OSError, ValueError, EOFError) as error:
            log.warning(
                "ignoring %s, which cannot be read (a bot rebuilds it): %s", self.path, error
            )
            return None
        if table.shape != (len(self.vocabulary), self.dimension) or table.dtype != np.float32:
            log.warning("ignoring %s, not made for this model (a bot rebuilds it)", self.path)
            return None
        return table

    def _build(self, run: Callable[[list[list[int]]], Iterable[np.ndarray]]) -> np.ndarray:
        cls, sep = self.vocabulary[CLS], self.vocabulary[SEP]
        # A word on its own never starts with a continuation piece ("##"), and the
        # bracketed pieces are special tokens or unused.
        pieces = sorted(i for p, i in self.vocabulary.items() if not p.startswith(("##", "[")))
        log.info("computing the vectors of %d word pieces, once per machine", len(pieces))
        table = np.zeros((len(self.vocabulary), self.dimension), dtype=np.float32)
        for piece, vector in zip(pieces, run([[cls, i, sep] for i in pieces]), strict=True):
            table[piece] = vector
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside the target and renamed, so a reader never sees half a file.
            handle, scratch = tempfile.mkstemp(
                dir=self.path.parent, prefix=".pieces-", suffix=".npy"
            )
        except OSError as error:
            log.warning("cannot save %s: %s", self.path, error)
            return table
        try:
            with os.fdopen(handle, "wb") as file:
                np.save(file, table)
            os.replace(scratch, self.path)
        except OSError as error:
            # The table still serves this process; the next start builds it again.
            log.warning("cannot save %s: %s", self.path, error)
            Path(scratch).unlink(missing_ok=True)
        return table
