"""The example store and retriever with the real all-MiniLM-L6-v2 model and a real Chroma in a temp dir."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import Embedder
from retrieval.prompt_block import build_prompt_block
from retrieval.retriever import Retriever
from retrieval.settings import ChromaSettings
from retrieval.store import ExampleStore, StoreUnavailable
from retrieval.types import Example, Provenance

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def example(id: str, task: str, kind: str, input: str, output: str = "", **extra: object) -> Example:
    extra.setdefault("created_at", NOW - timedelta(days=1))
    extra.setdefault(
        "provenance",
        Provenance(
            dataset="corrections",
            record_id=f"rec-{id}",
            response_id=f"resp-{id}",
            user="alice",
            time=NOW - timedelta(days=1),
        ),
    )
    return Example(id=id, task=task, kind=kind, input=input, output=output, **extra)  # type: ignore[arg-type]


# One or two examples per seed scenario, in our own words.
SEED = [
    example(
        "clin-1",
        "clinical-note",
        "correction",
        "Dictation: 61-year-old woman, crushing chest pressure spreading to the jaw for two hours, sweating, "
        "ST elevation in V1 to V4, troponin not back yet.",
        "Assessment: anterior STEMI, high suspicion, awaiting troponin confirmation.",
        reason="'possible' understates it; the team acts on high suspicion",
        domain="healthcare",
    ),
    example(
        "clin-2",
        "clinical-note",
        "correction",
        "Dictation: 7-year-old with three days of fever, barking cough and stridor at rest.",
        "Assessment: moderate croup with stridor at rest.",
        domain="healthcare",
    ),
    example(
        "infra-1",
        "infra-change",
        "lesson",
        "Disk on database server db-main-02 at 97% because transaction logs were never archived; the agent "
        "proposes running the log archive script right away.",
        "run the transaction log archive on db-main-02 while the nightly batch job is running",
        reason="the batch job already saturates disk I/O; schedule the archive for 02:00 UTC",
        domain="infrastructure",
    ),
    example(
        "infra-2",
        "infra-change",
        "accepted",
        "Web tier CPU pinned at 95% for twenty minutes right after a deploy; proposal: roll back the release.",
        "Approved: roll the web tier back to the previous release.",
        domain="infrastructure",
    ),
    example(
        "pay-1",
        "support-chat",
        "resolution",
        "Customer writes that a $1,920 charge from last Tuesday was never authorised and is furious.",
        "Apologise, open a formal dispute, grant a provisional credit and hand over to the fraud team.",
        domain="payments",
    ),
    example(
        "pay-2",
        "support-chat",
        "correction",
        "Customer asks how to change the e-mail address on the account.",
        "Settings > Profile > E-mail; we send a confirmation link to the new address.",
        domain="payments",
    ),
    example(
        "mfg-1",
        "root-cause",
        "knowledge",
        "The spindle on press line 3 shows a slowly rising 120 Hz vibration peak.",
        "On line 3 that vibration pattern has always come about two weeks before a bearing failure; "
        "replace the bearing at the next stop.",
        reason="years of maintenance history that is not in the manual",
        domain="manufacturing",
        meta={"plant": "north"},
    ),
    example(
        "mfg-2",
        "root-cause",
        "correction",
        "Weld seams in batch 4471 show porosity since the shielding gas supplier was changed.",
        "Root cause: moisture in the new gas supply; purge the lines and test the gas dew point.",
        domain="manufacturing",
        meta={"plant": "south"},
    ),
]

PARAPHRASES = [
    (
        "58 year old man with chest pain going down his left arm, diaphoresis, ST elevation inferior leads, "
        "troponin pending",
        "clin-1",
    ),
    (
        "The primary DB server is nearly out of disk from unarchived transaction logs and the bot wants to "
        "archive them immediately",
        "infra-1",
    ),
    ("I never approved this $2,847 payment on my card and I am very upset", "pay-1"),
    ("Abnormal vibration signature growing on the line 3 press spindle", "mfg-1"),
    ("Our welds are full of pores ever since we switched gas vendor", "mfg-2"),
]

# A crafted set for diversity: three near-paraphrases of one answer and two other password topics.
PASSWORD = [
    example(
        "pw-1",
        "helpdesk",
        "accepted",
        "How do I reset my password?",
        "Use 'Forgot password' on the login page.",
    ),
    example(
        "pw-2", "helpdesk", "accepted", "How can I reset my account password?", "Click 'Forgot password'."
    ),
    example(
        "pw-3",
        "helpdesk",
        "accepted",
        "Steps to reset a forgotten password",
        "The login page has a reset link.",
    ),
    example(
        "pw-4",
        "helpdesk",
        "accepted",
        "My account got locked after too many wrong password attempts",
        "Wait 15 minutes or ask IT to unlock it.",
    ),
    example(
        "pw-5",
        "helpdesk",
        "accepted",
        "What are the password length and complexity rules?",
        "At least 14 characters, no reuse of the last 5.",
    ),
]


def open_store(path: Path, embedder: Embedder) -> ExampleStore:
    return ExampleStore(ChromaSettings(path=path), embedder)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Retriever]:
    store = open_store(tmp_path_factory.mktemp("chroma") / "chroma", embedder)
    store.upsert(SEED + PASSWORD)
    yield Retriever(store, embedder)
    store.close()


@pytest.mark.parametrize(("query", "expected"), PARAPHRASES)
def test_paraphrase_finds_its_scenario_first(seeded: Retriever, query: str, expected: str) -> None:
    found = seeded.search(query, k=3)
    assert found[0].example.id == expected
    assert found[0].example.provenance.record_id == f"rec-{expected}"
    assert found[0].example.provenance.user == "alice"


def test_task_filter_excludes_other_tasks(seeded: Retriever) -> None:
    # The clinical query, restricted to the payments task, must not leak the clinical example.
    found = seeded.search(PARAPHRASES[0][0], k=5, filters={"task": "support-chat"}, min_score=-1)
    assert found, "the filtered task has examples, so some must come back with min_score=-1"
    assert {hit.example.task for hit in found} == {"support-chat"}


def test_kind_in_and_meta_filters(seeded: Retriever) -> None:
    found = seeded.search(
        "machine problem on the production line", k=5, filters={"kind": ["knowledge", "lesson"]}, min_score=-1
    )
    assert {hit.example.kind.value for hit in found} <= {"knowledge", "lesson"}
    assert {hit.example.id for hit in found} == {"mfg-1", "infra-1"}
    south = seeded.search(
        "problem on the production line", k=5, filters={"meta.plant": "south"}, min_score=-1
    )
    assert [hit.example.id for hit in south] == ["mfg-2"]


def test_min_score_drops_unrelated_examples(seeded: Retriever) -> None:
    assert seeded.search("recipe for banana bread with walnuts", k=5, min_score=0.5) == []


def test_mmr_is_more_diverse_than_plain_top_k(seeded: Retriever, embedder: Embedder) -> None:
    query, task = "I forgot my password, how do I reset it?", {"task": "helpdesk"}
    plain = seeded.search(query, k=3, filters=task, dedupe=False)
    diverse = seeded.search(query, k=3, filters=task, dedupe=False, mmr=True, mmr_lambda=0.3)

    def mean_pairwise_similarity(hits: list) -> float:
        vectors = embedder.encode_documents([hit.example.input for hit in hits])
        sims = vectors @ vectors.T
        return float(sims[np.triu_indices(len(hits), 1)].mean())

    assert {hit.example.id for hit in plain} == {"pw-1", "pw-2", "pw-3"}
    assert diverse[0].example.id == plain[0].example.id  # MMR still starts from the most relevant
    assert {"pw-4", "pw-5"} & {hit.example.id for hit in diverse}
    assert mean_pairwise_similarity(diverse) < mean_pairwise_similarity(plain)


def test_near_duplicates_are_suppressed(tmp_path: Path, embedder: Embedder) -> None:
    store = open_store(tmp_path / "chroma", embedder)
    twins = [
        example("dup-1", "helpdesk", "accepted", "How do I reset my password?", "Use the reset link."),
        example(
            "dup-2",
            "helpdesk",
            "accepted",
            "how do I reset my password",
            "Use the reset link on the login page.",
        ),
        example(
            "other", "helpdesk", "accepted", "My account got locked after failed logins", "Wait 15 minutes."
        ),
    ]
    store.upsert(twins)
    retriever = Retriever(store, embedder)
    kept = [hit.example.id for hit in retriever.search("reset password", k=3, min_score=-1)]
    assert kept == ["dup-1", "other"] or kept == ["dup-2", "other"]
    every = {hit.example.id for hit in retriever.search("reset password", k=3, min_score=-1, dedupe=False)}
    assert every == {"dup-1", "dup-2", "other"}
    store.close()


def test_quality_and_recency_weighting_reorder(tmp_path: Path, embedder: Embedder) -> None:
    store = open_store(tmp_path / "chroma", embedder)
    store.upsert(
        [
            example(
                "old-good",
                "helpdesk",
                "accepted",
                "How do I reset my password?",
                "a",
                quality=1.0,
                created_at=NOW - timedelta(days=720),
            ),
            example(
                "new-poor",
                "helpdesk",
                "accepted",
                "Steps to reset a forgotten password",
                "b",
                quality=0.2,
                created_at=NOW,
            ),
        ]
    )
    retriever = Retriever(store, embedder)
    query = "How do I reset my password?"
    assert retriever.search(query, k=1, now=NOW)[0].example.id == "old-good"
    by_recency = retriever.search(query, k=2, recency_weight=1.0, now=NOW)
    assert by_recency[0].example.id == "new-poor"
    assert by_recency[1].score < by_recency[1].similarity  # two-year-old example decayed
    by_quality = retriever.search(query, k=2, quality_weight=1.0, recency_weight=1.0, now=NOW)
    assert by_quality[0].example.id == "old-good" or by_quality[0].score > by_quality[1].score
    store.close()


def test_upsert_is_idempotent_and_delete_withdraws(tmp_path: Path, embedder: Embedder) -> None:
    store = open_store(tmp_path / "chroma", embedder)
    assert store.upsert(SEED) == len(SEED)
    store.upsert(SEED)
    assert store.count() == len(SEED)
    edited = SEED[0].model_copy(update={"output": "Assessment: anterior STEMI, confirmed."})
    store.upsert([edited])
    assert store.get([SEED[0].id])[0].output == "Assessment: anterior STEMI, confirmed."
    assert store.get([SEED[0].id])[0] == edited  # every field survives the round trip through Chroma
    moved = SEED[1].model_copy(update={"task": "paediatrics"})  # relabelled: must leave its old task
    store.upsert([moved])
    assert store.count() == len(SEED)
    assert store.get([moved.id]) == [moved]
    store.delete([SEED[0].id, "never-existed"])
    assert store.count() == len(SEED) - 1
    assert SEED[0].id not in store.ids()
    retriever = Retriever(store, embedder)
    assert all(hit.example.id != SEED[0].id for hit in retriever.search(PARAPHRASES[0][0], k=5, min_score=-1))
    store.close()


def test_a_task_another_process_wrote_first_is_searched_once_the_listing_is_old(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two stores on one Chroma (two API replicas): the reader listed its partitions before the writer
    created a new task's; it searches that task as soon as its listing is older than the max age."""
    import retrieval.partitions

    reader, writer = open_store(tmp_path / "chroma", embedder), open_store(tmp_path / "chroma", embedder)
    reader.upsert(SEED[:1])
    assert set(reader.partitions()) == {SEED[0].task}
    writer.upsert(PASSWORD)  # a task the reader has not listed
    retriever = Retriever(reader, embedder)
    query = PASSWORD[0].input
    assert all(hit.example.task != PASSWORD[0].task for hit in retriever.search(query, k=3, min_score=-1))
    monkeypatch.setattr(retrieval.partitions, "PARTITIONS_MAX_AGE_S", 0.0)
    assert retriever.search(query, k=1, min_score=-1)[0].example.id == PASSWORD[0].id
    reader.close()
    writer.close()


