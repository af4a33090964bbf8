"""Active-learning selection (`tacit select`): the use-case (`select.py`), the pool file (`pool.py`), the
signals (`signals.py`), pure ranking (`ranking.py`), the stages where the models run (`stages.py`), the push
to Argilla (`push.py`), the `selection:` settings (`settings.py`)."""
