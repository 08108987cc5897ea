"""The local MiniLM model: sentence-transformers reference vectors, and use by LlamaIndex."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from constants import DEMO_QUESTION
from llama_index.core.base.embeddings.base import BaseEmbedding

from index.embeddings import LOCAL_MODEL_NAME, LocalMiniLMEmbedding, embed_model_id
from index.local_model import RECIPE_VERSION

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"
DIMENSION = 384


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    items = json.loads(REFERENCE.read_text(encoding="utf-8"))["items"]
    texts = [item["text"] for item in items]
    vectors = np.array([item["vector"] for item in items], dtype=np.float64)
    assert vectors.shape == (len(texts), DIMENSION)
    return texts, vectors


@pytest.fixture(scope="module")
def embedded(embed_model, reference) -> np.ndarray:
    """The reference texts embedded in one batch (the long one is the slow part)."""
    return embed_model.embed(reference[0])


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.atleast_2d(a)
    b = np.atleast_2d(b)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_matches_sentence_transformers_reference(embedded, reference) -> None:
    texts, expected = reference
    vectors = embedded
    assert vectors.shape == (len(texts), DIMENSION)
    similarity = cosine(vectors.astype(np.float64), expected)
    for text, value in zip(texts, similarity, strict=True):
        assert value >= 0.99, f"cosine {value:.4f} for {text[:60]!r}"


def test_reference_texts_are_told_apart(embedded, reference) -> None:
    """A model that returned the same vector for everything would pass a loose check; not this."""
    texts, expected = reference
    vectors = embedded.astype(np.float64)
    # Each vector is closest to its own reference, not to any other item's.
    similarity = vectors @ (expected / np.linalg.norm(expected, axis=1, keepdims=True)).T
    assert list(similarity.argmax(axis=1)) == list(range(len(texts)))


def test_vectors_are_unit_length(embed_model, embedded) -> None:
    vectors = np.vstack([embedded, embed_model.embed(["", "   ", "a b c"])])
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_long_input_is_truncated_not_rejected(embed_model) -> None:
    long = " ".join(["Long input that must be truncated at 256 word pieces."] * 60)
    longer = " ".join(["Long input that must be truncated at 256 word pieces."] * 120)
    a, b = embed_model.embed([long, longer])
    # Both are cut at the same 256 word pieces, so they embed the same.
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_batch_equals_one_by_one_in_order(embed_model, reference) -> None:
    texts = reference[0][:-1]  # the short ones; one long text is added below
    long = reference[0][-1]
    # Many texts of very different lengths, spread over the worker threads.
    many = [*texts, *(f"Sentence number {i} about the Labour Party." for i in range(7)), *texts]
    many = [*many[::-1], long]
    assert len(many) > 4 * embed_model.threads
    singles = np.stack([embed_model.embed([text])[0] for text in many])
    batch = embed_model.embed(many)
    assert batch.shape == (len(many), DIMENSION)
    np.testing.assert_allclose(batch, singles, atol=1e-4)
    # Duplicates in different positions and batches give the same vector.
    np.testing.assert_allclose(batch[0], batch[len(texts) + 7], atol=1e-4)


def test_a_long_text_beside_a_short_one_does_not_change_it(embed_model) -> None:
    short = DEMO_QUESTION
    long = " ".join(["The National Executive Committee met on July 20."] * 30)
    alone = embed_model.embed([short])[0]
    padded = embed_model.embed([long, short])[1]
    np.testing.assert_allclose(padded, alone, atol=1e-4)


def test_empty_batch(embed_model) -> None:
    assert embed_model.embed([]).shape == (0, DIMENSION)
    assert embed_model.get_text_embedding_batch([]) == []


def test_usable_as_llamaindex_embedding(embed_model, reference) -> None:
    texts, expected = reference
    assert isinstance(embed_model, BaseEmbedding)
    assert embed_model.model_name == LOCAL_MODEL_NAME

    query = embed_model.get_query_embedding(texts[0])
    assert isinstance(query, list) and len(query) == DIMENSION
    assert all(isinstance(x, float) for x in query)
    assert cosine(np.array(query), expected[0])[0] >= 0.99

    text = embed_model.get_text_embedding(texts[1])
    assert cosine(np.array(text), expected[1])[0] >= 0.99

    # More texts than LlamaIndex's embed_batch_size, so it calls us several times.
    short = texts[:-1]
    batch_input = short * 12
    assert len(batch_input) > embed_model.embed_batch_size
    batch = embed_model.get_text_embedding_batch(batch_input)
    assert len(batch) == len(batch_input)
    expected_batch = np.tile(embed_model.embed(short), (12, 1))
    np.testing.assert_allclose(np.array(batch), expected_batch, atol=1e-4)

    # Semantically related text scores higher than unrelated text.
    related = embed_model.get_text_embedding("Labour proscribed four groups on July 20.")
    unrelated = embed_model.get_text_embedding(texts[3])
    assert embed_model.similarity(query, related) > embed_model.similarity(query, unrelated) + 0.2


async def _aquery(model: LocalMiniLMEmbedding, text: str) -> list[float]:
    return await model.aget_query_embedding(text)


def test_async_query_embedding_matches_sync(embed_model) -> None:
    import asyncio

    text = "Where did Loach announce his expulsion?"
    np.testing.assert_allclose(
        asyncio.run(_aquery(embed_model, text)), embed_model.get_query_embedding(text), atol=1e-6
    )


def test_model_id_recorded_in_store(settings) -> None:
    assert embed_model_id(settings) == f"local:{LOCAL_MODEL_NAME}:int8-{RECIPE_VERSION}"
    openai = settings.model_copy(
        update={"embed_backend": "openai", "openai_embed_model": "text-embedding-3-small"}
    )
    assert embed_model_id(openai) == "openai:text-embedding-3-small"


def test_words_are_looked_up_with_the_vectors_a_run_gives(embed_model) -> None:
    # One-piece words come from the table, longer ones ("hinchliffe") are run.
    words = ["expelled", "labour", "hinchliffe", "2021", "proscribed", "a", "Jazz"]
    embed_model.prepare_word_table(wait=True)
    np.testing.assert_array_equal(embed_model.embed_words(words), embed_model.embed(words))
