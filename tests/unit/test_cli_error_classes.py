"""The CLI maps the errors it prints as one line to exit codes by class (pipelines/cli/errors.py), not by a
dotted name: a class that is renamed or moved fails the import here and in `known_errors()`, and a class
dropped from the map (its message would become a traceback) fails its case here. Until issue 26 the map
named `pipelines.selection.select.SelectionError`, a class that lived in `selection_pool` and only resolved
because `selection` happened to import it."""

from __future__ import annotations

import pytest
from tacit_client.errors import TacitError

from pipelines.adapters.argilla_gateway import ArgillaUnavailable
from pipelines.cli.errors import known_error, known_errors
from pipelines.config import ConfigError
from pipelines.demo.data.models import DemoDataError
from pipelines.errors import BadInput, KnownError, MissingPrerequisite
from pipelines.ledger.errors import LedgerError
from pipelines.routing.loader import RoutingRulesError
from pipelines.selection.pool import SelectionError
from pipelines.stack.errors import StackError
from pipelines.stack.secrets_store import SecretsError
from pipelines.stack.work_lock import WorkLockUnavailable
from retrieval.embedder import EmbedderError
from retrieval.store_errors import StoreMismatch, StoreUnavailable
from training.errors import RecipeError, TrainingError

# every error a command may end with in one line, and its exit code: 2 bad input, 1 missing or down
EXIT_CODES: dict[type[BaseException], int] = {
    BadInput: 2,
    ConfigError: 2,
    SelectionError: 2,
    DemoDataError: 2,
    RoutingRulesError: 2,
    RecipeError: 2,
    MissingPrerequisite: 1,
    ArgillaUnavailable: 1,
    WorkLockUnavailable: 1,
    TrainingError: 1,
    StackError: 1,
    SecretsError: 1,
    LedgerError: 1,
    TacitError: 1,
    StoreUnavailable: 1,
    StoreMismatch: 1,
    EmbedderError: 1,
}


@pytest.mark.parametrize("kind", list(EXIT_CODES), ids=lambda kind: kind.__name__)
def test_each_known_error_is_one_line_with_its_exit_code(kind: type[BaseException]) -> None:
    message = f"{kind.__name__}: what is wrong, and the command that fixes it"
    assert known_error(kind(message)) == (message, EXIT_CODES[kind])


def test_the_map_holds_only_classes_this_test_checks() -> None:
    """A class added to the map gets its expected code here too (KnownError: each subclass says its own)."""
    mapped = {kind for kind, _ in known_errors()}
    assert mapped - {KnownError} <= set(EXIT_CODES)
    assert all(issubclass(kind, BaseException) for kind in mapped)


def test_a_subclass_comes_before_its_base() -> None:
    """First match wins: a subclass listed after its base would take the base's code."""
    order = [kind for kind, _ in known_errors()]
    for index, kind in enumerate(order):
        assert not any(issubclass(later, kind) and later is not kind for later in order[index + 1 :]), kind


def test_an_error_of_argillas_sdk_is_one_line() -> None:
    from argilla._exceptions._api import ForbiddenError

    message, code = known_error(ForbiddenError("no access to workspace tacit"))
    assert code == 1 and message.startswith("Argilla refused the request: ") and "workspace tacit" in message


def test_a_bug_is_not_a_known_error() -> None:
    assert known_error(ZeroDivisionError("a bug")) is None
