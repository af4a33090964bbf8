"""The retrieved arm of `tacit eval` on an arm's partition of the store: each held-out case drafted with k
examples retrieved from that arm's examples of the case's task (the conversation `tacit eval` and drafting
build), scored by the task's scorer. Only the retrieved arm: the rounds compare arms, not example choices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipelines.evaluation.arms import ALL, ArmBuilder, store_views
from pipelines.evaluation.cases import EvalCase, load_cases
from pipelines.evaluation.generate import Job, generate_all
from pipelines.evaluation.metrics import score_output
from pipelines.evaluation.models import EvalModel, load_eval_model, merged_copy
from pipelines.evaluation.runner import _max_new_tokens, per_task, resolve_cases_file
from pipelines.precision import resolve_precision
from pipelines.runtime import Runtime


def held_out_cases(runtime: Runtime, per_task_limit: int | None) -> list[EvalCase]:
    """`tacit eval`'s default held-out cases with a reference (no preference cases), `per_task_limit` of each
    task (None: all), spread over the file as `tacit eval --cases-per-task` spreads them."""
    settings = runtime.settings.evaluation
    cases = load_cases(resolve_cases_file(settings, None), set(settings.tasks), settings.tasks)
    return per_task([case for case in cases if not case.is_preference], per_task_limit)


class GenerationModel:
    """A model ready to generate with (adapter folded, eval precision); loaded again when told it changed."""

    def __init__(self, runtime: Runtime, which: str) -> None:
        self.runtime = runtime
        self.which = which  # "base" or "champion"
        self.label = ""
        self._ready: tuple[Any, Any] | None = None

    def changed(self) -> None:
        """A new champion was promoted: the next use loads it."""
        self._ready = None

    def ready(self) -> tuple[Any, Any, str]:
        if self._ready is None:
            loaded: EvalModel = load_eval_model(self.runtime, self.which)
            precision = resolve_precision(self.runtime.settings.evaluation.dtype, loaded.model)
            self._ready = (merged_copy(loaded, precision), loaded.tokenizer)
            self.label = loaded.label
        return (*self._ready, self.label)


def retrieved_scores(
    runtime: Runtime, model: GenerationModel, cases: Sequence[EvalCase], task_of: dict[str, str]
) -> tuple[list[float], str]:
    """Each case's score with k examples retrieved from the partition `task_of[case.task]`; and the model's label."""
    settings = runtime.settings.evaluation
    builder = ArmBuilder(runtime, settings.k, settings.max_prompt_chars, settings.seed)
    views = {task: store_views(runtime, stored, [])[0][ALL] for task, stored in task_of.items()}
    jobs = [
        Job(builder.retrieved(case, views[case.task], ALL), _max_new_tokens(settings, case.task))
        for case in cases
    ]
    generator, tokenizer, label = model.ready()
    outputs = generate_all(generator, tokenizer, jobs, settings.batch_size)
    scores = [
        score_output(text, case.reference, settings.tasks.get(case.task)).score
        for case, text in zip(cases, outputs, strict=True)
    ]
    return scores, label
