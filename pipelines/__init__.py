"""The loop: wires annotation, retrieval and training together. One room per kind of thing:

- `loop/`       the use-cases: open tickets and deliver them (`tickets.py`), ingest an answer and publish
                it (`ingest.py`, `publish.py`), reconcile with Argilla (`sync.py`), keep the example store
                following the ledger (`example_store.py`), audited routing decisions (`routing_decisions.py`)
- `runtime.py`  the composition root: one process's ledger, Argilla gateway, embedder, store, retriever
- `adapters/`   Argilla (`argilla_gateway.py`) and the wake-ups between replicas (`wakeups.py`)
- `bodies/`     the HTTP API's request and response bodies, which the use-cases take as input
- `review/`     the quorum rules, the `review:` settings, agreement statistics
- `model/`      the model in the loop: drafts by the champion, `tacit train dpo`
- `selection/`  active-learning selection (`tacit select`)
- `ledger/`     the source of truth: tickets, feedback, examples, pairs, cursors, the audit chain
- `routing/`    the explicit rules that decide auto | review | approve | escalate
- `evaluation/` `tacit eval`; `export/` `tacit export`
- `api/`        the HTTP API (FastAPI app, routers, auth)
- `cli/`        the `tacit` command line
- `stack/`      the embedded stack: process supervisor, Argilla setup, secrets, coordination
- `demo/`       `tacit demo`, the simulated annotators and the sample scenarios (`demo/data/`)
- `config.py`   the one configuration (each room owns its section's settings model)
"""
