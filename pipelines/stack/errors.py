"""What the embedded stack raises when it cannot start or stop, in one place, so every part of the stack
(catalogue, processes, policy, supervisor) raises, and the CLI maps, one class."""

from __future__ import annotations


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says what to do."""
