"""`tacit bench reindex --n-examples N --json`: `tacit reindex` of an N-example store, on a throwaway home.

What is timed is the use-case itself (`Runtime.reindex`: read the ledger, vectors, a new Chroma generation,
the swap), each run in a child process of its own so that its peak RSS is its own:

- `same_model` (the top-level figures): the embedding model that wrote the vectors; they are copied from the
  sidecar (retrieval/vectors.py), nothing is embedded.
- `model_change`: the same model's folder under another name, so every text is embedded again (what every
  reindex cost before the sidecar). Run when N <= `model_change_max` (embedding runs near 900 texts/s on
  this machine kind), or forced with `model_change=true`.
- `chroma_floor`: the stage that cannot go faster here: writing the N vectors into one fresh Chroma
  collection with the store's HNSW settings, nothing else (`floor=false` leaves it out).

Making N examples through the loop would take hours, so the bench writes the ledger's example rows and
the sidecar's vectors directly (the JSON says so under `corpus`): the vectors are `BASE_TEXTS` texts
embedded once by the real model, each example one of them plus a little noise, renormalized (clustered like
real data, unlike uniform random vectors). The home is a temporary folder with the built-in configuration,
removed afterwards (`keep=true` keeps it); nothing touches the user's home or stack.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench.throwaway_stack import settings_with
from pipelines.config import PROJECT_ROOT, TacitSettings

BASE_TEXTS = 500
NOISE = 0.15  # per coordinate, before renormalizing: neighbours of one base text stay apart
WRITE_CHUNK = 10_000
TASKS = ("support", "triage", "billing", "clinical")
WORDS = [
    "refund",
    "charge",
    "card",
    "outage",
    "login",
    "page",
    "password",
    "reset",
    "invoice",
    "subscription",
    "cancel",
    "fever",
    "pressure",
    "ward",
    "troponin",
    "surgery",
    "shipment",
    "delayed",
    "address",
    "wrong",
    "account",
    "locked",
    "email",
    "bounce",
    "upgrade",
    "plan",
    "seats",
    "contract",
    "renewal",
    "discount",
    "warranty",
    "repair",
    "battery",
    "screen",
    "cracked",
    "order",
    "missing",
    "duplicate",
]


def _home_env(home: Path) -> dict[str, str]:
    """This process's environment without the user's TACIT_* settings, on the throwaway home."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TACIT_")}
    env |= {
        "TACIT_CONFIG": str(home / "no-config.yaml"),  # absent: the built-in defaults
        "TACIT_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
    }
    return env


def _settings(home: Path, model: str | None = None) -> TacitSettings:
    env = _home_env(home)
    if model is not None:
        env["TACIT_RETRIEVAL__EMBEDDER__MODEL"] = model
    return settings_with(env)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _texts(n: int, rng: np.random.Generator) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=8)) for _ in range(n)]


def _write_corpus(home: Path, n: int, seed: int) -> dict[str, Any]:
    """N examples into the home's ledger and the sidecar, directly (see the module docstring)."""
    from sqlalchemy import insert

    from pipelines.ledger import Ledger
    from pipelines.ledger.models import ExampleRow
    from retrieval.embedder import Embedder
    from retrieval.vectors import SIDECAR_FILE, VectorSidecar

    started = time.perf_counter()
    settings = _settings(home)
    rng = np.random.default_rng(seed)
    base_texts = _texts(min(n, BASE_TEXTS), rng)
    embedder = Embedder.from_config(settings.retrieval.embedder)
    base_vectors = embedder.encode_documents(base_texts)
    ledger = Ledger(settings.ledger_url, settings.ledger)  # creates the schema
    sidecar = VectorSidecar(settings.home_dir / SIDECAR_FILE)
    # a day old: a reindex catches up what changed in its last minutes (CATCH_UP_MARGIN), which a fresh
    # corpus would all be; a store's examples are mostly older than that
    written_at = datetime.now(UTC) - timedelta(days=1)
    engine = ledger._engine  # a bench's bulk load: the ledger has no verb for N rows without feedback
    for start in range(0, n, WRITE_CHUNK):
        rows = range(start, min(n, start + WRITE_CHUNK))
        base = [row % len(base_texts) for row in rows]
        texts = [f"{base_texts[b]} (case {row})" for b, row in zip(base, rows, strict=True)]
        ids = [f"bench{row:027d}" for row in rows]
        vectors = base_vectors[base] + rng.normal(
            0, NOISE / np.sqrt(embedder.dimension), (len(base), embedder.dimension)
        )
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        with engine.begin() as connection:
            connection.execute(
                insert(ExampleRow),
                [
                    {
                        "id": example_id,
                        "task": TASKS[row % len(TASKS)],
                        "domain": None,
                        "kind": "correction",
                        "input": text,
                        "output": f"the reviewed answer to case {row}",
                        "quality": 1.0,
                        "created_at": written_at,
                        "updated_at": written_at,
                        "provenance": {},
                    }
                    for example_id, row, text in zip(ids, rows, texts, strict=True)
                ],
            )
        sidecar.put(embedder, ids, texts, vectors)
    sidecar.close()
    ledger.close()
    embedder.close()
    return {
        "examples": n,
        "written_directly": "ledger rows and sidecar vectors (no loop, no embedding per example)",
        "vectors": f"{len(base_texts)} texts embedded once by the model, each example one of them plus noise",
        "seconds": round(time.perf_counter() - started, 1),
    }


