"""Retrieval's config model and input types: defaults, and bad values refused with a clear message."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from retrieval.api_models import SearchRequest
from retrieval.embedder import EmbedderError, load_sentence_transformer
from retrieval.metadata import example_from_record, example_to_metadata
from retrieval.settings import RetrievalSettings
from retrieval.types import Example, Provenance


def test_defaults_point_at_the_bundled_model() -> None:
    config = RetrievalSettings()
    assert (Path(config.embedder.model) / "modules.json").is_file()
    assert config.chroma.mode == "persistent" and config.ranking.max_k == 50


def test_unknown_config_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="chroma.colection"):
        RetrievalSettings.model_validate({"chroma": {"colection": "x"}})
    with pytest.raises(ValidationError, match="mode"):
        RetrievalSettings.model_validate({"chroma": {"mode": "cloud"}})


def test_missing_model_folder_says_how_to_fix() -> None:
    with pytest.raises(EmbedderError, match="does not exist; set retrieval.embedder.model"):
        load_sentence_transformer("/nonexistent/model")


def test_example_validation_and_metadata_round_trip() -> None:
    with pytest.raises(ValidationError, match="kind"):
        Example(id="a", task="t", kind="gossip", input="x")
    with pytest.raises(ValidationError, match="input must contain text"):
        Example(id="a", task="t", kind="accepted", input="   ")
    with pytest.raises(ValidationError, match="quality"):
        Example(id="a", task="t", kind="accepted", input="x", quality=1.5)
    example = Example(
        id="a",
        task="t",
        kind="lesson",
        input="in",
        output="out",
        reason="why",
        quality=0.5,
        created_at=datetime(2025, 3, 1, 12, 30, 15, 123456),
        domain="d",
        model_version="m1",
        provenance=Provenance(
            dataset="approvals", record_id="r", user="bob", time=datetime(2025, 3, 1, tzinfo=UTC)
        ),
        meta={"region": "eu", "tier": 2},
    )
    metadata = example_to_metadata(example)
    assert metadata["created_at"] == datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC).timestamp()
    assert "prov_response_id" not in metadata  # Chroma refuses None values
    assert example_from_record("a", "in", metadata) == example


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 51}, "k"),
        ({"query": "x", "k": "5"}, "k"),
        ({"query": "x", "filters": {"colour": "red"}}, "filters"),
        ({"query": "x", "mmr_lambda": 2}, "mmr_lambda"),
        ({"query": "x", "top": 3}, "top"),
    ],
)
def test_search_request_names_the_bad_field(body: dict, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SearchRequest.model_validate(body)
    assert [error["loc"][0] for error in raised.value.errors()] == [field]
