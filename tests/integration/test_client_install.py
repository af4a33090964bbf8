"""`pip install ./clients/python` in a bare virtualenv: tacit-client installs and imports with httpx and
pydantic only, and none of the server's weight (torch, Chroma, Argilla, MLflow, tacit itself) comes along.
uv installs it (from its cache, which `make setup` filled); the venv has nothing else in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
# The client's dependency closure (httpx's and pydantic's own dependencies included).
EXPECTED = {
    "tacit-client",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "idna",
    "certifi",
    "sniffio",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
}
PROBE = """
import importlib.metadata, importlib.util, json, sysconfig
import tacit_client
from tacit_client import TacitClient
print(json.dumps({
    "module": tacit_client.__file__,
    "absent": [name for name in ("torch", "chromadb", "argilla", "mlflow", "pipelines", "langgraph")
               if importlib.util.find_spec(name) is None],
    "distributions": sorted(
        d.metadata["Name"].lower().replace("_", "-") for d in importlib.metadata.distributions()
    ),
    "site_packages": sysconfig.get_paths()["purelib"],
}))
"""


@pytest.mark.slow
def test_the_client_installs_in_a_bare_venv_without_torch(tmp_path: Path) -> None:
    assert UV.exists(), f"uv is missing from {UV.parent}: run `make setup`"
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, venv], check=True, timeout=120)
    installed = subprocess.run(
        [UV, "pip", "install", "-q", "--python", python, ROOT / "clients" / "python"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    probe = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout)
    assert Path(found["module"]).is_relative_to(venv)  # the installed copy, not this checkout's
    assert found["absent"] == ["torch", "chromadb", "argilla", "mlflow", "pipelines", "langgraph"]
    assert set(found["distributions"]) <= EXPECTED, set(found["distributions"]) - EXPECTED
    size_mb = sum(f.stat().st_size for f in Path(found["site_packages"]).rglob("*") if f.is_file()) / 2**20
    print(f"bare venv site-packages with tacit-client: {size_mb:.1f} MiB")
    assert size_mb < 40  # httpx + pydantic (pydantic-core is most of it); tacit with torch is gigabytes
