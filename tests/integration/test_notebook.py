"""The walkthrough notebook runs top to bottom against the real stack."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT, StackInfo

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.mark.timeout(1800)  # converts SmolLM2, trains a few DPO steps and drafts, cell by cell
def test_walkthrough_notebook_executes(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits them: the notebook talks to this stack
    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / "walkthrough.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(PROJECT_ROOT)}}
    ).execute()

    last = notebook.cells[-1]["outputs"]
    summary = json.loads("".join(output.get("text", "") for output in last).strip().splitlines()[-1])
    assert summary["run_id"]
    assert any(key.endswith("rewards/accuracies") for key in summary["metrics"])
    assert any(key.endswith("rewards/margins") for key in summary["metrics"])
    assert summary["decided_by"] in {login.username for login in stack.annotators}
    assert summary["retrieved"] >= 1 and summary["pairs"] >= 20
    assert (stack.home / "walkthrough-rewards.png").stat().st_size > 1000
