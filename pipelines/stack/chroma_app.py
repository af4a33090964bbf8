"""The Chroma that `tacit up` serves: chromadb's Python server (for its token auth), with one upstream fault
mended. chromadb 1.5's server calls `.tolist()` on each embedding its Rust-backed API returns, which are plain
lists there, so every `get` or `query` that asks for embeddings answered 500 (`'list' object has no attribute
'tolist'`): `/v1/search` (the store's query asks for the neighbours' vectors) and `tacit select` failed on a
served store. The results are given to the server as numpy arrays, as the embedded client receives them;
an already-fixed chromadb is unaffected (`np.asarray` of an array is the array)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from chromadb.api.rust import RustBindingsAPI


def _rows(embeddings: Any) -> Any:
    return None if embeddings is None else [np.asarray(row, dtype=np.float32) for row in embeddings]


def _with_array_embeddings(read: Callable[..., Any], nested: bool) -> Callable[..., Any]:
    """`read` (RustBindingsAPI._get or _query) whose result carries its embeddings as arrays: one per row for
    a get, one list of rows per query embedding for a query (`nested`)."""

    @functools.wraps(read)
    def read_with_arrays(self: RustBindingsAPI, *args: Any, **kwargs: Any) -> Any:
        result = read(self, *args, **kwargs)
        embeddings = result.get("embeddings")
        if embeddings is not None:
            result["embeddings"] = [_rows(rows) for rows in embeddings] if nested else _rows(embeddings)
        return result

    read_with_arrays.__tacit_mended__ = True  # type: ignore[attr-defined]
    return read_with_arrays


def mend() -> None:
    """Install the wrappers (once: a second call leaves them as they are)."""
    if not getattr(RustBindingsAPI._get, "__tacit_mended__", False):
        RustBindingsAPI._get = _with_array_embeddings(RustBindingsAPI._get, nested=False)  # type: ignore[method-assign]
    if not getattr(RustBindingsAPI._query, "__tacit_mended__", False):
        RustBindingsAPI._query = _with_array_embeddings(RustBindingsAPI._query, nested=True)  # type: ignore[method-assign]


mend()

from chromadb.app import app  # noqa: E402  (built after the mend; the wrappers sit on the class either way)

__all__ = ["app", "mend"]
