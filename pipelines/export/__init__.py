"""`tacit export`: the ledger's examples, preference pairs or feedback as a dataset people can take
elsewhere (JSON lines, Parquet, or a `datasets` folder), with a dataset card. See docs/ml-engineers.md.

- `tables.py`: ledger records -> rows (filters, TRL's conversational columns, how each item was decided)
- `pseudonyms.py`: annotators as keyed hashes
- `card.py`: the README.md dataset card
- `writers.py`: the folder (jsonl, parquet, hf), written aside and moved into place
- `export_job.py`: all of it as one call; `cli.py`: the command

Nothing is imported here, so mounting the command keeps `tacit status` quick.
"""
