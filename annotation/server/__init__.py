"""The embedded Argilla server: launcher and SQL search engine. Runs inside `.venv-argilla` only."""
