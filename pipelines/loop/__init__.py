"""The loop's use-cases: tickets out to Argilla, responses back into the ledger and the example store,
drafting and selection with the champion, training runs. Nothing here imports the HTTP API."""
