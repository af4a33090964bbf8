"""Ledger errors: each message says what is wrong and what to do about it."""

from __future__ import annotations


class LedgerError(Exception):
    """The ledger cannot do what was asked (bad URL, newer schema, ...)."""


class NotFoundError(LedgerError, LookupError):
    """A ticket, outbox item, feedback item or example id that the ledger does not hold."""
