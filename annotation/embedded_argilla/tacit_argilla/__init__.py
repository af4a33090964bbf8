"""tacit's embedded Argilla server (the `tacit-argilla` distribution): launcher and SQL search engine.

Runs inside `.venv-argilla` only. `python -m tacit_argilla migrate | ensure-user | serve | worker` (see
__main__.py); the engine is `sql_engine.SQLSearchEngine`, registered under `ARGILLA_SEARCH_ENGINE=sql` by `serve`
and `worker`. This package imports nothing at import time so tacit's main environment can load its pure modules
(`text_index`, `vector_cache`) for tests.
"""
