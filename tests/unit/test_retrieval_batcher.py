"""The micro-batcher's logic with a stand-in encoder (the real model is covered in the integration tests)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from retrieval.batcher import BatcherClosed, MicroBatcher


class SlowEncoder:
    """Encodes text as [len(text)]; the first call blocks until released, so the rest pile up."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.release.wait(timeout=10)
        if "boom" in texts:
            raise RuntimeError("encoder failed")
        return np.asarray([[float(len(text))] for text in texts])


def test_queued_requests_share_one_forward_pass() -> None:
    encoder = SlowEncoder()
    batcher = MicroBatcher(encoder, max_batch=64)
    first = batcher.submit("a")
    while not encoder.calls:  # the worker is busy with "a"
        threading.Event().wait(0.001)
    rest = [batcher.submit("x" * n) for n in range(2, 12)]
    encoder.release.set()
    assert first.result(timeout=10).tolist() == [1.0]
    assert [future.result(timeout=10).tolist() for future in rest] == [[float(n)] for n in range(2, 12)]
    assert encoder.calls == [["a"], ["x" * n for n in range(2, 12)]]
    assert (batcher.batches, batcher.items) == (2, 11)
    batcher.close()


def test_max_batch_caps_a_forward_pass() -> None:
    encoder = SlowEncoder()
    batcher = MicroBatcher(encoder, max_batch=3)
    futures = [batcher.submit(str(n)) for n in range(7)]
    encoder.release.set()
    for future in futures:
        future.result(timeout=10)
    assert max(len(call) for call in encoder.calls) <= 3
    assert sum(len(call) for call in encoder.calls) == 7
    batcher.close()


def test_a_failing_batch_fails_its_callers_and_the_batcher_goes_on() -> None:
    encoder = SlowEncoder()
    encoder.release.set()
    batcher = MicroBatcher(encoder)
    with pytest.raises(RuntimeError, match="encoder failed"):
        batcher("boom")
    assert batcher("ok").tolist() == [2.0]
    batcher.close()
    with pytest.raises(BatcherClosed):
        batcher.submit("late")
