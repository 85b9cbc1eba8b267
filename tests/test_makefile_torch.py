"""The Makefile's .venv follows TORCH: a changed TORCH reinstalls torch, an unchanged one does nothing (issue 17)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CUDA = "torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_a_changed_torch_reinstalls_torch(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "log"
    fake = venv / "bin" / "python"  # records what make asks of the venv's python instead of installing
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(0o755)

    def make(*args: str) -> list[str]:
        log.write_text("")
        subprocess.run(["make", "-s", "venv", f"VENV={venv}", *args], cwd=ROOT, check=True, capture_output=True)
        return [line for line in log.read_text().splitlines() if "pip install" in line and "torch" in line]

    first = make()
    assert first and all(line.endswith("torch==2.13.0") for line in first)
    assert make() == []                                    # unchanged: nothing reinstalled
    cuda = make(f"TORCH={CUDA}")
    assert cuda and "--force-reinstall" in cuda[0] and all(CUDA in line for line in cuda)
    assert make(f"TORCH={CUDA}") == []
    assert (venv / ".torch").read_text().strip() == CUDA
