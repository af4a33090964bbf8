"""`tacit`: the command line. Heavy imports stay inside commands so `tacit status` is quick.

Known errors (a wrong config value, no stack yet, Argilla or MLflow down, a bad pool file, ...) end in one
line that says what to do, exit code 2 for bad input and 1 for the rest; anything else is a bug and keeps
its traceback. They are caught in one place, the command boundary (`boundary.Commands`), and mapped to exit
codes by class (`errors.known_errors`).

- `app.py`: the `tacit` Typer app, every command mounted in order;
- `boundary.py`, `errors.py`: the command boundary and the known errors;
- `shared.py`: what several commands need (the console, the secrets, the runtime, the running API);
- `stack_commands.py`: up, down, status, credentials, demo;
- `loop_commands.py`: select, retry, sync, reindex;
- `audit.py`, `train.py`: the `tacit audit` and `tacit train` groups;
- `stats.py`: `tacit stats` (reviewer agreement, the track_record rule's figures).
"""

from pipelines.cli.app import app, main
from pipelines.cli.boundary import Commands
from pipelines.cli.errors import known_error

__all__ = ["Commands", "app", "known_error", "main"]
