"""A thin Python client for the tacit API (any language can use the HTTP API directly).

from pipelines.api.client import TacitClient
tacit = TacitClient("http://127.0.0.1:8000", api_key)
ticket = tacit.review(task="clinical-notes", prompt=..., draft=...)
decided = tacit.ticket(ticket["id"], wait=30)
block = tacit.search_examples("chest pain, troponin pending", k=3)["prompt_block"]
"""

from __future__ import annotations

from typing import Any

import httpx


class TacitError(RuntimeError):
    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(f"tacit API answered {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class TacitClient:
    def __init__(self, base_url: str, api_key: str, timeout_s: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout_s
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TacitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, path, timeout=timeout or self._http.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise TacitError(response.status_code, detail)
        return response.json()

    @staticmethod
    def _body(**fields: Any) -> dict[str, Any]:
        return {key: value for key, value in fields.items() if value is not None}

    def review(
        self,
        task: str,
        prompt: str,
        draft: str | None = None,
        context: Any = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a draft for review-and-correct (omit `draft` to let the champion model write it)."""
        body = self._body(task=task, prompt=prompt, draft=draft, context=context, metadata=metadata)
        return self._call("POST", "/v1/reviews", json=body)

    def approval(
        self, task: str, context: Any, action: dict[str, Any], metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Ask a person to approve, reject or modify a proposed action."""
        return self._call(
            "POST",
            "/v1/approvals",
            json=self._body(task=task, context=context, action=action, metadata=metadata),
        )

    def escalation(
        self,
        task: str,
        conversation: list[dict[str, str]],
        signals: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Hand a conversation to a person, with the rules that fired and a summary."""
        body = self._body(task=task, conversation=conversation, signals=signals, metadata=metadata)
        return self._call("POST", "/v1/escalations", json=body)

    def preference(
        self, task: str, prompt: str, response_a: str, response_b: str, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = self._body(
            task=task, prompt=prompt, response_a=response_a, response_b=response_b, metadata=metadata
        )
        return self._call("POST", "/v1/preferences", json=body)

    def ticket(self, ticket_id: str, wait: float = 0) -> dict[str, Any]:
        """The ticket and, once decided, the human decision; `wait` long-polls up to that many seconds."""
        return self._call("GET", f"/v1/tickets/{ticket_id}", params={"wait": wait}, timeout=wait + 30)

    def search_examples(
        self, query: str, k: int = 5, filters: dict[str, Any] | None = None, mmr: bool = False
    ) -> dict[str, Any]:
        """Few-shot examples for `query` and a ready `prompt_block`."""
        return self._call(
            "POST", "/v1/examples/search", json={"query": query, "k": k, "filters": filters or {}, "mmr": mmr}
        )

    def route(
        self, task: str, input: str, output: str | None = None, signals: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Ask the routing rules whether this interaction needs a human."""
        return self._call(
            "POST", "/v1/route", json=self._body(task=task, input=input, output=output, signals=signals or {})
        )

    def sync(self) -> dict[str, Any]:
        """Deliver waiting tickets and ingest responses a webhook may have missed."""
        return self._call("POST", "/v1/sync", timeout=600)

    def reindex(self) -> dict[str, Any]:
        """Rebuild the example collection from the ledger."""
        return self._call("POST", "/v1/reindex", timeout=600)
