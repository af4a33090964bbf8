"""Helpers for integration tests."""

from __future__ import annotations

from functools import cache
from typing import Any

from pipelines.demo.simulated_annotators import SimulatedAnnotators
from pipelines.stack.secrets_store import Login


@cache
def _annotator(api_url: str, api_key: str) -> SimulatedAnnotators:
    return SimulatedAnnotators(api_url, [Login(username="user", password="-", api_key=api_key)])


def answer(
    api_url: str, api_key: str, record_id: str, values: dict[str, Any], status: str = "submitted"
) -> None:
    """Submit a response as the user owning `api_key`, the way the Argilla UI does."""
    _annotator(api_url, api_key).answer("user", record_id, values, status)
