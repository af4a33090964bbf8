"""Errors written for the person at the terminal: the message says what is wrong and what to run.

The CLI prints them as one line, without a traceback, and exits with `exit_code` (2: the input is wrong;
1: something the command needs is missing or down). Errors of the other packages that read the same way
(a bad recipe, MLflow down, Argilla down, ...) are listed by class in `pipelines/cli/errors.py` and treated alike.
"""

from __future__ import annotations


class KnownError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 1


class BadInput(KnownError):
    """A file, option or value the user gave is wrong."""

    exit_code = 2


class MissingPrerequisite(KnownError):
    """Something has to be set up first (`tacit up`, `make browser`, ...): the message names the command."""


class Unavailable(KnownError):
    """A service the command talks to does not answer."""
