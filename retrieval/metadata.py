"""How an `Example` is laid out in a Chroma record (document = input, the rest flattened into metadata)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from retrieval.types import Example, MetadataValue, Provenance

PROVENANCE_PREFIX = "prov_"
META_PREFIX = "meta_"
PROVENANCE_FIELDS = ("dataset", "record_id", "response_id", "user")


def to_epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def example_to_metadata(example: Example) -> dict[str, MetadataValue]:
    # Chroma refuses None values: absent optional fields are simply left out.
    # Times are stored twice: epoch float for range filters and recency, ISO text for an exact round trip.
    fields: dict[str, MetadataValue | None] = {
        "task": example.task,
        "domain": example.domain,
        "kind": example.kind.value,
        "output": example.output,
        "reason": example.reason,
        "quality": float(example.quality),
        "created_at": to_epoch(example.created_at),
        "created_at_iso": example.created_at.isoformat(),
        "model_version": example.model_version,
        "reviewer_count": example.reviewer_count,
        "decided_by": example.decided_by,
        "agreement": None if example.agreement is None else float(example.agreement),
    }
    for name in PROVENANCE_FIELDS:
        fields[PROVENANCE_PREFIX + name] = getattr(example.provenance, name)
    if example.provenance.time is not None:
        fields[PROVENANCE_PREFIX + "time"] = to_epoch(example.provenance.time)
        fields[PROVENANCE_PREFIX + "time_iso"] = example.provenance.time.isoformat()
    for key, value in example.meta.items():
        fields[META_PREFIX + key] = value
    return {key: value for key, value in fields.items() if value is not None}


def example_from_record(record_id: str, document: str, metadata: Mapping[str, Any]) -> Example:
    provenance = Provenance(
        **{name: metadata.get(PROVENANCE_PREFIX + name) for name in PROVENANCE_FIELDS},
        time=metadata.get(PROVENANCE_PREFIX + "time_iso"),
    )
    meta = {key[len(META_PREFIX) :]: value for key, value in metadata.items() if key.startswith(META_PREFIX)}
    return Example(
        id=record_id,
        task=metadata["task"],
        domain=metadata.get("domain"),
        kind=metadata["kind"],
        input=document,
        output=metadata.get("output", ""),
        reason=metadata.get("reason"),
        quality=metadata.get("quality", 1.0),
        created_at=metadata["created_at_iso"],
        model_version=metadata.get("model_version"),
        reviewer_count=metadata.get("reviewer_count"),
        decided_by=metadata.get("decided_by"),
        agreement=metadata.get("agreement"),
        provenance=provenance,
        meta=meta,
    )
