"""Every error storybot reports to a person, under one base class.

They live here, in the lowest layer, because `index/` never imports `bot/`;
`bot/errors.py` adds the errors of answering and evaluation on the same base.
A front end catches `StorybotError` and shows its message: each message names
the file, folder or setting at fault and what to do.
"""

from __future__ import annotations


class StorybotError(Exception):
    """A problem a maintainer or user can fix; the message says which and how."""


class CorpusError(StorybotError):
    """The corpus cannot be indexed; `problems` lists each as 'file: problem'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class IndexNotBuiltError(StorybotError):
    """No index to read yet: `storybot index` has not been run for this store."""


class IndexBusyError(StorybotError):
    """Another `storybot index` holds the store's lock."""


class StoreMismatchError(StorybotError):
    """The store was built by another embedding model than the one configured."""


class StoreDamagedError(StorybotError):
    """Files the live index needs are gone (a Redis that lost its data, a deleted folder)."""


class StoreUnavailableError(StorybotError):
    """The store's folder cannot be opened or written: a full disk, read-only, not permitted."""


class EmbeddingUnavailable(StorybotError):
    """The configured embedding model cannot be loaded."""


class ModelPreparationError(StorybotError):
    """The source model file could not be read or prepared."""


class ConfigurationError(StorybotError):
    """Settings that cannot work together; the message names them."""


class ServerUnavailable(StorybotError):
    """A server storybot needs (Chroma, Redis) does not answer; the message names its setting."""
