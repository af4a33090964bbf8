"""The model in the loop: the champion (or the base model before any promotion) drafts what humans review.

A `Drafter` retrieves few-shot examples for the prompt (same task), puts them into the chat messages it sends
to the model, and generates greedily. It loads the model on first use, once, and asks the MLflow registry
at most every `champion_check_s` seconds whether the champion alias (`training.champion_alias`) has moved; when it has, the next draft
comes from the new champion. Every draft says which model wrote it and which examples it was shown.

drafter = Drafter(runtime)
draft = drafter.draft("clinical_note", "Write the assessment and plan ...", context=None)
draft.text, draft.model_version, draft.details["example_ids"]
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.model.settings import DraftingSettings
from pipelines.precision import resolve_precision
from pipelines.runtime import Runtime
from retrieval.prompt_block import build_prompt_block
from retrieval.store import StoreUnavailable
from training.base_model import PACKAGED_PREFIX
from training.generation import Messages, greedy_replies, sample_replies

log = logging.getLogger(__name__)

EMPTY_DRAFT = "(the model produced no draft: please write the answer)"


@dataclass(frozen=True)
class Draft:
    """What `POST /v1/reviews` without a draft gets: the text, who wrote it, and what it was shown."""

    text: str
    model_version: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FewShot:
    messages: Messages
    example_ids: list[str]
    note: str  # "used", "none found", "disabled" or "store unavailable: ..."


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    tokenizer: Any
    registry_version: str | None  # None: the base model, no champion
    label: str  # "base:<name>" or "<registered_model>/v<version>"


def base_label(base_model: str) -> str:
    return "base:" + base_model.removeprefix(PACKAGED_PREFIX)


def user_message(prompt: str, context: Any = None) -> str:
    """The prompt, with the application's context appended when there is any."""
    if not context:
        return prompt
    if isinstance(context, dict):
        lines = "\n".join(f"- {key}: {value}" for key, value in context.items())
    else:
        lines = str(context)
    return f"{prompt}\n\nContext:\n{lines}"


