"""tacit's adapters to the outside world the use-cases talk to: Argilla (`argilla_gateway.py`) and the
wake-ups between API replicas (`wakeups.py`, Redis or in-process)."""
