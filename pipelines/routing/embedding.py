"""Share embeddings between the out-of-scope rules and the novelty callable.

Both need the embedding of the same input text; wrapping the embedder once with `cached_embedder`
(and building the novelty callable on the wrapped one) makes a decision cost one model call, not two.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from pipelines.routing.compiled import Embed


def cached_embedder(embed: Embed, maxsize: int = 1024) -> Embed:
    """`embed` with a thread-safe LRU cache per text (rows as `embed` returns them)."""
    if maxsize < 1:
        raise ValueError(f"maxsize must be at least 1, got {maxsize}")
    cache: OrderedDict[str, np.ndarray] = OrderedDict()
    lock = threading.Lock()

    def cached(texts: list[str]) -> np.ndarray:
        with lock:
            rows = {text: cache[text] for text in texts if text in cache}
            for text in rows:
                cache.move_to_end(text)
        missing = list(dict.fromkeys(text for text in texts if text not in rows))
        if missing:
            computed = np.asarray(embed(missing))
            with lock:
                for text, row in zip(missing, computed, strict=True):
                    rows[text] = cache[text] = row
                while len(cache) > maxsize:
                    cache.popitem(last=False)
        return np.stack([rows[text] for text in texts])

    return cached
