"""The example vectors kept beside the store: a reindex with the same embedding model copies them instead of
embedding every text again (the ledger holds the texts; this file holds what the model made of them).

One SQLite file under the home (`<home>/example-vectors.sqlite`), one row per example id and model name: the
model's dimension, a digest of the text the vector was made from, the float32 vector and its CRC. Written by
the same code path that upserts an example into Chroma (idempotent: a row is replaced), so it survives
restarts and follows the store; read by the rebuild (retrieval/rebuild.py).

Never a wrong vector: a row is used only when its model name, dimension, text digest, length and checksum all
match; anything else counts as missing and the text is embedded again. A file SQLite cannot read is moved
aside (renamed, never deleted) with a warning and a new one started, so a corrupt sidecar costs a
re-embedding, nothing more. Failures to write are logged, never raised: the sidecar only saves time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

SIDECAR_FILE = "example-vectors.sqlite"
LOOKUP_BATCH = 5000  # ids per SELECT (SQLite allows 32,766 parameters)
BUSY_TIMEOUT_S = 30.0  # API replicas, `tacit sync` and a reindex write the same file

SCHEMA = """
CREATE TABLE IF NOT EXISTS example_vectors (
    example_id TEXT NOT NULL,
    model TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    text_digest BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (example_id, model)
)
"""  # a rowid table: rows of 1.5 kB (384-d) in a WITHOUT ROWID table spill into overflow pages, 3x the size


class ModelIdentity(Protocol):
    """What a vector is kept under: the embedding model's name and dimension (the Embedder has both)."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:16]


def vector_row(
    example_id: str, model: ModelIdentity, text: str, vector: np.ndarray
) -> tuple[str, str, int, bytes, int, bytes]:
    """One row as stored (also what the reindex bench writes directly for a synthetic corpus)."""
    data = np.ascontiguousarray(vector, dtype="<f4").tobytes()
    return (example_id, model.name, model.dimension, text_digest(text), zlib.crc32(data), data)


