"""The dependency direction DESIGN.md fixes, read off the source: `annotation`, `retrieval` and `training`
never import each other, nor `pipelines`, nor a web framework (HTTP is `pipelines/api/`'s); nothing below the
HTTP API imports it (or the demo, or the CLI): not the use-cases (`pipelines/loop`), the composition root
(`pipelines/runtime.py`), the adapters, the bodies, reviews, the model, selection, the ledger, routing, the
stack, export or evaluation; the rooms below the use-cases (adapters, bodies, review, the ledger, routing,
the stack) never import them; the demo is an edge beside the CLI and imports neither it, the API nor the
bench; tacit-client imports none of the server's packages; the embedded Argilla engine imports only what
`.venv-argilla` has."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARGILLA_PYTHON = ROOT / ".venv-argilla" / "bin" / "python"
# the libraries serve no HTTP: routers and apps are pipelines/api's (retrieval's search router included)
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")
# the edges: nothing below them imports them
EDGES = ("pipelines.api", "pipelines.demo", "pipelines.cli", "bench")
# the rooms below the use-cases (adapters, bodies, reviews) import none of these
ABOVE_DOMAIN = ("pipelines.loop", "pipelines.runtime", "pipelines.model", "pipelines.selection", *EDGES)


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def offending(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in ([ROOT / folder] if folder.endswith(".py") else sorted((ROOT / folder).rglob("*.py")))
        for module in sorted(imported_modules(path))
        if any(module == name or module.startswith(f"{name}.") for name in forbidden)
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("annotation", ("retrieval", "training", "pipelines")),
        ("retrieval", ("annotation", "training", "pipelines", *WEB_FRAMEWORKS)),
        ("training", ("annotation", "retrieval", "pipelines", *WEB_FRAMEWORKS)),
        ("pipelines/loop", ("pipelines.api", "pipelines.demo", "pipelines.cli", "bench")),
        ("pipelines/runtime.py", EDGES),
        ("pipelines/adapters", ABOVE_DOMAIN),
        ("pipelines/bodies", ABOVE_DOMAIN),
        ("pipelines/review", ABOVE_DOMAIN),
        ("pipelines/model", ("pipelines.loop", "pipelines.selection", *EDGES)),
        ("pipelines/selection", EDGES),
        ("pipelines/ledger", ("pipelines.loop", "pipelines.api", "pipelines.demo", "pipelines.cli")),
        ("pipelines/routing", ("pipelines.loop", "pipelines.api", "pipelines.demo", "pipelines.cli")),
        ("pipelines/stack", ("pipelines.loop", "pipelines.api", "pipelines.demo", "pipelines.cli")),
        ("pipelines/export", ("pipelines.api", "pipelines.demo", "pipelines.cli", "bench")),
        ("pipelines/evaluation", ("pipelines.api", "pipelines.demo", "pipelines.cli", "bench")),
        ("pipelines/demo", ("pipelines.api", "pipelines.cli", "bench")),
        # tacit-client ships alone (httpx + pydantic): it never imports the server's packages
        ("clients/python", ("annotation", "retrieval", "training", "pipelines", "bench")),
        # tacit-argilla (the embedded Argilla server) ships alone into .venv-argilla, where none of them exist
        ("annotation/embedded_argilla", ("annotation", "retrieval", "training", "pipelines", "bench")),
    ],
)
def test_no_import_goes_the_wrong_way(folder: str, forbidden: tuple[str, ...]) -> None:
    assert offending(folder, forbidden) == []


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pipelines.api.app import create_app\n    import bench.route\n")
    assert {"pipelines.api.app", "pipelines.api.app.create_app", "bench.route"} <= imported_modules(module)


@pytest.mark.slow  # imports argilla-server in its own venv: ~13 s on 2 cores
def test_embedded_argilla_engine_imports_in_the_argilla_venv_only_with_its_packages() -> None:
    """`.venv-argilla` has argilla-server, the tacit-argilla distribution, and none of tacit's main
    dependencies (torch, chromadb, ...) or packages."""
    assert ARGILLA_PYTHON.exists(), "run `make setup`: it builds .venv-argilla"
    modules = sorted(
        f"tacit_argilla.{path.stem}"
        for path in (ROOT / "annotation" / "embedded_argilla" / "tacit_argilla").glob("*.py")
        if path.stem not in ("__init__", "__main__")
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import importlib.metadata; importlib.metadata.version('tacit-argilla')\n"  # installed by make setup
        "leaked = sorted({'torch', 'chromadb', 'annotation', 'pipelines', 'retrieval', 'training', 'bench'}"
        " & set(sys.modules))\n"
        "assert not leaked, leaked\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [str(ARGILLA_PYTHON), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    assert sys.executable != str(ARGILLA_PYTHON)
