"""Namespaces: several stories' collections side by side in one Chroma store.

Each story (`STORYBOT_NAMESPACE`) has its own pointer collection and its own
generation collections, told apart by their names. The default namespace keeps
the names stores had before namespaces existed, so those stores need no
migration. Namespaces contain no underscore, so a name parses one way only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from index.layers import layer_names

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

NAMESPACE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
DEFAULT_NAMESPACE = "default"

_LEGACY_POINTER = "storybot_pointer"
_LEGACY_PREFIX = "storybot_gen_"
_NAMED = re.compile(r"^storybot_ns_([a-z0-9][a-z0-9-]*)_pointer$")


@dataclass(frozen=True)
class Namespace:
    """The collection names of one story."""

    name: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        if not re.match(NAMESPACE_PATTERN, self.name):
            raise ValueError(
                f"STORYBOT_NAMESPACE {self.name!r}: use lower-case letters, digits and '-'"
            )

    @property
    def pointer(self) -> str:
        """The collection whose metadata names the live generation."""
        if self.name == DEFAULT_NAMESPACE:
            return _LEGACY_POINTER
        return f"storybot_ns_{self.name}_pointer"

    @property
    def generation_prefix(self) -> str:
        """Every generation collection of this namespace starts with it, and no other's does."""
        if self.name == DEFAULT_NAMESPACE:
            return _LEGACY_PREFIX
        return f"storybot_ns_{self.name}_gen_"

    def owns(self, collection_name: str) -> bool:
        return collection_name.startswith(self.generation_prefix)

    @property
    def redis_prefix(self) -> str:
        """Where this story's keys live in the shared Redis (lock, BM25, memory, feedback)."""
        return f"storybot:{self.name}:"


def namespace_of_pointer(collection_name: str) -> str | None:
    """The namespace whose pointer collection this is, or None for any other collection."""
    if collection_name == _LEGACY_POINTER:
        return DEFAULT_NAMESPACE
    match = _NAMED.match(collection_name)
    return match.group(1) if match else None


@dataclass
class GenerationSummary:
    name: str
    chunks: int
    embed_model: str
    built_at: str
    # "live" (a layer of the live generation), "previous" (kept for queries under way)
    # or "unused"
    role: str


@dataclass
class NamespaceSummary:
    name: str
    generations: list[GenerationSummary] = field(default_factory=list)


def survey(client: ClientAPI) -> list[NamespaceSummary]:
    """Every namespace in a Chroma store, with its generations, live one first."""
    collections = client.list_collections()
    summaries = []
    for pointer in collections:
        name = namespace_of_pointer(pointer.name)
        if name is None:
            continue
        meta = pointer.metadata or {}
        roles = {name: "previous" for name in layer_names(meta, "previous")}
        roles.update((name, "live") for name in layer_names(meta, "live"))
        namespace = Namespace(name)
        summary = NamespaceSummary(name)
        for collection in collections:
            if namespace.owns(collection.name):
                gen_meta = collection.metadata or {}
                summary.generations.append(
                    GenerationSummary(
                        collection.name,
                        collection.count(),
                        str(gen_meta.get("embed_model", "?")),
                        str(gen_meta.get("built_at", "?")),
                        roles.get(collection.name, "unused"),
                    )
                )
        order = {"live": 0, "previous": 1, "unused": 2}
        summary.generations.sort(key=lambda g: (order[g.role], g.name))
        summaries.append(summary)
    return sorted(summaries, key=lambda s: s.name)
