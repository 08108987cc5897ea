"""Layers: a generation is a base collection plus the small layers later re-indexes added.

Re-indexing one article into years of news must not copy every other chunk
into a new collection. A generation is therefore a stack of Chroma
collections, oldest first, each written once and never changed. Each layer has
a manifest (`layer.json`, beside its BM25 files and term statistics) naming the articles whose
chunks it holds and the articles it removes from the layers below. Folded
oldest first, the manifests give the catalog: which layer holds each live
article. Chunks an older layer still has of an article that a newer layer
replaced or removed are dead: readers skip them, and the next compaction leaves
them behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_FILE = "layer.json"
# Catalog fields kept per article, besides its content hash and chunk count.
ARTICLE_FIELDS = ("title", "published", "url", "outlet")


def layer_names(pointer: Mapping[str, object], role: str) -> list[str]:
    """The layers of the pointer's "live" or "previous" generation, oldest first.

    A pointer written before layers names one collection and no layer list.
    """
    listed = str(pointer.get(f"{role}_layers" if role == "previous" else "layers") or "")
    name = str(pointer.get(role) or "")
    if not name:
        return []
    names = listed.split()
    return names if names and names[-1] == name else [name]


@dataclass
class LayerManifest:
    """What one layer holds: its articles (doc_id -> hash, chunks, title...) and what it removes."""

    articles: dict[str, dict] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def add_chunk(self, metadata: Mapping[str, object]) -> None:
        """Count one chunk of the layer, given its Chroma metadata."""
        doc_id = str(metadata["doc_id"])
        entry = self.articles.get(doc_id)
        if entry is None:
            entry = self.articles[doc_id] = {
                "hash": str(metadata["doc_hash"]),
                "chunks": 0,
                **{key: str(metadata.get(key) or "") for key in ARTICLE_FIELDS},
            }
        entry["chunks"] += 1

    def write(self, folder: Path) -> None:
        """Write the manifest into `folder`, whole or not at all."""
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f"{MANIFEST_FILE}.part"
        partial.write_text(
            json.dumps({"articles": self.articles, "removed": sorted(self.removed)}),
            encoding="utf-8",
        )
        os.replace(partial, folder / MANIFEST_FILE)

    @classmethod
    def read(cls, folder: Path | None) -> LayerManifest | None:
        """The manifest in `folder`; None if there is none (a store from before layers)."""
        if folder is None:
            return None
        try:
            data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return cls(dict(data["articles"]), list(data["removed"]))

    @classmethod
    def from_metadatas(cls, metadatas: Iterable[Mapping[str, object]]) -> LayerManifest:
        manifest = cls()
        for metadata in metadatas:
            manifest.add_chunk(metadata)
        return manifest


@dataclass
class Catalog:
    """The live articles of a generation and the layer (by position) that holds each."""

    owner: dict[str, int] = field(default_factory=dict)
    entries: dict[str, dict] = field(default_factory=dict)
    manifests: list[LayerManifest] = field(default_factory=list)

    @classmethod
    def fold(cls, manifests: Sequence[LayerManifest]) -> Catalog:
        catalog = cls(manifests=list(manifests))
        for layer, manifest in enumerate(manifests):
            for doc_id in manifest.removed:
                catalog.owner.pop(doc_id, None)
                catalog.entries.pop(doc_id, None)
            for doc_id, entry in manifest.articles.items():
                catalog.owner[doc_id] = layer
                catalog.entries[doc_id] = entry
        return catalog

    def hashes(self) -> dict[str, str]:
        """doc_id -> content hash of every live article."""
        return {doc_id: str(entry["hash"]) for doc_id, entry in self.entries.items()}

    def is_live(self, doc_id: object, layer: int) -> bool:
        """Whether a chunk of `doc_id` found in layer `layer` is one readers may see."""
        return self.owner.get(str(doc_id)) == layer

    def chunks(self) -> int:
        return sum(int(entry["chunks"]) for entry in self.entries.values())

    def held_by(self, layer: int) -> list[str]:
        """The live articles whose chunks are in layer `layer`."""
        return sorted(doc_id for doc_id, owner in self.owner.items() if owner == layer)

    def layer_chunks(self, layer: int) -> int:
        """Chunks layer `layer` holds, dead ones included."""
        if layer >= len(self.manifests):
            return 0
        return sum(int(entry["chunks"]) for entry in self.manifests[layer].articles.values())

    def chunks_of(self, doc_id: str) -> int:
        return int(self.entries[doc_id]["chunks"])

    def removed_above(self, layer: int) -> set[str]:
        """Articles that layers from `layer` up remove from the layers below them."""
        return {doc_id for manifest in self.manifests[layer:] for doc_id in manifest.removed}
