"""The learning curve as a PNG: each arm's score against the store size N (matplotlib, no display)."""

from __future__ import annotations

from typing import Any

ARM_STYLE = {"zero_shot": ("no examples", "tab:gray"), "random": ("k random", "tab:orange"), "retrieved": ("k retrieved", "tab:blue")}


def learning_curve_figure(summary: dict[str, Any]):  # -> matplotlib.figure.Figure
    import matplotlib

    matplotlib.use("Agg")  # no display: the figure is written to a file
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    axes = figure.subplots()
    points = summary.get("curve") or []
    labels = [str(point["n"]) for point in points]
    positions = list(range(len(points)))
    for arm, (name, colour) in ARM_STYLE.items():
        scores = [point["arms"][arm]["score"] for point in points]
        low = [point["arms"][arm]["ci95"]["score"][0] for point in points]
        high = [point["arms"][arm]["ci95"]["score"][1] for point in points]
        axes.plot(positions, scores, marker="o", label=name, color=colour)
        axes.fill_between(positions, low, high, color=colour, alpha=0.15)
    axes.set_xticks(positions, labels)
    axes.set_xlabel("store size N (first N examples of each task, in time)")
    axes.set_ylabel("score (chrF/100 or decision accuracy)")
    cases = points[0]["cases"] if points else 0
    axes.set_title(f"tacit eval: {summary.get('model', '')}, k={summary.get('k')}, {cases} cases per point")
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure
