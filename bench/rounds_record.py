"""Where `tacit bench rounds` writes as it goes: a JSON line per arm and round in the run's folder, and one MLflow
run (a local store in that folder: the throwaway stack and its MLflow are removed at the end) with each figure
per round as a metric at step = round and the per-round chart (PNG), redrawn after every round. A run cut off
after round r keeps rounds 1..r in both."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.rounds_arms import FULL

RECORDS_FILE = "rounds.jsonl"
CHART_ARTIFACT = "rounds.png"
SUMMARY_ARTIFACT = "rounds.json"
EXPERIMENT = "tacit-bench-rounds"
METRICS = ("accept_rate", "edit_distance", "eval_score", "routed_share", "auto_error", "vouched", "wall_s")
ARM_COLOURS = {
    "full": "tab:blue",
    "retrieval": "tab:orange",
    "frozen": "tab:gray",
    "select": "tab:green",
    "random": "tab:red",
}


def rounds_figure(records: Sequence[dict[str, Any]], alpha: float):  # -> matplotlib.figure.Figure
    """Every figure per round and arm: accept-as-is, edit distance, eval score; the full loop's routed share
    and its error among items let through (against alpha)."""
    import matplotlib

    matplotlib.use("Agg")  # no display: the figure is written to a file
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 6.5), dpi=100)
    panels = figure.subplots(2, 3)
    arms = list(dict.fromkeys(r["arm"] for r in records))
    plotted = [
        (panels[0][0], "accept_rate", "accepted as-is (share)", arms),
        (panels[0][1], "edit_distance", "edit distance draft -> final", arms),
        (panels[0][2], "eval_score", "held-out score, retrieved arm", arms),
        (panels[1][0], "routed_share", "full loop: routed to a person", [FULL]),
        (panels[1][1], "auto_error", "full loop: error among let through", [FULL]),
        (panels[1][2], "vouched", "full loop: taken off the queue (track_record)", [FULL]),
    ]
    for axes, key, title, shown in plotted:
        for arm in shown:
            points = sorted(
                (r["round"], r[key]) for r in records if r["arm"] == arm and r.get(key) is not None
            )
            if points:
                axes.plot(*zip(*points, strict=True), marker="o", label=arm, color=ARM_COLOURS.get(arm))
        if key == "auto_error":
            axes.axhline(alpha, linestyle="--", color="tab:red", label=f"alpha {alpha:g}")
        axes.set_title(title, fontsize=9)
        axes.set_xlabel("round")
        axes.grid(alpha=0.3)
        if axes.get_lines():
            axes.legend(fontsize=7, loc="best")
    figure.suptitle("tacit bench rounds [simulated reviewer]")
    figure.tight_layout()
    return figure


class RoundsRecord:
    """The run's folder (JSON lines) and its MLflow run, written after every round."""

    def __init__(self, folder: Path, params: dict[str, Any], alpha: float) -> None:
        from training.tracking import connect, experiment_id

        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lines = folder / RECORDS_FILE
        self.alpha = alpha
        self.records: list[dict[str, Any]] = []
        self.tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
        self.client = connect(self.tracking_uri)
        experiment = experiment_id(self.client, EXPERIMENT, folder / "mlartifacts", self.tracking_uri)
        run = self.client.create_run(experiment, run_name="bench-rounds", tags={"tacit.kind": "bench-rounds"})
        self.run_id = run.info.run_id
        self.client.log_batch(self.run_id, params=_params(params))

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        """One round's records (every arm): appended to the JSON lines, logged, the chart redrawn."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        with self.lines.open("a", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record) + "\n")
        self.records += records
        metrics = [
            Metric(f"{r['arm']}/{key}", float(r[key]), now, int(r["round"]))
            for r in records
            for key in METRICS
            if isinstance(r.get(key), int | float)
        ]
        self.client.log_batch(self.run_id, metrics=metrics)
        self.client.log_figure(self.run_id, rounds_figure(self.records, self.alpha), CHART_ARTIFACT)

    def finish(self, summary: dict[str, Any], failed: bool = False) -> None:
        (self.folder / SUMMARY_ARTIFACT).write_text(json.dumps(summary, indent=1), encoding="utf-8")
        self.client.log_dict(self.run_id, summary, SUMMARY_ARTIFACT)
        self.client.set_terminated(self.run_id, "FAILED" if failed else "FINISHED")


def _params(params: dict[str, Any]):
    from mlflow.entities import Param

    return [Param(key, str(value)[:500]) for key, value in sorted(params.items())]