def test_reindex_after_deleting_the_chroma_dir_restores_identical_results(
    tmp_path: Path, embedder: Embedder
) -> None:
    path = tmp_path / "chroma"
    store = open_store(path, embedder)
    store.upsert(SEED)

    def snapshot(retriever: Retriever) -> list[list[tuple[str, float]]]:
        return [
            [(hit.example.id, round(hit.score, 5)) for hit in retriever.search(q, k=4, min_score=-1)]
            for q, _ in PARAPHRASES
        ]

    before = snapshot(Retriever(store, embedder))
    store.close()
    shutil.rmtree(path)

    rebuilt = open_store(path, embedder)
    report = rebuilt.rebuild(iter(SEED), total=len(SEED))
    assert (report.previous_count, report.indexed, report.count) == (0, len(SEED), len(SEED))
    assert snapshot(Retriever(rebuilt, embedder)) == before
    # A second rebuild with fewer examples leaves exactly those: the collection follows the ledger.
    report = rebuilt.rebuild(SEED[:3])
    assert (report.previous_count, report.count) == (len(SEED), 3)
    assert sorted(rebuilt.ids()) == sorted(example.id for example in SEED[:3])
    rebuilt.close()


def test_unreachable_chroma_server_raises_store_unavailable(embedder: Embedder) -> None:
    import socket

    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = ExampleStore(ChromaSettings(mode="http", port=port, connect_timeout_s=0.5), embedder)
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port} is unreachable"):
        store.count()
    with pytest.raises(StoreUnavailable):  # still failing (and retried) on the next call, never hanging
        Retriever(store, embedder).search("chest pain")


