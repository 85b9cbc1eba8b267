"""Binder's configuration: binder/environment.yml pins exactly pyproject's packages at the manifest's
versions, and binder/postBuild installs the package without breaking Binder's environment cache."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER_ENV = ROOT / "binder" / "environment.yml"
POSTBUILD = ROOT / "binder" / "postBuild"
MANIFEST = ROOT / "figures" / "manifest.json"


def _load_env_test():
    """tests/test_environment.py's readers of pyproject (one rule for both environment files)."""
    spec = importlib.util.spec_from_file_location("_env_rules", ROOT / "tests" / "test_environment.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_env = _load_env_test()
PIP_NAME = {conda: pip for pip, conda in _env.CONDA_NAME.items()}  # pytorch -> torch


def _norm(name: str) -> str:
    """PEP 503 normal form, after mapping conda-forge spellings to PyPI's."""
    name = PIP_NAME.get(name.lower(), name.lower())
    return re.sub(r"[-_.]+", "-", name)


def binder_pins() -> dict[str, dict]:
    """``{normal name: {"spec": line, "version": str | None, "exact": bool, "via": "conda" | "pip"}}``.

    Reads the ``dependencies:`` list (conda, two-space items) and its ``- pip:`` sub-list (deeper items);
    option lines such as ``--extra-index-url`` are not packages.
    """
    text = BINDER_ENV.read_text()
    deps = text.split("dependencies:", 1)[1]
    pins: dict[str, dict] = {}
    in_pip = False
    for line in deps.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\s*)-\s+(.+?)\s*(#.*)?$", line)
        if not m:
            continue
        indent, item = len(m.group(1)), m.group(2)
        if item == "pip:":
            in_pip = True
            continue
        if indent <= 2:
            in_pip = False
        if in_pip and item.startswith("-"):
            continue  # a pip option (--extra-index-url ...) or an editable install, checked elsewhere
        if in_pip:
            pm = re.match(r"^([A-Za-z0-9_.\-]+)\s*==\s*([A-Za-z0-9_.+!\-]+)$", item)
            name = re.split(r"[<>=!~ ;\[]", item, maxsplit=1)[0]
            pins[_norm(name)] = {"spec": item, "version": pm.group(2) if pm else None, "exact": bool(pm),
                                 "via": "pip"}
        else:
            # conda: name=version or name==version, optionally =build; no wildcards, ranges or bare names
            cm = re.match(r"^([A-Za-z0-9_.\-]+)\s*==?\s*([0-9][A-Za-z0-9_.+!]*)(=[A-Za-z0-9_.*]+)?$", item)
            name = re.split(r"[<>=!~ ;\[]", item, maxsplit=1)[0]
            pins[_norm(name)] = {"spec": item, "version": cm.group(2) if cm else None, "exact": bool(cm),
                                 "via": "conda"}
    return pins


def test_binder_names_the_same_packages_as_pyproject():
    py = {_norm(n) for n in _env._pyproject_packages()}
    binder = set(binder_pins()) - {"python", "pip"}
    assert binder == py, (f"only in pyproject: {sorted(py - binder)}; "
                          f"only in binder/environment.yml: {sorted(binder - py)}")


def test_binder_pins_are_exact():
    pins = binder_pins()
    assert "python" in pins, "binder/environment.yml must pin python"
    loose = [p["spec"] for p in pins.values() if not p["exact"]]
    assert not loose, f"pin these exactly (== for pip, = for conda): {loose}"


def test_binder_pins_match_the_manifest():
    """The versions that made the committed figures are the versions Binder installs."""
    if not MANIFEST.is_file():
        pytest.skip("no figures/manifest.json")
    recorded = json.loads(MANIFEST.read_text()).get("versions", {})
    pins = binder_pins()
    wrong = []
    for name, version in recorded.items():
        if version is None:
            continue
        pin = pins.get(_norm(name))
        if pin is None:
            wrong.append(f"{name}: recorded {version}, not in binder/environment.yml")
            continue
        have = pin["version"]
        # conda versions carry no pip local tag (2.13.0+cpu is conda's 2.13.0 with a cpu build string)
        ok = have == version or (pin["via"] == "conda" and have == version.split("+")[0])
        if not ok:
            wrong.append(f"{name}: manifest {version}, binder {pin['spec']}")
    assert not wrong, "binder/environment.yml disagrees with figures/manifest.json:\n" + "\n".join(wrong)


def test_binder_torch_is_the_cpu_build():
    torch = binder_pins()["torch"]
    text = BINDER_ENV.read_text()
    if torch["via"] == "pip":
        cpu_index = re.search(r"^\s*-\s+--(extra-)?index-url\s+\S+/cpu\b", text, re.M)
        assert "+cpu" in torch["version"] or cpu_index, (
            "pip would install PyPI's CUDA torch wheel; pin +cpu from PyTorch's CPU index")
    else:
        assert "cpu" in torch["spec"], "pin conda-forge's CPU build, e.g. pytorch=2.13.0=cpu_*"


def test_binder_environment_is_cacheable_and_postbuild_installs_the_package():
    env = BINDER_ENV.read_text()
    # an editable/local install in environment.yml makes repo2docker copy the repository before building it
    assert not re.search(r"^\s*-\s+(-e\s+)?\.(/)?\s*$", env, re.M), "install the package in binder/postBuild"
    assert POSTBUILD.is_file(), "binder/postBuild is missing"
    assert os.access(POSTBUILD, os.X_OK), "binder/postBuild must be executable (chmod +x)"
    script = POSTBUILD.read_text()
    assert script.startswith("#!"), "binder/postBuild needs a shebang line"
    commands = [ln for ln in script.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    install = [ln for ln in commands if "pip install" in ln]
    assert install and all("--no-deps" in ln for ln in install), "postBuild must install with --no-deps"
    assert any(re.search(r"-e\s+\.(\s|$)", ln) for ln in install), "postBuild must install the package (-e .)"