class Drafter:
    """Drafts with the champion model (base model when none), few-shot examples injected. Thread-safe."""

    def __init__(
        self,
        runtime: Runtime,
        settings: DraftingSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.settings = settings or runtime.settings.drafting
        self._clock = clock
        self._lock = threading.RLock()  # guards loading and generation: one forward pass at a time
        self._loaded: LoadedModel | None = None
        self._checked_at = float("-inf")
        self._copies: dict[str, tuple[LoadedModel, Any]] = {}  # dtype -> (the model it copies, the copy)

    # --- the model ---------------------------------------------------------------------------------

    @property
    def registered_model(self) -> str:
        return self.runtime.settings.mlflow.registered_model

    @property
    def alias(self) -> str:
        """The registry alias that names the model to draft with: the one the training gate moves."""
        return self.runtime.settings.training.champion_alias

    def _registry_version(self) -> str | None:
        """The champion's version in the registry, None when there is none; raises when MLflow is down."""
        from pipelines.stack.service_logins import use_mlflow_login
        from training.registry import champion_version
        from training.tracking import connect

        use_mlflow_login(self.runtime.settings)
        client = connect(self.runtime.settings.mlflow_uri)
        found = champion_version(client, self.registered_model, self.alias)
        return None if found is None else str(found.version)

    def _load(self, wanted: str | None) -> LoadedModel:
        from training.base_model import load_base
        from training.serving import load_champion

        home = self.runtime.settings.home_dir
        if wanted is None:
            model, tokenizer = load_base(self.settings.base_model, home)
            model.eval()
            return LoadedModel(model, tokenizer, None, base_label(self.settings.base_model))
        from pipelines.stack.service_logins import use_mlflow_login

        use_mlflow_login(self.runtime.settings)
        model, tokenizer, version = load_champion(
            self.runtime.settings.mlflow_uri,
            self.registered_model,
            home,
            alias=self.alias,
            default_base=self.settings.base_model,
        )
        # The alias may have moved again between our check and the load: label what was loaded.
        label = (
            base_label(self.settings.base_model) if version is None else f"{self.registered_model}/v{version}"
        )
        return LoadedModel(model, tokenizer, version, label)

    def current(self) -> LoadedModel:
        """The model to draft with, reloaded when the registry's alias has moved since the last check."""
        with self._lock:
            now = self._clock()
            if self._loaded is not None and now - self._checked_at < self.settings.champion_check_s:
                return self._loaded
            self._checked_at = now
            try:
                wanted = self._registry_version()
            except Exception as exc:  # MLflow down: keep drafting with what we have (or the base model)
                if self._loaded is None:
                    log.warning("model registry unreachable, drafting with the base model: %s", exc)
                    self._loaded = self._load(None)
                else:
                    log.warning("model registry unreachable, keeping %s: %s", self._loaded.label, exc)
                return self._loaded
            if self._loaded is None or self._loaded.registry_version != wanted:
                log.info("loading the drafting model (champion version %s)", wanted or "none: base model")
                self._loaded = self._load(wanted)
            return self._loaded

    def model_in(self, dtype: str) -> Any:
        """The current model in `dtype` ("float32": the model itself; "auto": pipelines/precision.py): a copy
        made once per loaded model, so bulk scoring (active learning) can run in bfloat16 while drafts stay
        in the model's own precision."""
        from training.uncertainty import in_precision

        with self._lock:
            loaded = self.current()
            dtype = resolve_precision(dtype, loaded.model)
            if dtype == "float32":
                return loaded.model
            source, copy = self._copies.get(dtype, (None, None))
            if source is not loaded:
                copy = in_precision(loaded.model, dtype)
                self._copies[dtype] = (loaded, copy)
            return copy

    @property
    def model_version(self) -> str:
        return self.current().label

    # --- the prompt --------------------------------------------------------------------------------

    def few_shot(self, task: str, prompt: str) -> FewShot:
        """Retrieved examples of the same task as chat turns; none when the store is empty or down."""
        if self.settings.few_shot_k == 0:
            return FewShot([], [], "disabled")
        try:
            hits = self.runtime.retriever.search(prompt, self.settings.few_shot_k, {"task": task})
        except StoreUnavailable as exc:
            log.warning("example store unreachable; drafting without examples: %s", exc)
            return FewShot([], [], f"store unavailable: {exc}")
        if not hits:
            return FewShot([], [], "none found")
        block = build_prompt_block(hits, max_chars=self.settings.few_shot_max_chars)
        return FewShot(block.messages, block.used_ids, "used" if block.used_ids else "none fit the budget")

    def conversation(self, prompt: str, context: Any, shots: FewShot) -> Messages:
        """System prompt (+ guidance from lessons and know-how), demonstrations, then the prompt itself."""
        system = [self.settings.system_prompt] if self.settings.system_prompt else []
        # Chat templates expect one system turn: guidance joins the system prompt rather than a second one.
        system += [m["content"] for m in shots.messages if m["role"] == "system"]
        messages: Messages = [{"role": "system", "content": "\n\n".join(system)}] if system else []
        messages += [m for m in shots.messages if m["role"] != "system"]
        messages.append({"role": "user", "content": user_message(prompt, context)})
        return messages

    # --- drafting ----------------------------------------------------------------------------------

    def draft(self, task: str, prompt: str, context: Any = None) -> Draft:
        """One greedy draft with few-shot examples of `task`."""
        return self.draft_many([(task, prompt, context)])[0]

    def draft_many(self, items: Sequence[tuple[str, str, Any]]) -> list[Draft]:
        """Greedy drafts for `(task, prompt, context)` items, generated in one batch."""
        if not items:
            return []
        for task, prompt, _ in items:
            if not task or not task.strip() or not prompt or not prompt.strip():
                raise ValueError("draft: task and prompt must be non-empty text")
        shots = [self.few_shot(task, prompt) for task, prompt, _ in items]
        conversations = [
            self.conversation(prompt, context, s)
            for (_, prompt, context), s in zip(items, shots, strict=True)
        ]
        with self._lock:
            loaded = self.current()
            texts = greedy_replies(
                loaded.model, loaded.tokenizer, conversations, self.settings.max_new_tokens
            )
        return [
            Draft(
                # Argilla refuses an empty field or suggestion: say plainly that the model wrote nothing.
                text=text or EMPTY_DRAFT,
                model_version=loaded.label,
                details={
                    "model_version": loaded.label,
                    "example_ids": shot.example_ids,
                    "few_shot": shot.note,
                    "empty": not text,
                },
            )
            for text, shot in zip(texts, shots, strict=True)
        ]

    def sample(
        self,
        task: str,
        prompt: str,
        k: int,
        temperature: float | None = None,
        *,
        context: Any = None,
        max_new_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """`k` sampled drafts for one prompt (few-shot examples included), from one `generate` call.
        `temperature` defaults to the config's `selection.temperature`."""
        if temperature is None:
            temperature = self.runtime.settings.selection.temperature
        conversation = self.conversation(prompt, context, self.few_shot(task, prompt))
        return self.sample_conversations([conversation], k, temperature, max_new_tokens, seed)[0]

    def sample_conversations(
        self,
        conversations: Sequence[Messages],
        k: int,
        temperature: float,
        max_new_tokens: int | None = None,
        seed: int | None = None,
        dtype: str = "float32",
    ) -> list[list[str]]:
        """`k` sampled replies for each conversation, all in one `generate` call, by the model in `dtype`."""
        if k < 1:
            raise ValueError(f"k must be at least 1 (samples per prompt), got {k}")
        if temperature <= 0:
            raise ValueError(f"temperature must be above 0 for sampling, got {temperature}")
        with self._lock:
            loaded = self.current()
            return sample_replies(
                self.model_in(dtype),
                loaded.tokenizer,
                conversations,
                k,
                temperature,
                max_new_tokens or self.settings.max_new_tokens,
                seed,
            )
