"""The marker rules of tests/conftest.py, run on throwaway test files with pytester: a test that uses the
`stack` fixture without `@pytest.mark.stack` (or carries the marker without the fixture) stops the
collection naming it, and a test that loads a base model without `@pytest.mark.slow` fails naming it."""

from __future__ import annotations

import pytest

import training.base_model
from training.base_model import resolve_base_model  # imported before any test patched it

CONFTEST = """
import pytest

from tests.conftest import _base_model_loads_need_the_slow_marker, pytest_collection_modifyitems  # noqa: F401


@pytest.fixture(scope="session")
def stack():
    return "a stand-in for the embedded stack"


@pytest.fixture
def seeded(stack):
    return stack
"""
INI = """
[pytest]
markers =
    stack: uses the stack
    slow: loads the LLM
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    return pytester


def test_true_markers_collect_and_run(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_true="""
        import pytest

        @pytest.mark.stack
        def test_direct(stack):
            assert stack

        @pytest.mark.stack
        def test_through_a_fixture(seeded):
            assert seeded

        def test_no_stack():
            pass
        """
    )
    project.runpytest("-q", str(project.path)).assert_outcomes(passed=3)


def test_stack_fixture_without_the_marker_stops_the_collection(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_untrue="""
        import pytest

        def test_direct(stack):
            pass

        def test_through_a_fixture(seeded):
            pass

        @pytest.mark.stack
        def test_marked_without_the_stack():
            pass
        """
    )
    result = project.runpytest("-q", str(project.path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*markers that are not true:*",
            "*test_untrue.py::test_direct uses the `stack` fixture but is not marked @pytest.mark.stack*",
            "*test_untrue.py::test_through_a_fixture uses the `stack` fixture but is not marked*",
            "*test_untrue.py::test_marked_without_the_stack is marked @pytest.mark.stack but does not use*",
        ]
    )


def test_a_base_model_load_needs_the_slow_marker(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This test is not `slow` itself: put back the function its own guard replaced, so that the inner run
    # starts from the real one and sets its guards itself.
    monkeypatch.setattr(training.base_model, "resolve_base_model", resolve_base_model)
    project.makepyfile(
        test_models="""
        import pytest

        from training.base_model import load_base
        from training.errors import BaseModelError

        def test_unmarked(tmp_path):
            load_base(str(tmp_path / "no-model-here"), tmp_path)

        @pytest.mark.slow
        def test_marked(tmp_path):
            # past the guard: the folder itself is what is missing
            with pytest.raises(BaseModelError, match="cannot load base model"):
                load_base(str(tmp_path / "no-model-here"), tmp_path)
        """
    )
    result = project.runpytest("-q", str(project.path))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_models.py::test_unmarked loads the base model '*no-model-here' but is not marked @pytest.mark.slow*"
        ]
    )
