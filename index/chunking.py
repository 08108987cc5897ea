"""Chunks: articles split into sentence-aligned pieces that remember where they came from."""

from __future__ import annotations

from collections.abc import Iterable

from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode
from llama_index.core.utils import get_tokenizer

from index.articles import Article
from index.errors import CorpusError

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


def title_budget(chunk_size: int) -> int:
    """Tokens a title may take in a chunk of `chunk_size` tokens.

    The title is part of every chunk; the splitter fails when it fills the chunk,
    and prints a warning when it leaves less than 50 tokens for the text.
    """
    return max(chunk_size - 50, chunk_size // 2)


def check_titles(articles: Iterable[Article], chunk_size: int) -> None:
    """Raise CorpusError naming every article whose title does not fit in a chunk."""
    tokenizer = get_tokenizer()  # the splitter's tokenizer
    budget = title_budget(chunk_size)
    problems = []
    for article in articles:
        document = article_document(article)
        tokens = max(
            len(tokenizer(document.get_metadata_str(mode)))
            for mode in (MetadataMode.EMBED, MetadataMode.LLM)
        )
        if tokens > budget:
            problems.append(
                f"{article.source_path or article.doc_id}: the title takes {tokens} tokens of "
                f"each {chunk_size}-token chunk; at most {budget} (shorten the title)"
            )
    if problems:
        raise CorpusError(problems)
