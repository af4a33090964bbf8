"""The model in the loop: drafts by the champion (`drafting.py`, the `drafting:` settings in `settings.py`)
and `tacit train dpo` (`training_job.py`: the ledger's pairs -> training/ -> the audit trail)."""
