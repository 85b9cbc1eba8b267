"""Shared pytest configuration: markers, and the smoke-scale run of every numbered notebook."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))


def pytest_configure(config):
    # notebooks: the smoke-scale papermill runs (tests/test_notebooks.py); deselect with -m "not notebooks"
    config.addinivalue_line("markers", "notebooks: smoke-scale papermill runs of the numbered notebooks")
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", ... under pytest -n (make test)
    if worker:
        # one core and one thread per worker: two workers each running torch with every core's threads (and
        # their notebook kernels, which inherit both) oversubscribe a 2-core machine and run slower than one
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cores) > 1:
            os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})


# tests that share a session or module fixture run on one xdist worker (--dist loadgroup), so that fixture
# (the smoke run of every notebook, the workshop run) is computed once, not once per worker
_GROUP_OF_FIXTURE = {"smoke_run": "smoke", "workshop_run": "workshop"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups to route the items
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, group in _GROUP_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """Run every notebook at smoke scale in numeric order; return per-notebook (seconds, error) and paths.

    Returns a dict: ``out`` (figures folder), ``data`` (data root), ``executed`` (executed notebooks) and
    ``results`` (notebook stem -> (seconds, exception or None)). Shared by the notebook and book tests.
    """
    import papermill

    os.environ["CSI_PROGRESS"] = "terminal"  # as under make reproduce: a line per stage, not live bars
    base = tmp_path_factory.mktemp("nb_smoke")
    out_dir, data_root, executed = base / "figures", base / "data", base / "executed"
    executed.mkdir()
    results = {}
    for nb in NOTEBOOKS:
        t0 = time.perf_counter()
        err = None
        try:
            papermill.execute_notebook(
                str(nb), str(executed / nb.name), kernel_name="python3", cwd=str(NB_DIR), progress_bar=False,
                parameters={"scale": "smoke", "out_dir": str(out_dir), "data_root": str(data_root),
                            # 09 as make claim-check runs it (the full grid; SCALE=paper DEVICE=cuda on a GPU)
                            **({"grid": "full"} if nb.stem == "09_claim_check" else {})},
            )
        except Exception as exc:  # reported by the notebook's own test
            err = exc
        results[nb.stem] = (time.perf_counter() - t0, err)
    return {"out": out_dir, "data": data_root, "executed": executed, "results": results}
