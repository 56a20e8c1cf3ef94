"""The pgrec REST API (Litestar): app factory, controllers, FAISS hot path, re-ranking."""
