"""Opening storybot's SQLite files: WAL, the sync policy, schema migrations, clear errors.

Each store lists its schema as migrations, one SQL script per version; a file
records the version it has reached in `PRAGMA user_version`, so a file written
by an older storybot is brought up to date when it is opened, and a file from
a newer one is refused instead of being misread.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.errors import MemoryFileError


def open_database(path: Path, migrations: Sequence[str]) -> sqlite3.Connection:
    """A connection to `path` at the latest schema; MemoryFileError naming the file if not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL syncs at checkpoints instead of on every commit: a write
        # survives the bot's crash or restart; only an OS crash can lose the last ones.
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db, migrations, path)
    except (OSError, sqlite3.DatabaseError) as error:
        raise unusable(path, error) from None
    return db


def unusable(path: Path, error: Exception) -> MemoryFileError:
    """The error for a SQLite file that cannot be used: it names the file and what to do."""
    return MemoryFileError(
        f"{path}: cannot use this SQLite file ({error}). Move it aside to start afresh, "
        "or point the setting at another file."
    )


@contextlib.contextmanager
def reporting_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's errors on a file that was fine when opened (damaged since, full disk,
    read-only) into MemoryFileError naming it."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        raise unusable(path, error) from None


def migrate(db: sqlite3.Connection, migrations: Sequence[str], path: Path) -> None:
    """Run the migrations the file has not had yet, each in its own transaction."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(migrations):
        raise MemoryFileError(
            f"{path}: written by a newer storybot (schema {version}, this one knows "
            f"{len(migrations)}); upgrade storybot or use another file"
        )
    for number, script in enumerate(migrations[version:], version + 1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
