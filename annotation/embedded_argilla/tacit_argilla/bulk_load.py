"""Bulk-load records into an existing dataset straight into Argilla's SQLite database (benchmark seeding).

Argilla's records bulk API spends ~7 ms of server CPU per record in ORM work (eager loads, per-record status
updates and events), so seeding 100,000 records through it takes a quarter of an hour on two cores. This loader
writes the rows the API's `CreateRecordsBulk` writes, the same way:

- each item is parsed by Argilla's own request schema (`RecordCreate`), and the rows are built from it as
  `argilla_server/bulk/records_bulk.py` builds them (fields through `jsonable_encoder`, suggestions and
  responses from `model_dump()`, vectors by vector settings name, the dataset's users upserted);
- rows go through Argilla's own tables with Core inserts, so ids, timestamps, JSON and enum columns get the
  same column defaults and type processing as the ORM gives them;
- record status follows Argilla's overlap distribution rule (completed once `min_submitted` responses are
  submitted);
- the text index is written through the search engine's own `index_records` path (TextIndex.upsert).

What it skips is Argilla's per-record validation against the dataset settings (field names, metadata and
answer values); the benchmark sends its first batch through the API, which validates the same payload shape.
Webhook events are not sent (no subscriber should see benchmark data). Input: JSON lines, each one item of the
records bulk API body (`{"fields", "metadata", "external_id", "responses", "suggestions", "vectors"}`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import IO
from uuid import UUID, uuid4

CHUNK = 2000  # rows per transaction: big enough to amortise commits, small enough to keep memory flat


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(lines)
    while chunk := list(islice(iterator, size)):
        yield chunk


def load_records(dataset_id: UUID, lines: IO[str], chunk_size: int = CHUNK) -> int:
    """Insert every JSON-lines item as a record of `dataset_id`; return how many were loaded."""
    from argilla_server.api.schemas.v1.records import RecordCreate
    from argilla_server.database import SyncSessionLocal
    from argilla_server.enums import RecordStatus, ResponseStatus
    from argilla_server.models import Dataset, DatasetUser, Record, Response, Suggestion, Vector
    from fastapi.encoders import jsonable_encoder
    from pydantic import ValidationError
    from sqlalchemy import insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    from sqlalchemy.orm import selectinload

    from tacit_argilla.sql_engine import text_index
    from tacit_argilla.text_index import IndexedRecord

    loaded = 0
    with SyncSessionLocal() as db:
        dataset = db.get(Dataset, dataset_id, options=[selectinload(Dataset.vectors_settings)])
        if dataset is None:
            raise ValueError(f"dataset {dataset_id} does not exist: create (and publish) it first")
        if dataset.is_draft:
            raise ValueError(f"dataset {dataset_id} is a draft: publish it before loading records")
        vector_settings = {vs.name: vs.id for vs in dataset.vectors_settings}
        min_submitted = int(dataset.distribution["min_submitted"])
        line_number = 0
        last_inserted = datetime.min
        for chunk in _chunks(lines, chunk_size):
            records, suggestions, responses, vectors, texts = [], [], [], [], []
            users: dict[
                UUID, None
            ] = {}  # first-seen order: the progress page lists users by when they joined
            for line in chunk:
                line_number += 1
                if not line.strip():
                    continue
                try:
                    item = RecordCreate.model_validate_json(line)
                except ValidationError as error:
                    raise ValueError(f"line {line_number} is not a valid record: {error}") from None
                record_id = uuid4()
                fields = jsonable_encoder(item.fields)
                submitted = 0
                for response in item.responses or []:
                    responses.append(dict(**response.model_dump(), record_id=record_id))
                    users.setdefault(response.user_id)
                    submitted += response.status == ResponseStatus.submitted
                for suggestion in item.suggestions or []:
                    suggestions.append(dict(**suggestion.model_dump(), record_id=record_id))
                for name, value in (item.vectors or {}).items():
                    if name not in vector_settings:
                        raise ValueError(
                            f"line {line_number}: vector {name!r} is not defined for this dataset "
                            f"(defined: {', '.join(vector_settings) or 'none'})"
                        )
                    vectors.append(
                        dict(value=value, record_id=record_id, vector_settings_id=vector_settings[name])
                    )
                status = RecordStatus.completed if submitted >= min_submitted else RecordStatus.pending
                # Argilla's default (utcnow at flush), kept strictly increasing: Core inserts thousands of rows in
                # the same microsecond, and the API's slower per-record path gives each record its own instant,
                # so pages sorted by insertion time keep the input order
                last_inserted = max(datetime.utcnow(), last_inserted + timedelta(microseconds=1))
                records.append(
                    {
                        "id": record_id,
                        "fields": fields,
                        "metadata": item.metadata,
                        "external_id": item.external_id,
                        "dataset_id": dataset.id,
                        "status": status,
                        "inserted_at": last_inserted,
                        "updated_at": last_inserted,
                    }
                )
                texts.append(IndexedRecord(record_id.hex, dataset.id.hex, fields))
            if not records:
                continue
            db.execute(insert(Record.__table__), records)
            if suggestions:
                db.execute(insert(Suggestion.__table__), suggestions)
            if vectors:
                db.execute(insert(Vector.__table__), vectors)
            if users:
                joined = []
                for user in users:  # one instant each, like the API's row-by-row defaults
                    last_inserted = max(datetime.utcnow(), last_inserted + timedelta(microseconds=1))
                    joined.append(
                        {
                            "user_id": user,
                            "dataset_id": dataset.id,
                            "inserted_at": last_inserted,
                            "updated_at": last_inserted,
                        }
                    )
                db.execute(
                    # Argilla's upsert_many: a known (dataset, user) pair only gets a new updated_at
                    sqlite_insert(DatasetUser.__table__).on_conflict_do_update(
                        index_elements=["dataset_id", "user_id"], set_={"updated_at": datetime.utcnow()}
                    ),
                    joined,
                )
            if responses:
                db.execute(insert(Response.__table__), responses)
            db.commit()
            text_index().upsert(texts)
            loaded += len(records)
    return loaded
