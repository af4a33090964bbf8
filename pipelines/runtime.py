"""One process's wiring: ledger, Argilla gateway, embedder, example store, retriever.

Everything heavy is created on first use, so a CLI command only pays for what it touches. Nothing here
writes: the use-cases (ingest, sync, tickets, example_store) do, where they are wired.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING

from pipelines.adapters.argilla_gateway import ArgillaGateway
from pipelines.config import TacitSettings
from pipelines.ledger import Ledger
from pipelines.ledger.timeutil import utcnow
from pipelines.loop.example_store import to_retrieval_example, write_changed_since
from pipelines.progress import ReportStage
from pipelines.routing import Router, RuleSkipped, cached_embedder
from pipelines.stack.audit_keying import open_ledger
from pipelines.stack.secrets_store import StackSecrets, read_secrets
from pipelines.stack.service_logins import chroma_token
from pipelines.stack.work_lock import WorkLock
from retrieval.embedder import Embedder
from retrieval.retriever import Retriever
from retrieval.store import ExampleStore, RebuildReport
from retrieval.vectors import SIDECAR_FILE, VectorSidecar

if TYPE_CHECKING:
    from pipelines.model.drafting import Drafter

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: TacitSettings) -> None:
        self.settings = settings
        # one outbox delivery and one sync pass at a time, across replicas with Redis (stack/work_lock.py)
        self.delivery_lock = WorkLock(settings, "outbox")
        self.sync_lock = WorkLock(settings, "sync")

    @cached_property
    def secrets(self) -> StackSecrets:
        found = read_secrets(self.settings.secrets_file)
        if found is None:
            raise RuntimeError(f"no secrets at {self.settings.secrets_file}: run `tacit up` first")
        return found

    @cached_property
    def ledger(self) -> Ledger:
        self.settings.home_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # no secrets yet (no `tacit up`): the ledger works unkeyed; a keyed one then refuses appends.
        # Keyed, it is told where keying began (kept with the secrets), and records it the first time
        return open_ledger(self.settings)

    @cached_property
    def embedder(self) -> Embedder:
        return Embedder.from_config(self.settings.retrieval.embedder)

    @cached_property
    def store(self) -> ExampleStore:
        return ExampleStore(
            self.settings.retrieval.chroma,
            self.embedder,
            default_path=self.settings.chroma_path,
            auth_token=chroma_token(self.settings),  # a Chroma that tacit up serves asks for its token
            # each example's vector beside the store, so a reindex with the same model embeds nothing
            vectors=VectorSidecar(self.settings.home_dir / SIDECAR_FILE),
        )

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.settings.retrieval.ranking)

    @cached_property
    def argilla(self) -> ArgillaGateway:
        api_key = self.settings.argilla.api_key or self.secrets.argilla.owner.api_key
        return ArgillaGateway(
            self.settings.argilla_url,
            api_key,
            self.settings.argilla.workspace,
            self.embedder.dimension,
            quorum_levels=self.settings.review.levels(),
            adjudication_workspace=self.settings.review.adjudication_workspace,
        )

    @cached_property
    def drafter(self) -> Drafter:
        """The champion's drafter (base model before any promotion); the model loads on its first draft."""
        from pipelines.model.drafting import Drafter  # it imports this module

        return Drafter(self)

    @cached_property
    def router(self) -> Router:
        """The routing rules; a malformed file raises RoutingRulesError naming the line."""
        trusted = self.settings.routing.trusted_validator_modules
        if not self.settings.routing.embedding_rules:
            return Router.from_file(self.settings.routing_rules_file, trusted_modules=trusted)
        shared = cached_embedder(self.embedder.encode_documents)

        def novelty(text: str) -> float | None:
            try:
                if self.store.count() == 0:
                    return None
                hits = self.store.query(shared([text])[0], 1)
            except Exception as exc:  # down, to reindex or corrupt: routing answers without this rule
                raise RuleSkipped(
                    f"skipped: the example store is unavailable ({type(exc).__name__}: {str(exc)[:200]})"
                ) from None
            return hits[0].similarity if hits else None

        from pipelines.routing.fitting import fits_dir
        from pipelines.routing.neighbours import store_neighbours
        from pipelines.routing.track_record import FileTrackRecord, FitFiles

        # track_record rules: their fits under the home (re-read when `tacit route fit` makes a new one
        # current), and the reviewed examples near the input from the store, on the same cached embedding
        track_record = FileTrackRecord(
            FitFiles(fits_dir(self.settings.home_dir)), store_neighbours(self.store, shared)
        )
        return Router.from_file(
            self.settings.routing_rules_file,
            embed=shared,
            novelty=novelty,
            trusted_modules=trusted,
            track_record=track_record,
        )

    def embed_one(self, text: str) -> list[float]:
        return self.embedder.encode_documents([text])[0].tolist()

    def reindex(self, on_progress: ReportStage | None = None) -> RebuildReport:
        """Rebuild the example store from the ledger as a new generation and swap it in (searches answer
        from the old one meanwhile). What the ledger changes during the rebuild is written to the new
        generation right after the swap; a Chroma folder that cannot be opened is moved aside first.
        `on_progress(stage, done, total)` is told how far the indexing is (the CLI draws it)."""
        started = utcnow()  # before the read: a change committed after it is caught up after the swap
        examples = [to_retrieval_example(record) for record in self.ledger.examples.list()]
        return self.store.rebuild(
            examples,
            total=len(examples),
            on_progress=on_progress,
            catch_up=lambda: write_changed_since(self.ledger, self.store, started),
        )
