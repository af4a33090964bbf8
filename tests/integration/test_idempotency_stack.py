"""Concurrent duplicate POSTs with one `Idempotency-Key` against the running service (the session's
embedded stack, real Argilla): one ticket in the ledger and one record in Argilla, every answer naming it."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import StackInfo

pytestmark = pytest.mark.stack

DUPLICATES = 8


def records_mentioning(stack: StackInfo, dataset: str, marker: str) -> int:
    """How many records of the Argilla dataset hold `marker` anywhere (the owner sees every record)."""
    with httpx.Client(base_url=stack.argilla_url, headers={"X-Argilla-Api-Key": stack.owner.api_key}, timeout=30) as http:
        listed = http.get("/api/v1/me/datasets").raise_for_status().json()["items"]
        [found] = [item for item in listed if item["name"] == dataset]
        count, offset = 0, 0
        while True:  # the session's other tests fill the same dataset: read every page
            page = http.get(f"/api/v1/datasets/{found['id']}/records", params={"offset": offset, "limit": 500})
            items = page.raise_for_status().json()["items"]
            count += sum(marker in json.dumps(item) for item in items)
            if len(items) < 500:
                return count
            offset += 500


def test_concurrent_duplicates_make_one_ticket_and_one_argilla_record(stack: StackInfo) -> None:
    marker = uuid.uuid4().hex
    task = f"idempotency_{marker[:8]}"
    body = {"task": task, "prompt": f"Which reply is kinder? ({marker})", "response_a": "Sorry.", "response_b": "No."}
    headers = {"Authorization": f"Bearer {stack.api_key}", "Idempotency-Key": f"retry-{marker}"}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:
            return http.post("/v1/preferences", json=body, headers=headers)

    with ThreadPoolExecutor(DUPLICATES) as pool:
        answers = list(pool.map(post, range(DUPLICATES)))
    assert {answer.status_code for answer in answers} <= {201, 202}, [answer.text for answer in answers]
    [ticket_id] = {answer.json()["id"] for answer in answers}

    with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.api_key}"}) as http:
        listed = http.get("/v1/tickets", params={"limit": 1000}).raise_for_status().json()
        assert [ticket["id"] for ticket in listed if ticket["task"] == task] == [ticket_id]
        deadline = time.monotonic() + 30
        while (ticket := http.get(f"/v1/tickets/{ticket_id}").json())["status"] != "open":
            assert time.monotonic() < deadline, f"not delivered to Argilla: {ticket}"
            time.sleep(0.5)
    assert records_mentioning(stack, ticket["argilla_dataset"], marker) == 1
