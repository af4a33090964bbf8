"""`annotation.feedback.from_argilla_response`: the one parser of Argilla's response JSON. A webhook event
(record and user nested in the response) and a page of the records endpoint (responses nested in the
record, with `user_id`) must give the same SubmittedResponse."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from annotation.feedback import SubmittedResponse, from_argilla_response, judge

RECORD = {
    "id": "6a1f0c5e-0000-4000-8000-000000000001",
    "external_id": "ticket-17",
    "fields": {"prompt": "Summarize the visit.", "draft": "Knee pain.", "context": ""},
    "metadata": {"task": "clinical_note", "priority": 0.7},
}
RESPONSE = {
    "id": "6a1f0c5e-0000-4000-8000-0000000000aa",
    "values": {"verdict": {"value": "edit"}, "corrected": {"value": "Knee pain; ask which painkiller."}},
    "status": "submitted",
    "updated_at": "2025-03-04T09:00:00.123456",
}
USER = {"id": "6a1f0c5e-0000-4000-8000-0000000000bb", "username": "alice"}


def test_webhook_and_records_endpoint_shapes_parse_alike() -> None:
    webhook = {**RESPONSE, "record": {**RECORD, "dataset": {"name": "corrections"}}, "user": USER}
    from_webhook = from_argilla_response(
        webhook, webhook["record"], webhook["record"]["dataset"]["name"], webhook["user"]["username"]
    )
    listed = {**RECORD, "responses": [{**RESPONSE, "user_id": USER["id"]}]}
    from_records = from_argilla_response(listed["responses"][0], listed, "corrections", "alice")

    expected = SubmittedResponse(
        dataset="corrections",
        record_id=RECORD["id"],
        external_id="ticket-17",
        fields=RECORD["fields"],
        metadata=RECORD["metadata"],
        response_id=RESPONSE["id"],
        user_id=USER["id"],
        username="alice",
        status="submitted",
        values={"verdict": "edit", "corrected": "Knee pain; ask which painkiller."},
        updated_at=datetime(2025, 3, 4, 9, 0, 0, 123456, tzinfo=UTC),  # Argilla's naive UTC, made explicit
    )
    assert from_webhook == expected
    assert from_records == expected
    assert judge(from_records).decision["verdict"] == "edit"


def test_missing_values_metadata_and_time_are_empty_not_errors() -> None:
    response = {"id": "r", "status": "draft", "user_id": "u"}
    record = {"id": "rec", "fields": {"prompt": "p", "count": 3}}
    parsed = from_argilla_response(response, record, "corrections", None)
    assert parsed.values == {} and parsed.metadata == {} and parsed.updated_at is None
    assert parsed.external_id is None and parsed.username is None
    assert parsed.fields == {"prompt": "p", "count": "3"}  # non-text fields as text


def test_a_response_without_any_user_is_refused() -> None:
    with pytest.raises(KeyError):
        from_argilla_response({"id": "r", "status": "submitted"}, RECORD, "corrections", None)
