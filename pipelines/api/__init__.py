"""The tacit HTTP API (FastAPI): tickets, example search, routing, Argilla webhooks."""
