"""What the example store raises, apart from its modules, so the client, the partitions and the store share
one set of errors and callers (the API's 503/409, the CLI's exit codes) catch them in one place."""

from __future__ import annotations


class StoreUnavailable(RuntimeError):
    """The Chroma server cannot be reached (the API answers 503; an app may proceed without examples)."""


class StoreCorrupt(StoreUnavailable):
    """The embedded Chroma folder cannot be opened (e.g. a damaged chroma.sqlite3). Search answers 503 until
    `tacit reindex` moves the folder aside and rebuilds the store from the ledger."""


class StoreMismatch(RuntimeError):
    """The store was built with another embedding model; run `tacit reindex`."""
