"""`train_dpo` refuses bad input before any work: too few pairs (or none left after the recipe's filters), an
unreachable MLflow, a recipe with wrong keys. Each refusal names what is wrong and leaves no MLflow run and
no snapshot behind; none of them loads the model (the `slow` guard in tests/conftest.py would fail it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from training.errors import NotEnoughPairsError, RecipeError, TrackingUnavailableError
from training.recipe import load_recipe
from training.sample_pairs import sample_pairs

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "train_dpo.yaml"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow SQLite store for the module (creating one runs MLflow's migrations: seconds)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    MlflowClient(uri).search_experiments()
    return uri


def train_dpo(*args: object) -> None:
    # transformers, trl and mlflow are imported where a test runs, not at collection (seconds per xdist worker)
    from training.dpo import train_dpo

    train_dpo(*args)


def runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tacit-dpo")
    return [] if experiment is None else client.search_runs([experiment.experiment_id])


@pytest.mark.parametrize(
    ("pairs", "overrides", "message"),
    [
        (5, {}, r"only 5 preference pairs after filters .*5 in the ledger.*data.min_pairs=20"),
        (
            40,
            {"data": {"tasks": ["no-such-task"]}},
            r"40 pairs in the ledger, none left after the recipe's filters",
        ),
        (40, {"data": {"min_pairs": 41}}, r"only 40 preference pairs .*data.min_pairs=41"),
    ],
    ids=["too few", "filtered out", "below the recipe's minimum"],
)
def test_too_few_pairs_are_refused_without_a_run(
    tmp_path: Path, tracking_uri: str, pairs: int, overrides: dict, message: str
) -> None:
    with pytest.raises(NotEnoughPairsError, match=message):
        train_dpo(load_recipe(RECIPE, overrides), sample_pairs(pairs), tmp_path / "home", tracking_uri)
    assert runs(tracking_uri) == []
    assert not (tmp_path / "home" / "snapshots").exists()


def test_unreachable_mlflow_fails_before_training(tmp_path: Path) -> None:
    port = closed_port()
    with pytest.raises(TrackingUnavailableError, match=f"127.0.0.1:{port} is not reachable"):
        train_dpo(RECIPE, sample_pairs(40), tmp_path, f"http://127.0.0.1:{port}")
    assert not (tmp_path / "snapshots").exists()


def test_bad_recipe_file_names_the_keys(tmp_path: Path, tracking_uri: str) -> None:
    bad = tmp_path / "recipe.yaml"
    bad.write_text(RECIPE.read_text().replace("  beta: 0.1", "  betta: 0.1"))
    with pytest.raises(RecipeError, match="unknown key training.betta.*missing key training.beta"):
        train_dpo(bad, sample_pairs(40), tmp_path, tracking_uri)
    assert runs(tracking_uri) == []
    assert not (tmp_path / "snapshots").exists()
