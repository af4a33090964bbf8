"""Benchmark: the Argilla search calls an annotation team makes, on tacit's `sql` search engine.

Seeds a dataset of N records (text fields, terms/integer/float metadata, a suggestion, a 384-d vector) with two
annotators' responses on a share of them, then times the calls behind the pages an annotator opens (issue 8):
the pending queue page, a text query, a metadata filter + sort, similarity by record, dataset progress, the
annotator's progress and metadata metrics. `run()` returns
`{"records", "calls": {NAME: {"p50_ms", "p95_ms"}}, "max_p95_ms", "server_rss_mb", ...}`.

By default (`server=throwaway`) it starts its own Argilla server (the stack's `tacit_argilla serve` with
the stack's environment, but a temporary ARGILLA_HOME, its own Redis, its own users, no worker and no webhooks)
and stops it afterwards, so a user's live stack never sees the benchmark's records or events. The first batch
goes through Argilla's records bulk API (validated as any client's); the rest is written by
`tacit_argilla load-records`, which writes the rows the bulk API writes, about a hundred times faster.
With `baseline=true` the same data is measured again on a server whose engine runs without its accelerations (no
FTS5 index, no vector matrix cache, none of the engine's `tacit_*` indexes on Argilla's tables): this benchmark
patches them out of a subclass of the engine (`UNACCELERATED_SERVER`; the engine has no switch of its own).
Figures under "baseline" and baseline/engine p95 ratios under "ratios".
`server=stack` measures the running stack's Argilla instead (seeding through the API only: slow, and every
record makes a webhook event for the stack's subscribers).

Standalone: python bench/argilla_search.py [--records 20000] [--repeats 30] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import httpx
import psutil

from pipelines.errors import BadInput, MissingPrerequisite

DOMAINS = ["clinical", "infrastructure", "billing", "manufacturing"]
WORDS = {
    "clinical": [
        "discharge",
        "note",
        "patient",
        "medication",
        "dose",
        "warfarin",
        "cardiology",
        "follow-up",
        "allergy",
    ],
    "infrastructure": [
        "snapshot",
        "cluster",
        "staging",
        "production",
        "rollback",
        "deploy",
        "node",
        "database",
        "migration",
    ],
    "billing": [
        "charge",
        "refund",
        "invoice",
        "duplicate",
        "subscription",
        "dispute",
        "payment",
        "annual",
        "contract",
    ],
    "manufacturing": [
        "bearing",
        "spindle",
        "vibration",
        "lubrication",
        "line",
        "shift",
        "calibration",
        "alarm",
        "defect",
    ],
}
VERDICTS = ["accept", "edit", "reject"]
BULK_SIZE = 500  # Argilla's records bulk limit
# Run by .venv-argilla's python in place of `python -m tacit_argilla` for the baseline: the engine without its
# accelerations, as a subclass registered before the launcher's `serve` registers the engine (first wins). Text
# queries are scored in Python record by record instead of through the FTS5 index, vectors are read and scored
# on every similarity query instead of cached, and the engine's indexes are dropped, so the baseline measures
# Argilla's own schema (the next normal start creates them again).
UNACCELERATED_SERVER = r"""
import functools, json, sys
from argilla_server.database import AsyncSessionLocal, async_engine
from sqlalchemy import event, text
from tacit_argilla import __main__ as launcher, sql_engine
from tacit_argilla.text_index import parse_query, python_text_score, record_texts, to_match_query

@functools.lru_cache(maxsize=64)
def parsed(q):
    return parse_query(q)

def text_score(fields_json, field, q):
    texts = record_texts(json.loads(fields_json) if fields_json else {})
    return python_text_score(parsed(q), texts.get(field, ""))

class UnacceleratedEngine(sql_engine.SQLSearchEngine):
    indexes_dropped = False

    async def _prepare_indexes(self):
        if UnacceleratedEngine.indexes_dropped:
            return
        async with AsyncSessionLocal() as db:
            listed = "SELECT name FROM sqlite_master WHERE type = 'index' AND substr(name, 1, 6) = 'tacit_'"
            for name in (await db.execute(text(listed))).scalars().all():
                await db.execute(text(f"DROP INDEX {name}"))
            await db.commit()
        UnacceleratedEngine.indexes_dropped = True

    async def configure_metadata_property(self, dataset, metadata_property):
        pass

    async def _text_part(self, db, dataset, p, text_query):
        if to_match_query(text_query.q).is_empty:
            return None
        field = p(text_query.field or sql_engine.ALL_FIELDS)
        scored = (
            f"SELECT s.id AS record_id, tacit_text_score(s.fields, {field}, {p(text_query.q)}) AS score "
            f"FROM records s WHERE s.dataset_id = {p(dataset.id.hex)}"
        )
        return sql_engine.TextPart([f"t AS MATERIALIZED ({scored})"], True, ["t.score > 0"])

    async def _matrix(self, db, dataset, vector_settings):
        sql_engine._vectors.invalidate_dataset(dataset.id.hex)
        return await super()._matrix(db, dataset, vector_settings)

