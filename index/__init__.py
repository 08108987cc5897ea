"""The searchable story: articles, chunks, embeddings, the Chroma store and retrieval."""
