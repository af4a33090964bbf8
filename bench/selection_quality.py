"""Does active learning pick better prompts than chance? `tacit bench select-quality --json`.

The held-out cases of `tacit eval` (pipelines/evaluation) are split per task: `eval_per_task` cases are
the evaluation, the rest the pool. A simulated annotator corrects the prompts a method picks with the
pool's reference answers; those become the store's examples, and the evaluation cases are answered by
the base model with k retrieved examples (`tacit eval`'s retrieved arm), scored by `tacit eval`'s
metrics. Methods, each at every N of `ns` on the same evaluation cases:

    select             the two-stage ranking (`selection:` settings), from an empty store (a cold start)
    select_unbalanced  the same as one ranking over all tasks (`balance_tasks: false`), when balancing is on
    stage1             stage 1 alone (no sampled drafts)
    random             N pool prompts drawn at random (seeded)

Figures: the mean score of each method and N with its bootstrap 95% interval, the paired difference of
each method against random, how many picks each method took from each task (`task_mix`), and the zero-shot
score (no examples) for reference. Stage 2 is measured once for the whole pool; each N's shortlist reads
it. Everything happens in throwaway homes.
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench.selection import BaseModelDrafter
from pipelines.config import TacitSettings
from pipelines.evaluation.arms import ALL, ArmBuilder, store_views
from pipelines.evaluation.cases import EvalCase, load_cases
from pipelines.evaluation.generate import Job, generate_all
from pipelines.evaluation.metrics import score_output
from pipelines.evaluation.runner import resolve_cases_file
from pipelines.ledger import ExampleRecord
from pipelines.loop.example_store import write_pending_examples
from pipelines.runtime import Runtime
from pipelines.selection.ranking import pick, pick_by_stage1, shortlist
from pipelines.selection.select import PoolEntry, PoolList
from pipelines.selection.stages import measure, screen
from training.bootstrap import mean_interval, paired_difference


def _split(cases: list[EvalCase], eval_per_task: int, seed: int) -> tuple[list[EvalCase], list[EvalCase]]:
    by_task: dict[str, list[EvalCase]] = defaultdict(list)
    for case in cases:
        if not case.is_preference and case.reference:
            by_task[case.task].append(case)
    evaluation, pool = [], []
    for task in sorted(by_task):
        shuffled = sorted(by_task[task], key=lambda c: c.id)
        random.Random(f"{seed}:{task}").shuffle(shuffled)
        evaluation += shuffled[:eval_per_task]
        pool += shuffled[eval_per_task:]
    return evaluation, pool


def _home(settings: TacitSettings, root: Path, name: str, shared: Runtime | None = None) -> Runtime:
    home = root / name
    models = settings.home_dir / "models"
    if models.is_dir() and shared is None:
        shutil.copytree(models, home / "models", symlinks=True)
    runtime = Runtime(settings.model_copy(update={"home": home}))
    if shared is not None:
        runtime.__dict__["embedder"] = shared.embedder  # one sentence model for every throwaway home
    return runtime


def run(
    settings: TacitSettings, ns: str = "10,25,50", eval_per_task: int = 10, pool_limit: int = 0, seed: int = 0
) -> dict[str, Any]:
    """`pool_limit` > 0 keeps that many pool prompts (drawn at random, seeded): stage 2 samples all of them."""
    sizes = [int(n) for n in str(ns).split(",")]
    root = Path(tempfile.mkdtemp(prefix="tacit-select-quality-"))
    try:
        chooser = _home(settings, root, "select")
        evaluation_settings = chooser.settings.evaluation
        cases = load_cases(
            resolve_cases_file(evaluation_settings, None), set(evaluation_settings.tasks), evaluation_settings.tasks
        )
        evaluation, pool_cases = _split(cases, eval_per_task, seed)
        if 0 < pool_limit < len(pool_cases):
            pool_cases = random.Random(seed).sample(pool_cases, pool_limit)
        pool = [PoolEntry(task=c.task, prompt=c.prompt, metadata=c.metadata, id=c.id) for c in pool_cases]
        print(f"select-quality: {len(pool)} pool prompts, {len(evaluation)} evaluation cases", file=sys.stderr)

        selection = chooser.settings.selection
        drafter = BaseModelDrafter(chooser)
        loaded = drafter.current()
        screened = screen(chooser, PoolList(pool), None, selection, drafter)
        print(f"select-quality: stage 1 done; sampling drafts for all {len(pool)} pool prompts", file=sys.stderr)
        measured = {c.index: c for c in measure(chooser, screened.candidates, selection, drafter)}
        picks: dict[tuple[str, int], list[int]] = {}
        for n in sizes:
            candidates = [measured[c.index] for c in shortlist(screened, n, selection)]
            picks[("select", n)] = [c.index for c in pick(candidates, screened, n, selection)]
            picks[("stage1", n)] = [c.index for c in pick_by_stage1(screened, n, selection)]
            picks[("random", n)] = random.Random(f"{seed}:{n}").sample(range(len(pool)), n)
            if selection.balance_tasks:  # the same ranking as one list over all tasks, side by side
                single = selection.model_copy(update={"balance_tasks": False})
                candidates = [measured[c.index] for c in shortlist(screened, n, single)]
                picks[("select_unbalanced", n)] = [c.index for c in pick(candidates, screened, n, single)]

        k = evaluation_settings.k
        jobs: list[Job] = []
        planned: list[tuple[str, int, EvalCase]] = []
        zero = ArmBuilder(chooser, k, evaluation_settings.max_prompt_chars, seed)
        for case in evaluation:
            jobs.append(Job(zero.zero_shot(case), evaluation_settings.max_new_tokens))
            planned.append(("zero_shot", 0, case))
        for (method, n), indices in picks.items():
            runtime = _home(settings, root, f"{method}-{n}", shared=chooser)
            for index in indices:  # the simulated annotator's corrections: the pool's reference answers
                case = pool_cases[index]
                runtime.ledger.examples.add(
                    ExampleRecord(task=case.task, kind="correction", input=case.prompt, output=case.reference)
                )
            write_pending_examples(runtime.ledger, runtime.store)
            builder = ArmBuilder(runtime, k, evaluation_settings.max_prompt_chars, seed)
            views = {task: store_views(runtime, task, [])[0][ALL] for task in {c.task for c in evaluation}}
            for case in evaluation:
                jobs.append(Job(builder.retrieved(case, views[case.task], ALL), evaluation_settings.max_new_tokens))
                planned.append((method, n, case))
        print(f"select-quality: {len(jobs)} greedy generations", file=sys.stderr)
        model = drafter.model_in(evaluation_settings.dtype)  # as `tacit eval` generates
        outputs = generate_all(model, loaded.tokenizer, jobs, evaluation_settings.batch_size)

        scores: dict[tuple[str, int], list[float]] = defaultdict(list)
        for (method, n, case), text in zip(planned, outputs, strict=True):
            metrics = evaluation_settings.tasks.get(case.task)
            scores[(method, n)].append(score_output(text, case.reference, metrics).score)
        samples = evaluation_settings.bootstrap_samples
        figures: dict[str, Any] = {
            "pool": len(pool),
            "evaluation_cases": len(evaluation),
            "k": k,
            "zero_shot": _interval(scores[("zero_shot", 0)], samples, seed),
        }
        for n in sizes:
            methods = [method for method, size in picks if size == n]
            row: dict[str, Any] = {method: _interval(scores[(method, n)], samples, seed) for method in methods}
            for method in methods:
                if method != "random":
                    lift = paired_difference(scores[(method, n)], scores[("random", n)], samples, seed)
                    row[f"{method}_minus_random"] = {"mean": round(lift.mean, 4), "ci95": lift.as_list()}
            row["task_mix"] = {
                method: dict(sorted(Counter(pool_cases[i].task for i in picks[(method, n)]).items()))
                for method in methods
            }
            figures[f"n{n}"] = row
        return figures
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _interval(values: list[float], samples: int, seed: int) -> dict[str, Any]:
    interval = mean_interval(values, samples, seed)
    return {"mean": round(interval.mean, 4), "ci95": interval.as_list()}
