"""Chunks: articles split into sentence-aligned pieces that remember where they came from."""

from __future__ import annotations

from collections.abc import Iterable

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter

from index.articles import Article

# Metadata every chunk carries. Only the title is shown to the embedding model
# and the LLM; the rest is bookkeeping for citations and re-indexing.
BOOKKEEPING_KEYS = ["doc_id", "doc_hash", "published", "outlet", "url", "source_path"]


def make_splitter(chunk_size: int, chunk_overlap: int) -> SentenceSplitter:
    """LlamaIndex's sentence-aware splitter; paragraphs are never merged across a blank line."""
    return SentenceSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        paragraph_separator="\n\n",
        include_prev_next_rel=False,
    )


def article_document(article: Article) -> Document:
    """The LlamaIndex Document for an article; its id is the article's stable id."""
    return Document(
        id_=article.doc_id,
        text=article.text,
        metadata={
            "title": article.title,
            "doc_id": article.doc_id,
            "doc_hash": article.content_hash,
            # Chroma metadata cannot hold None: missing values are empty strings.
            "published": article.published or "",
            "outlet": article.outlet or "",
            "url": article.url or "",
            "source_path": article.source_path,
        },
        excluded_embed_metadata_keys=list(BOOKKEEPING_KEYS),
        excluded_llm_metadata_keys=list(BOOKKEEPING_KEYS),
    )


def article_documents(articles: Iterable[Article]) -> list[Document]:
    return [article_document(a) for a in articles]