def _measure_in_child(home: Path, model: str | None) -> dict[str, Any]:
    """One `Runtime.reindex` in a child process (its own peak RSS): the figures it prints last."""
    command = [sys.executable, "-m", "bench.reindex", str(home), model or ""]
    done = subprocess.run(
        command, env=_home_env(home), cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the reindex run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_reindex(home: Path, model: str | None) -> dict[str, Any]:
    """In the child: reindex the home's store, timed, with where the time went."""
    from pipelines.runtime import Runtime

    runtime = Runtime(_settings(home, model or None))
    runtime.embedder  # noqa: B018 -- the model loads before the clock starts (a service has it loaded)
    runtime.store.connection.client()  # and Chroma's folder open, as in a running API
    stages: dict[str, float] = {}
    cpu_before = _cpu_s()
    started = time.perf_counter()

    def on_progress(stage: str, done: int, total: int | None) -> None:
        if done == 0:
            stages["ledger_read_s"] = round(time.perf_counter() - started, 2)

    report = runtime.reindex(on_progress=on_progress)
    seconds = time.perf_counter() - started
    figures = {
        "seconds": round(seconds, 2),
        # this process's CPU time, every thread (Chroma's too): on a machine shared with other work the
        # wall clock is an upper bound, and this says how much of it was this reindex's own
        "cpu_s": round(_cpu_s() - cpu_before, 2),
        "examples_per_s": round(report.indexed / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "embedded": runtime.embedder.documents_encoded,
        "indexed": report.indexed,
        "count": report.count,
        "model": runtime.embedder.name,
        **stages,
    }
    runtime.store.close()
    return figures


def chroma_floor(home: Path, n: int) -> dict[str, Any]:
    """Writing N of the sidecar's vectors into one fresh collection with the store's HNSW settings: the
    Chroma stage alone, nothing read from the ledger, nothing embedded."""
    import sqlite3

    import chromadb
    from chromadb.config import Settings

    config = _settings(home).retrieval.chroma
    with sqlite3.connect(home / "example-vectors.sqlite") as connection:
        ids, blobs = zip(*connection.execute("SELECT example_id, vector FROM example_vectors"), strict=True)
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), -1)
    client = chromadb.PersistentClient(
        path=str(home / "chroma-floor"), settings=Settings(anonymized_telemetry=False)
    )
    hnsw = {
        "space": "cosine",
        "ef_search": config.ef_search,
        "ef_construction": config.ef_construction,
        "max_neighbors": config.max_neighbors,
    }
    collection = client.create_collection("floor", embedding_function=None, configuration={"hnsw": hnsw})  # type: ignore[arg-type]
    cpu_before = _cpu_s()
    started = time.perf_counter()
    for start in range(0, len(ids), 5000):
        collection.upsert(ids=list(ids[start : start + 5000]), embeddings=vectors[start : start + 5000])
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "cpu_s": round(_cpu_s() - cpu_before, 2),
        "vectors_per_s": round(n / seconds, 1),
        "vectors": len(ids),
    }


def run(
    n_examples: int = 100_000,
    model_change: bool | None = None,
    model_change_max: int = 20_000,
    floor: bool = True,
    seed: int = 0,
    keep: bool = False,
) -> dict[str, Any]:
    """`tacit reindex` of an N-example store: copying the kept vectors (top level), after a model change
    (re-embedding), and Chroma's own write of N vectors (the floor). See the module docstring."""
    if n_examples < 1:
        from pipelines.errors import BadInput

        raise BadInput(f"--n-examples must be at least 1, got {n_examples}")
    home = Path(tempfile.mkdtemp(prefix="tacit-bench-reindex-"))
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        say(f"writing {n_examples:,} examples under the throwaway home {home}")
        corpus = _write_corpus(home, n_examples, seed)
        say(f"reindexing, same model (vectors copied), {corpus['seconds']} s to write the corpus")
        same = _measure_in_child(home, None)
        result: dict[str, Any] = {"n_examples": n_examples, **same, "corpus": corpus}
        if floor:
            say("the Chroma stage alone (the floor)")
            result["chroma_floor"] = chroma_floor(home, n_examples)
            shutil.rmtree(home / "chroma-floor", ignore_errors=True)
        if model_change if model_change is not None else n_examples <= model_change_max:
            from retrieval.settings import bundled_model_path

            renamed = home / "model-b"  # the same weights under another name: a model change to the store
            shutil.copytree(bundled_model_path(), renamed)
            say("reindexing after a model change (every text embedded again)")
            result["model_change"] = _measure_in_child(home, str(renamed))
        else:
            result["model_change"] = (
                f"not run: N > model_change_max={model_change_max} (model_change=true forces it)"
            )
        return result
    finally:
        if keep:
            say(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":  # the child of _measure_in_child: bench.reindex HOME [MODEL]
    print(json.dumps(measure_reindex(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)))