class VectorSidecar:
    """example id + model name -> the vector of the example's text. Thread-safe; several processes may
    share the file (SQLite's WAL and busy timeout)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    # --- the file -----------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # the owner's only, like the rest of the home: vectors say much about the texts they were made
            # from (SQLite gives its -wal and -shm files the database file's mode)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )
            try:
                connection.execute("PRAGMA page_size=16384")  # a new file: ten 1.5 kB vectors a page
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")  # a lost last write is re-embedded later
                connection.execute(SCHEMA)
            except sqlite3.Error:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _set_aside(self, error: sqlite3.Error) -> None:
        """The file is not a database SQLite can read: move it (and its WAL files) aside, start a new one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target, n = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}"), n + 1
        try:
            self.path.rename(target)
            for suffix in ("-wal", "-shm"):
                extra = self.path.with_name(self.path.name + suffix)
                if extra.exists():
                    extra.rename(target.with_name(target.name + suffix))
        except FileNotFoundError:  # another process moved it first
            pass
        log.warning(
            "the example vector sidecar %s cannot be read (%s): moved it aside to %s (delete it once nobody "
            "needs it); examples not found there are embedded again",
            self.path,
            error,
            target,
        )

    # --- writes -------------------------------------------------------------------------------------

    def put(
        self, model: ModelIdentity, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray
    ) -> None:
        """Keep `vectors[i]` as the vector of example `ids[i]` (text `texts[i]`); replaces what was kept."""
        rows = [
            vector_row(example_id, model, text, vectors[i])
            for i, (example_id, text) in enumerate(zip(ids, texts, strict=True))
        ]
        self._write(
            "INSERT OR REPLACE INTO example_vectors "
            "(example_id, model, dimension, text_digest, checksum, vector) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    def delete(self, ids: Sequence[str]) -> None:
        """Forget withdrawn examples' vectors (every model's)."""
        self._write("DELETE FROM example_vectors WHERE example_id = ?", [(example_id,) for example_id in ids])

    def keep_only(self, model: ModelIdentity) -> None:
        """Drop every other model's vectors (after a reindex with `model`: no store can use them now)."""
        self._write(
            "DELETE FROM example_vectors WHERE model != ? OR dimension != ?", [(model.name, model.dimension)]
        )

    def _write(self, statement: str, rows: list[tuple]) -> None:
        if not rows:
            return
        with self._lock:
            for attempt in (1, 2):
                try:
                    connection = self._open()
                    with connection:  # one transaction
                        connection.execute("BEGIN IMMEDIATE")
                        connection.executemany(statement, rows)
                    return
                except sqlite3.DatabaseError as error:
                    if attempt == 1 and _unreadable(error):
                        self._set_aside(error)
                        continue
                    log.warning(
                        "could not keep example vectors in %s (%s); a reindex embeds them", self.path, error
                    )
                    return
                except (sqlite3.Error, OSError) as error:  # locked past the timeout, disk full, a link, ...
                    log.warning(
                        "could not keep example vectors in %s (%s); a reindex embeds them", self.path, error
                    )
                    return

    # --- reads --------------------------------------------------------------------------------------

    def take(
        self, model: ModelIdentity, ids: Sequence[str], texts: Sequence[str]
    ) -> tuple[np.ndarray, list[int]]:
        """The kept vectors for `ids` under `model`: (a (len(ids), dimension) float32 array, the positions
        with no usable vector, whose rows are zeros). A file that cannot be read gives every position as
        missing (and is moved aside); a row that does not check out is missing too."""
        found = np.zeros((len(ids), model.dimension), dtype=np.float32)
        missing: list[int] = []
        rows: dict[str, tuple[int, bytes, int, bytes]] = {}
        with self._lock:
            try:
                connection = self._open()
                for start in range(0, len(ids), LOOKUP_BATCH):
                    chunk = list(ids[start : start + LOOKUP_BATCH])
                    marks = ",".join("?" * len(chunk))
                    for example_id, dimension, digest, checksum, data in connection.execute(
                        "SELECT example_id, dimension, text_digest, checksum, vector FROM example_vectors "
                        f"WHERE model = ? AND example_id IN ({marks})",
                        [model.name, *chunk],
                    ):
                        rows[example_id] = (dimension, digest, checksum, data)
            except sqlite3.DatabaseError as error:
                if _unreadable(error):
                    self._set_aside(error)
                else:
                    log.warning(
                        "cannot read example vectors from %s (%s); embedding them again", self.path, error
                    )
                return found, list(range(len(ids)))
            except (sqlite3.Error, OSError) as error:  # locked past the timeout, a link, ...
                log.warning(
                    "cannot read example vectors from %s (%s); embedding them again", self.path, error
                )
                return found, list(range(len(ids)))
        rejected = 0
        width = 4 * model.dimension
        usable: list[int] = []
        blobs: list[bytes] = []
        for position, (example_id, text) in enumerate(zip(ids, texts, strict=True)):
            row = rows.get(example_id)
            if row is None:
                missing.append(position)
                continue
            dimension, digest, checksum, data = row
            if (
                dimension != model.dimension
                or len(data) != width
                or zlib.crc32(data) != checksum
                or digest != text_digest(text)
            ):
                rejected += 1  # another text (the example changed), or damaged: never used
                missing.append(position)
                continue
            usable.append(position)
            blobs.append(data)
        if blobs:  # one copy for the batch: a row at a time costs more than the SQL
            found[usable] = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), model.dimension)
        if rejected:
            log.info(
                "%d kept example vectors did not match their text or checksum: embedding them again", rejected
            )
        return found, missing

    def count(self, model: ModelIdentity | None = None) -> int:
        with self._lock:
            connection = self._open()
            if model is None:
                return int(connection.execute("SELECT count(*) FROM example_vectors").fetchone()[0])
            return int(
                connection.execute(
                    "SELECT count(*) FROM example_vectors WHERE model = ?", [model.name]
                ).fetchone()[0]
            )


def _unreadable(error: sqlite3.DatabaseError) -> bool:
    """SQLite's own words for a file that is not (or no longer) a database it can read."""
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text or "disk i/o" in text
