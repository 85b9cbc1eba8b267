"""The environment files agree, and the Jupyter kernel the notebooks name exists."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# conda-forge spells a few packages differently from PyPI
CONDA_NAME = {"torch": "pytorch"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ ;\[]", spec.strip(), maxsplit=1)[0].lower()


def _pyproject_packages() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(meta["dependencies"]) + list(meta["optional-dependencies"]["test"])
    return {CONDA_NAME.get(_name(s), _name(s)) for s in specs}


def _conda_packages() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    deps = text.split("dependencies:", 1)[1].split("- pip:", 1)[0]
    for line in deps.splitlines():
        m = re.match(r"^\s{2}-\s+([A-Za-z0-9_.\-]+)", line)
        if m and m.group(1) not in {"python", "pip"}:
            names.add(_name(m.group(1)))
    return names


def test_environment_yml_matches_pyproject():
    py, conda = _pyproject_packages(), _conda_packages()
    assert py == conda, f"only in pyproject: {sorted(py - conda)}; only in environment.yml: {sorted(conda - py)}"


def test_python3_kernel_exists():
    kernelspec = pytest.importorskip("jupyter_client.kernelspec")
    specs = kernelspec.find_kernel_specs()
    assert "python3" in specs, f"no 'python3' kernel; found {sorted(specs)} (run: make venv)"
