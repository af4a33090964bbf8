"""Micro-batching: queries arriving at the same time from many threads are encoded in one forward pass.

One worker thread owns the model calls. It takes everything that queued while the previous batch
was running (plus whatever arrives within an optional window), runs `encode` once and hands each
caller its row. A lone query is encoded at once; under load, batches form by themselves.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

EncodeBatch = Callable[[Sequence[str]], np.ndarray]


class BatcherClosed(RuntimeError):
    """The micro-batcher was closed; create a new Embedder to encode again."""


class MicroBatcher:
    def __init__(self, encode: EncodeBatch, *, window_s: float = 0.0, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._encode = encode
        self._window_s = window_s
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[str, Future[np.ndarray]] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # how many forward passes ran (observable in tests and the bench)
        self.items = 0

    def submit(self, text: str) -> Future[np.ndarray]:
        future: Future[np.ndarray] = Future()
        with self._lock:
            if self._closed:
                raise BatcherClosed("the embedder's micro-batcher is closed")
            if self._thread is None:  # started lazily so that constructing an Embedder costs no thread
                self._thread = threading.Thread(target=self._run, name="tacit-embed-batcher", daemon=True)
                self._thread.start()
            self._queue.put((text, future))
        return future

    def __call__(self, text: str) -> np.ndarray:
        return self.submit(text).result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._queue.put(None)
        if thread is not None:
            thread.join(timeout=10)

    def _collect(self, first: tuple[str, Future[np.ndarray]]) -> tuple[list[tuple[str, Future]], bool]:
        batch = [first]
        stop = False
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get(timeout=self._window_s) if self._window_s else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            live = [(text, fut) for text, fut in batch if fut.set_running_or_notify_cancel()]
            if live:
                try:
                    vectors = self._encode([text for text, _ in live])
                except BaseException as exc:  # every waiting caller must hear about the failure
                    for _, fut in live:
                        fut.set_exception(exc)
                else:
                    self.batches += 1
                    self.items += len(live)
                    for row, (_, fut) in enumerate(live):
                        fut.set_result(vectors[row].copy())  # not a view: the batch may be large
            if stop:
                return
