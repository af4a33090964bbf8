"""`tacit up` on a new stack creates the Argilla workspace without the SDK's "Workspace with name ... not
found" UserWarning (the lookup reads the workspace list instead of `client.workspaces(name)`)."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import argilla as rg
import pytest

from pipelines.stack.argilla_setup import ensure_workspace


class FakeWorkspace:
    created: list[str] = []

    def __init__(self, name: str, client: object = None) -> None:
        self.name, self.users, self.added = name, [], []

    def create(self) -> FakeWorkspace:
        FakeWorkspace.created.append(self.name)
        return self

    def add_user(self, username: str) -> None:
        self.added.append(username)
        self.users.append(SimpleNamespace(username=username))


class Client:
    def __init__(self, workspaces: list[FakeWorkspace]) -> None:
        self.workspaces = workspaces  # the SDK's `client.workspaces` iterates over every workspace

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"unexpected SDK call: client.{name}")


def test_a_new_stack_gets_its_workspace_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rg, "Workspace", FakeWorkspace)
    FakeWorkspace.created = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensure_workspace(Client([FakeWorkspace("other")]), "tacit", ["owner", "alice"])
    assert FakeWorkspace.created == ["tacit"]


def test_an_existing_workspace_only_gains_missing_members() -> None:
    existing = FakeWorkspace("tacit")
    existing.users = [SimpleNamespace(username="owner")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ensure_workspace(Client([existing]), "tacit", ["owner", "alice"])
    assert existing.added == ["alice"]