def register_text_score(connection, _record):
    connection.create_function("tacit_text_score", 3, text_score, deterministic=True)

sql_engine.register_engine(UnacceleratedEngine)
event.listen(async_engine.sync_engine, "connect", register_text_score)
sys.argv = ["tacit_argilla", *sys.argv[1:]]
launcher.main()
"""
START_TIMEOUT_S = 300  # argilla_server takes tens of seconds to import on a busy 2-core machine


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def _timed(call: Callable[[], httpx.Response], repeats: int) -> dict[str, float]:
    call().raise_for_status()  # warm-up (fills caches such as the vector matrix)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        reply = call()
        samples.append((time.perf_counter() - start) * 1000)
        reply.raise_for_status()
    return {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(_percentile(samples, 95), 1)}


def _client(url: str, api_key: str) -> httpx.Client:
    # identity: the server would otherwise gzip every bulk reply, CPU the benchmark does not measure
    headers = {"X-Argilla-Api-Key": api_key, "Accept-Encoding": "identity"}
    return httpx.Client(base_url=url, headers=headers, timeout=300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mb(value: int) -> float:
    return round(value / 2**20, 1)


# --- a throwaway Argilla server ------------------------------------------------------------------------


class Login(NamedTuple):  # not a dataclass: `tacit bench` runs this file without registering it as a module
    username: str
    role: str
    api_key: str


class ThrowawayArgilla:
    """Redis + `tacit_argilla serve` under a temporary ARGILLA_HOME, with an owner and two annotators.

    The environment is the stack's (`pipelines.stack.catalogue.argilla_env`) with the home, database and Redis moved;
    no worker runs and no webhook is registered. `restart(unaccelerated)` serves the same database again, e.g.
    with the engine's accelerations off."""

    def __init__(self, keep: bool = False) -> None:
        from pipelines.config import PROJECT_ROOT, TacitSettings
        from pipelines.stack.catalogue import ARGILLA_PYTHON, argilla_env, redis_server_binary

        self.python, self.root, self.keep = str(ARGILLA_PYTHON), PROJECT_ROOT, keep
        self.dir = Path(tempfile.mkdtemp(prefix="tacit-argilla-bench-"))
        home = self.dir / "argilla"
        home.mkdir()
        redis_port = _free_port()
        self.env = {
            **os.environ,
            **argilla_env(TacitSettings()),
            "ARGILLA_HOME_PATH": str(home),
            "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'argilla.db'}?check_same_thread=False",
            "ARGILLA_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        }
        self.logins = [Login("owner", "owner", secrets.token_urlsafe(24))] + [
            Login(name, "annotator", secrets.token_urlsafe(24)) for name in ("bench-alice", "bench-bob")
        ]
        self.server: psutil.Popen | None = None
        self.url = ""
        self.redis = subprocess.Popen(
            [str(redis_server_binary()), "--bind", "127.0.0.1", "--port", str(redis_port), "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        users = [
            {
                "username": u.username,
                "password": secrets.token_urlsafe(12),
                "role": u.role,
                "api_key": u.api_key,
            }
            for u in self.logins
        ]
        self._argilla("bootstrap", stdin=json.dumps(users))

    def _argilla(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [self.python, "-m", "tacit_argilla", *args],
            cwd=self.root,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tacit_argilla {args[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, unaccelerated: bool = False) -> None:
        port = _free_port()
        self.log = open(self.dir / f"argilla-{port}.log", "wb")  # noqa: SIM115 - closed in stop()
        launcher = ["-c", UNACCELERATED_SERVER] if unaccelerated else ["-m", "tacit_argilla"]
        self.server = psutil.Popen(
            [self.python, *launcher, "serve", "--port", str(port), "--no-access-log"],
            cwd=self.root,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"the benchmark's Argilla server exited at start; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/api/v1/status", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the benchmark's Argilla server did not answer in {START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except psutil.TimeoutExpired:
                self.server.kill()
                self.server.wait(10)
            self.log.close()
        self.server = None

    def restart(self, unaccelerated: bool = False) -> None:
        self.stop()
        self.start(unaccelerated)

    def rss_mb(self) -> tuple[float, float]:
        """The server's resident memory now and its peak (VmHWM) in MiB."""
        assert self.server is not None
        peak = 0
        with open(f"/proc/{self.server.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
        return _mb(self.server.memory_info().rss), _mb(peak)

    def load(self, dataset_id: str, items: Iterator[dict]) -> None:
        """Write records through `tacit_argilla load-records` (JSON lines streamed on stdin)."""
        loader = subprocess.Popen(
            [self.python, "-m", "tacit_argilla", "load-records", "--dataset-id", dataset_id],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for item in items:
                loader.stdin.write(json.dumps(item) + "\n")
        except BrokenPipeError:
            pass  # the loader stopped early; its message follows
        out, err = loader.communicate()
        if loader.returncode != 0:
            raise RuntimeError(f"load-records failed: {err[-3000:]}")

    def close(self) -> None:
        self.stop()
        self.redis.terminate()
        self.redis.wait(10)
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- the dataset and its records -------------------------------------------------------------------------


def _create_dataset(owner: httpx.Client, annotator_ids: list[str], dims: int) -> dict:
    stamp = datetime.now().strftime("%Y%m%d%H%M%S%f")
    workspace = owner.post("/api/v1/workspaces", json={"name": f"bench-{stamp}"}).raise_for_status().json()
    for user_id in annotator_ids:
        owner.post(
            f"/api/v1/workspaces/{workspace['id']}/users", json={"user_id": user_id}
        ).raise_for_status()
    ds = owner.post("/api/v1/datasets", json={"name": f"bench-{stamp}", "workspace_id": workspace["id"]})
    ds = ds.raise_for_status().json()
    base = f"/api/v1/datasets/{ds['id']}"
    for name in ("prompt", "draft"):
        owner.post(
            f"{base}/fields", json={"name": name, "title": name, "settings": {"type": "text"}}
        ).raise_for_status()
    verdict = (
        owner.post(
            f"{base}/questions",
            json={
                "name": "verdict",
                "title": "verdict",
                "required": True,
                "settings": {
                    "type": "label_selection",
                    "options": [{"value": v, "text": v} for v in VERDICTS],
                },
            },
        )
        .raise_for_status()
        .json()
    )
    metadata = {}
    for name, settings in (
        ("domain", {"type": "terms", "values": DOMAINS}),
        ("amount", {"type": "integer"}),
        ("risk", {"type": "float"}),
    ):
        reply = owner.post(
            f"{base}/metadata-properties", json={"name": name, "title": name, "settings": settings}
        )
        metadata[name] = reply.raise_for_status().json()["id"]
    owner.post(
        f"{base}/vectors-settings", json={"name": "embedding", "title": "embedding", "dimensions": dims}
    )
    owner.put(f"{base}/publish").raise_for_status()
    return {
        "id": ds["id"],
        "verdict_id": verdict["id"],
        "metadata": metadata,
        "workspace_id": workspace["id"],
    }


def _items(
    ds: dict, start: int, stop: int, annotator_ids: list[str], dims: int, rng: random.Random
) -> Iterator[dict]:
    """Records start..stop-1 as items of the records bulk API."""
    for i in range(start, stop):
        domain = DOMAINS[i % len(DOMAINS)]
        words = WORDS[domain]
        item = {
            "external_id": f"r{i}",
            "fields": {
                "prompt": " ".join(rng.choices(words, k=12)),
                "draft": " ".join(rng.choices(words, k=20)),
            },
            "metadata": {"domain": domain, "amount": rng.randint(0, 5000), "risk": round(rng.random(), 3)},
            "suggestions": [
                {
                    "question_id": ds["verdict_id"],
                    "value": rng.choice(VERDICTS),
                    "score": round(rng.random(), 3),
                    "agent": rng.choice(["drafter-v1", "drafter-v2"]),
                }
            ],
            "vectors": {"embedding": [round(rng.gauss(0, 1), 4) for _ in range(dims)]},
        }
        # about a third answered by the first annotator, a fifth by the second
        responses = []
        if annotator_ids and i % 3 == 0:
            responses.append(
                {
                    "user_id": annotator_ids[0],
                    "status": "submitted",
                    "values": {"verdict": {"value": rng.choice(VERDICTS)}},
                }
            )
        if len(annotator_ids) > 1 and i % 5 == 0:
            responses.append(
                {
                    "user_id": annotator_ids[1],
                    "status": rng.choice(["submitted", "draft"]),
                    "values": {"verdict": {"value": rng.choice(VERDICTS)}},
                }
            )
        if responses:
            item["responses"] = responses
        yield item


def _post_bulk(owner: httpx.Client, ds: dict, items: Iterator[dict]) -> None:
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) == BULK_SIZE:
            owner.post(f"/api/v1/datasets/{ds['id']}/records/bulk", json={"items": batch}).raise_for_status()
            batch = []
    if batch:
        owner.post(f"/api/v1/datasets/{ds['id']}/records/bulk", json={"items": batch}).raise_for_status()


# --- the measured calls ----------------------------------------------------------------------------------


def _calls(
    owner: httpx.Client, queue_client: httpx.Client, ds: dict
) -> dict[str, Callable[[], httpx.Response]]:
    dsid = ds["id"]
    search = f"/api/v1/datasets/{dsid}/records/search"
    some_record = (
        owner.post(search, json={}, params={"limit": 1}).raise_for_status().json()["items"][0]["record"]["id"]
    )
    pending = {
        "filters": {
            "and": [
                {
                    "type": "terms",
                    "scope": {"entity": "response", "property": "status"},
                    "values": ["pending"],
                }
            ]
        }
    }
    return {
        "pending_queue_page": lambda: queue_client.post(
            f"/api/v1/me/datasets/{dsid}/records/search",
            json={
                **pending,
                "sort": [{"scope": {"entity": "record", "property": "inserted_at"}, "order": "asc"}],
            },
            params={"limit": 10, "include": ["responses", "suggestions"]},
        ),
        "text_query": lambda: owner.post(
            search, json={"query": {"text": {"q": "duplicate charge"}}}, params={"limit": 50}
        ),
        "metadata_filter_sort": lambda: owner.post(
            search,
            json={
                "filters": {
                    "and": [
                        {
                            "type": "terms",
                            "scope": {"entity": "metadata", "metadata_property": "domain"},
                            "values": ["billing", "clinical"],
                        },
                        {
                            "type": "range",
                            "scope": {"entity": "metadata", "metadata_property": "amount"},
                            "ge": 1000,
                        },
                    ]
                },
                "sort": [{"scope": {"entity": "metadata", "metadata_property": "risk"}, "order": "desc"}],
            },
            params={"limit": 50},
        ),
        "similarity_by_record": lambda: owner.post(
            search,
            json={"query": {"vector": {"name": "embedding", "record_id": some_record}}},
            params={"limit": 50},
        ),
        "dataset_progress": lambda: owner.get(f"/api/v1/datasets/{dsid}/progress"),
        "user_progress": lambda: queue_client.get(f"/api/v1/me/datasets/{dsid}/metrics"),
        "metadata_metrics": lambda: owner.get(
            f"/api/v1/metadata-properties/{ds['metadata']['domain']}/metrics"
        ),
    }


def _measure(calls: dict[str, Callable[[], httpx.Response]], repeats: int) -> dict:
    figures = {name: _timed(call, repeats) for name, call in calls.items()}
    return {"calls": figures, "max_p95_ms": max(f["p95_ms"] for f in figures.values())}


def _rss_from_status(status: dict) -> float:
    import re

    rss = str(status.get("memory", {}).get("rss", "0"))
    number, unit = re.fullmatch(r"([\d.]+)\s*([KMGT]?)i?B?", rss).groups()
    return round(float(number) * {"": 1 / 2**20, "K": 1 / 1024, "M": 1, "G": 1024, "T": 2**20}[unit], 1)


def _run_throwaway(
    records: int, repeats: int, dims: int, seed: int, baseline: bool, baseline_repeats: int, keep: bool
) -> dict:
    argilla = ThrowawayArgilla(keep=keep)
    try:
        argilla.start()
        owner_login, *annotator_logins = argilla.logins
        owner = _client(argilla.url, owner_login.api_key)
        annotators = [_client(argilla.url, login.api_key) for login in annotator_logins]
        annotator_ids = [c.get("/api/v1/me").raise_for_status().json()["id"] for c in annotators]
        ds = _create_dataset(owner, annotator_ids, dims)
        rng = random.Random(seed)
        through_api = min(records, BULK_SIZE)
        seed_start = time.perf_counter()
        _post_bulk(owner, ds, _items(ds, 0, through_api, annotator_ids, dims, rng))
        if records > through_api:
            argilla.load(ds["id"], _items(ds, through_api, records, annotator_ids, dims, rng))
        seed_s = time.perf_counter() - seed_start
        print(f"seeded {records} records in {seed_s:.1f} s ({through_api} through the bulk API)", flush=True)
        result = {"records": records, **_measure(_calls(owner, annotators[0], ds), repeats)}
        result["server_rss_mb"], result["server_peak_rss_mb"] = argilla.rss_mb()
        result |= {
            "seed_s": round(seed_s, 1),
            "seeded_through_api": through_api,
            "dims": dims,
            "server": "throwaway",
        }
        print(f"engine: max p95 {result['max_p95_ms']} ms, RSS {result['server_rss_mb']} MiB", flush=True)
        if baseline:
            argilla.restart(unaccelerated=True)
            owner = _client(argilla.url, owner_login.api_key)
            queue = _client(argilla.url, annotator_logins[0].api_key)
            base = _measure(_calls(owner, queue, ds), baseline_repeats)
            base["repeats"] = baseline_repeats
            base["server_rss_mb"], base["server_peak_rss_mb"] = argilla.rss_mb()
            result["baseline"] = base
            result["ratios"] = {
                name: round(base["calls"][name]["p95_ms"] / max(f["p95_ms"], 0.1), 2)
                for name, f in result["calls"].items()
            }
            print(f"baseline: max p95 {base['max_p95_ms']} ms", flush=True)
        if keep:
            result["kept"] = str(argilla.dir)
        return result
    finally:
        argilla.close()


def _run_on_stack(
    argilla_url: str,
    api_key: str,
    annotator_api_keys: list[str],
    records: int,
    repeats: int,
    dims: int,
    seed: int,
) -> dict:
    owner = _client(argilla_url, api_key)
    annotators = [_client(argilla_url, key) for key in annotator_api_keys]
    annotator_ids = [c.get("/api/v1/me").raise_for_status().json()["id"] for c in annotators]
    ds = _create_dataset(owner, annotator_ids, dims)
    seed_start = time.perf_counter()
    _post_bulk(owner, ds, _items(ds, 0, records, annotator_ids, dims, random.Random(seed)))
    seed_s = time.perf_counter() - seed_start
    try:
        result = {
            "records": records,
            **_measure(_calls(owner, annotators[0] if annotators else owner, ds), repeats),
        }
        result["server_rss_mb"] = _rss_from_status(owner.get("/api/v1/status").raise_for_status().json())
    finally:
        owner.delete(f"/api/v1/datasets/{ds['id']}").raise_for_status()
        owner.delete(f"/api/v1/workspaces/{ds['workspace_id']}")
    return {
        **result,
        "seed_s": round(seed_s, 1),
        "seeded_through_api": records,
        "dims": dims,
        "server": "stack",
    }


def run(
    records: int = 20000,
    repeats: int = 30,
    dims: int = 384,
    seed: int = 0,
    baseline: bool = False,
    baseline_repeats: int = 5,
    server: str = "throwaway",
    argilla_url: str | None = None,
    api_key: str | None = None,
    annotator_api_keys: list[str] | None = None,
    keep: bool = False,
) -> dict:
    """Seed `records` records, time each call `repeats` times (after one warm-up) and return the figures.

    server: `throwaway` (default; a private Argilla server, see the module docstring) or `stack` (the running
    stack's Argilla at `argilla_url` with the owner's `api_key`; the CLI fills both from the configuration).
    baseline: also measure with the engine's accelerations off (throwaway only), `baseline_repeats` times per
    call (its text and similarity calls take seconds each, so fewer samples: its p95 is then the slowest). keep: keep the throwaway
    server's files (their folder is reported as "kept")."""
    if records < 1:
        raise BadInput(f"records={records}: seed at least one record")
    if server == "throwaway":
        return _run_throwaway(records, repeats, dims, seed, baseline, baseline_repeats, keep)
    if server != "stack":
        raise BadInput(
            f"server={server!r}: choose `throwaway` (a private Argilla) or `stack` (the running one)"
        )
    if not argilla_url or not api_key:
        raise MissingPrerequisite("server=stack needs the running stack's Argilla: start it with `tacit up`")
    if baseline:
        raise BadInput(
            "baseline=true restarts Argilla with the accelerations off, which only the throwaway server allows"
        )
    return _run_on_stack(argilla_url, api_key, annotator_api_keys or [], records, repeats, dims, seed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--baseline", action="store_true", help="also measure with the accelerations off")
    parser.add_argument("--baseline-repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the throwaway server's files")
    args = parser.parse_args()
    result = run(
        args.records,
        args.repeats,
        args.dims,
        baseline=args.baseline,
        baseline_repeats=args.baseline_repeats,
        keep=args.keep,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
