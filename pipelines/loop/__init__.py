"""The loop's use-cases: tickets out to Argilla, answers back into the ledger and the example store,
reconciliation with Argilla, audited routing decisions. Nothing here imports the HTTP API, the CLI or the
demo; adapters, bodies, settings and the composition root live in their own rooms (see pipelines/__init__.py)."""
