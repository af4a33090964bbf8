"""`tacit bench rounds --small` end to end on the tiny Llama (issue 27): every arm runs every round on a throwaway
stack through Argilla, the full loop trains with the gate, each round is written as it finishes (JSON lines and
one MLflow run with the chart), and the summary carries the figures and intervals the issue asks for. CI checks
the wiring, not the quality: a random model's drafts are what they are.

Not a `stack` test: the bench starts and removes its own stack (`slow`: one `tacit up` and a model)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_rounds_small_runs_every_arm_every_round_and_reports_as_it_goes(
    tiny_llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from bench.rounds import SMALL, run
    from bench.rounds_record import CHART_ARTIFACT, RECORDS_FILE
    from pipelines.config import load_settings

    monkeypatch.setenv("TACIT_HOME", str(tmp_path / "user-home"))
    throwaway_parent = tmp_path / "tmp"
    throwaway_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(throwaway_parent))  # where the bench's mkdtemp puts its home
    out = tmp_path / "out"

    figures = run(load_settings(), small=True, base_model=str(tiny_llama), out_dir=str(out))

    rounds, arms = SMALL["rounds"], ["full", "retrieval", "frozen", "select", "random"]
    assert figures["complete"] and figures["arms"] == arms and figures["rounds_done"] == rounds
    for arm in arms:
        rates = figures["accept_rate_by_round"][arm]
        assert len(rates) == rounds and all(0 <= rate <= 1 for rate in rates)
    lift = figures["accept_lift_last_vs_frozen"]
    assert lift["ci95"][0] <= lift["value"] <= lift["ci95"][1]
    assert len(figures["routed_share_by_round"]) == len(figures["auto_error_by_round"]) == rounds
    assert figures["alpha"] == 0.05 and figures["wall_s"] > 0 and figures["peak_rss_mb"] > 0
    assert [entry["status"] for entry in figures["training"]] == [
        "trained",
        "trained",
    ]  # --if-new 1, new pairs
    selection = figures["selection"]["lift_select_vs_random"]
    assert selection["ci95"][0] <= selection["value"] <= selection["ci95"][1]

    records = [json.loads(line) for line in (out / RECORDS_FILE).read_text().splitlines()]
    assert [(r["round"], r["arm"]) for r in records] == [(n, arm) for n in (1, 2) for arm in arms]
    full = [r for r in records if r["arm"] == "full"]
    # the full loop reviews only what routing sends to a person; the retrieval arm reviews every item
    assert all(r["reviewed"] == r["items"] - r["auto"] for r in full)
    assert all(r["reviewed"] == r["items"] for r in records if r["arm"] == "retrieval")
    assert all(r["reviewed"] == SMALL["budget"] for r in records if r["arm"] in ("select", "random"))
    client = MlflowClient(figures["mlflow"]["tracking_uri"])
    run_id = figures["mlflow"]["run_id"]
    assert CHART_ARTIFACT in {item.path for item in client.list_artifacts(run_id)}
    assert len(client.get_metric_history(run_id, "full/accept_rate")) == rounds
    assert list(throwaway_parent.iterdir()) == []  # the throwaway stack's home was removed
