"""The loop: wires annotation, retrieval and training together (ledger, sync, routing, service, CLI)."""