def test_concurrent_queries_share_forward_passes(embedder: Embedder) -> None:
    queries = [f"{text} (case {n})" for n, (text, _) in enumerate(PARAPHRASES * 4)]
    passes_before, items_before = embedder.batcher.batches, embedder.batcher.items
    results: dict[str, np.ndarray] = {}
    start = threading.Barrier(len(queries))

    def ask(query: str) -> None:
        start.wait()
        results[query] = embedder.encode_query(query)

    threads = [threading.Thread(target=ask, args=(query,)) for query in queries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert embedder.batcher.items - items_before == len(queries)
    assert embedder.batcher.batches - passes_before < len(queries)  # some queries shared a forward pass
    reference = embedder.encode_documents(queries)
    for row, query in enumerate(queries):
        np.testing.assert_allclose(results[query], reference[row], atol=1e-5)
        assert abs(float(np.linalg.norm(results[query])) - 1.0) < 1e-4
    hits_before = embedder.cache_hits
    embedder.encode_query(queries[0])
    assert embedder.cache_hits == hits_before + 1


def test_prompt_block_from_search_renders_guidance_and_fits(seeded: Retriever) -> None:
    found = seeded.search(
        "database disk almost full, archive the logs now?",
        k=3,
        filters={"task": "infra-change"},
        min_score=-1,
    )
    block = build_prompt_block(found, max_chars=600)
    assert len(block.text) <= 600
    assert "Do not: run the transaction log archive" in block.text
    assert "Because: the batch job already saturates disk I/O" in block.text
    assert block.messages[0]["role"] == "system"


def test_a_bfloat16_copy_embeds_close_to_the_model_and_leaves_it_as_it_is(embedder: Embedder) -> None:
    texts = [text for text, _ in PARAPHRASES]
    fast = embedder.in_precision("bfloat16")
    assert embedder.in_precision("float32") is embedder
    assert str(next(embedder.model.parameters()).dtype) == "torch.float32"  # the shared model is untouched
    exact, close = embedder.encode_documents(texts), fast.encode_documents(texts)
    assert close.dtype == np.float32 and close.shape == exact.shape
    cosines = (exact * close).sum(axis=1)
    assert cosines.min() > 0.99  # bulk scoring (active learning) may use it: rankings do not move
    # every similarity moves by less than 0.01, so a ranking changes only where float32 itself has two
    # candidates within 0.01 of each other (these unrelated texts' neighbours tie that closely: 0.1061 vs
    # 0.1052 for one of them; which one wins then depends on the CPU's bfloat16 kernels)
    similar, similar_fast = exact @ exact.T, close @ exact.T
    assert np.abs(similar_fast - similar).max() < 0.01
    np.fill_diagonal(similar, -1.0)
    np.fill_diagonal(similar_fast, -1.0)
    top_two = np.sort(similar, axis=1)[:, ::-1][:, :2]
    separated = top_two[:, 0] - top_two[:, 1] > 0.01
    assert separated.any()
    np.testing.assert_array_equal(similar.argmax(axis=1)[separated], similar_fast.argmax(axis=1)[separated])
