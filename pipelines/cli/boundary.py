"""The command boundary: every `tacit` command runs through `Commands.invoke`, which prints a known error as
one line (pipelines/cli/errors.py) and lets a bug keep its traceback."""

from __future__ import annotations

import os

import typer
from rich.text import Text
from typer.core import TyperGroup

from pipelines.cli.errors import known_error
from pipelines.cli.shared import console


class Commands(TyperGroup):
    """The command boundary: a known error is printed as one line, not a traceback."""

    def invoke(self, ctx):  # noqa: ANN001, ANN201 - click's signature
        # Loading a model draws tqdm bars (transformers, huggingface_hub) in between tacit's rich output: off
        # for the command and what it starts (their output goes to log files). =0 in the environment shows them.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from pipelines.stack.private import PRIVATE_UMASK

        # Everything a command writes holds prompts, outputs or keys (exports, audit exports, checkpoints,
        # the Chroma folder): the owner's only, whatever the caller's umask. Restored after, for callers
        # that run commands in-process (tests).
        caller_umask = os.umask(PRIVATE_UMASK)
        try:
            return super().invoke(ctx)
        except Exception as exc:
            known = known_error(exc)
            if known is None:
                raise
            message, code = known
            console.print(Text(message, style="red"), soft_wrap=True, highlight=False)
            raise typer.Exit(code) from None
        finally:
            os.umask(caller_umask)
