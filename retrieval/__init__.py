"""Few-shot example store: embedder, Chroma collection, retriever, prompt block."""
