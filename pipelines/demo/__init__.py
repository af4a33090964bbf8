"""`tacit demo`: the whole loop on sample scenarios, answered by simulated annotators (`data/` holds the
scenarios, the selection pool and the held-out prompts)."""
