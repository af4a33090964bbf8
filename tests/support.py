"""Helpers for integration tests: answering Argilla records as a real annotator user."""

from __future__ import annotations

from functools import cache
from typing import Any
from uuid import UUID

import argilla as rg
from argilla._models import UserResponseModel


@cache
def argilla_as(api_url: str, api_key: str) -> rg.Argilla:
    return rg.Argilla(api_url=api_url, api_key=api_key)


def answer(
    api_url: str, api_key: str, record_id: str, values: dict[str, Any], status: str = "submitted"
) -> None:
    """Submit a response the way the Argilla UI does (POST /api/v1/records/{id}/responses), as that user."""
    client = argilla_as(api_url, api_key)
    client.api.records.create_record_response(
        UUID(record_id),
        UserResponseModel(
            values={name: {"value": value} for name, value in values.items()},
            status=status,
            user_id=client.me.id,
        ),
    )
