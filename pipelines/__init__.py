"""The loop: wires annotation, retrieval and training together. One room per kind of thing:

- `loop/`     the use-cases: open tickets, ingest responses, sync with Argilla, draft, select, train;
              `runtime.py` wires one process (ledger, Argilla gateway, embedder, store, retriever);
              `requests.py` holds the loop's input types (what applications ask for)
- `ledger/`   the source of truth: tickets, feedback, examples, pairs, cursors, the audit chain
- `routing/`  the explicit rules that decide auto | review | approve | escalate
- `api/`      the HTTP API (FastAPI app, routers, auth) and its thin Python client
- `stack/`    the embedded stack: process supervisor, Argilla bootstrap, secrets
- `demo/`     `tacit demo`, the simulated annotators and the sample scenarios (`demo/data/`)
- `config.py` the one configuration; `cli.py` the `tacit` command line
"""
